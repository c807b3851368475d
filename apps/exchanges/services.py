"""Writes for exchanges, symbols and API connections."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record, diff_fields
from apps.core.errors import ApplicationError, ValidationError
from apps.exchanges.crypto import decrypt_credentials, encrypt_credentials
from apps.exchanges.domain.types import MarketInfo
from apps.exchanges.enums import ConnectionStatus, ExchangeStatus
from apps.exchanges.errors import ExchangeAuthenticationError, ExchangeErrorCode, ExchangeRateLimitedError, ExchangeUnavailableError
from apps.exchanges.gateways.base import Credentials, ExchangeGateway
from apps.exchanges.gateways.registry import gateway_for
from apps.exchanges.models import ApiConnection, Exchange, Symbol, symbol_slug
from apps.exchanges.selectors import api_connection_get

logger = logging.getLogger(__name__)
T = TypeVar("T")


def run_with_gateway(code: str, call: Callable[[ExchangeGateway], Awaitable[T]], credentials: Credentials | None = None) -> T:
    """Open a gateway, run one async call with it, close it; from synchronous code."""

    async def scenario() -> T:
        gateway = gateway_for(code, credentials)
        try:
            return await call(gateway)
        finally:
            await gateway.close()

    return async_to_sync(scenario)()


# Exchange status --------------------------------------------------------------------


def exchange_set_status(*, exchange: Exchange, status: str, detail: str = "") -> Exchange:
    """Record whether the venue answers; only a change is written and audited."""
    detail = detail[:255]
    if exchange.status == status and exchange.status_detail == detail:
        return exchange
    with transaction.atomic():
        locked = Exchange.objects.select_for_update().get(pk=exchange.pk)
        changes = diff_fields({"status": locked.status, "status_detail": locked.status_detail}, {"status": status, "status_detail": detail})
        if not changes:
            return locked
        locked.status, locked.status_detail, locked.status_changed_at = status, detail, timezone.now()
        locked.save(update_fields=["status", "status_detail", "status_changed_at", "updated_at"])
        audit_record(actor=None, action="exchange.status_changed", summary=f"{locked.code} is {status}", target=locked, changes=changes)
    exchange.status, exchange.status_detail = status, detail
    return locked


def exchange_record_outcome(*, exchange: Exchange, error: Exception | None) -> None:
    """After a venue call: operational on success, degraded/down on temporary errors."""
    if error is None:
        exchange_set_status(exchange=exchange, status=ExchangeStatus.OPERATIONAL)
    elif isinstance(error, ExchangeRateLimitedError):
        exchange_set_status(exchange=exchange, status=ExchangeStatus.DEGRADED, detail=f"rate limited: {error.message}")
    elif isinstance(error, ExchangeUnavailableError):
        exchange_set_status(exchange=exchange, status=ExchangeStatus.DOWN, detail=error.message)


# Symbols ------------------------------------------------------------------------------


def _symbol_values(market: MarketInfo) -> dict[str, Any]:
    return {
        "venue_symbol": market.venue_symbol,
        "slug": symbol_slug(market.symbol),
        "base": market.base,
        "quote": market.quote,
        "market_type": str(market.market_type),
        "tick_size": market.tick_size,
        "lot_size": market.lot_size,
        "min_quantity": market.min_quantity,
        "min_notional": market.min_notional,
        "max_leverage": max(1, min(125, market.max_leverage)),
        "active": market.active,
    }


@transaction.atomic
def symbols_store(*, exchange: Exchange, markets: list[MarketInfo], actor: Any = None) -> dict[str, int]:
    """Create or update Symbol rows from the venue's markets; markets it no longer lists become inactive."""
    existing = {s.symbol: s for s in Symbol.objects.select_for_update().filter(exchange=exchange)}
    created = updated = 0
    seen = set()
    for market in markets:
        seen.add(market.symbol)
        values = _symbol_values(market)
        current = existing.get(market.symbol)
        if current is None:
            Symbol.objects.create(exchange=exchange, symbol=market.symbol, **values)
            created += 1
            continue
        if any(getattr(current, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(current, name, value)
            current.save()
            updated += 1
    deactivated = Symbol.objects.filter(exchange=exchange, active=True).exclude(symbol__in=seen).update(active=False)
    counts = {"created": created, "updated": updated, "deactivated": deactivated, "total": len(markets)}
    audit_record(
        actor=actor,
        action="symbols.synced",
        summary=f"{exchange.code}: {created} new, {updated} updated, {deactivated} inactive",
        target=exchange,
        changes={"counts": [None, counts]},
    )
    return counts


def symbols_sync(*, exchange: Exchange, actor: Any = None) -> dict[str, int]:
    """Load the venue's markets through its gateway into Symbol rows."""
    try:
        markets = run_with_gateway(exchange.code, lambda gateway: gateway.load_markets())
    except ApplicationError as exc:
        exchange_record_outcome(exchange=exchange, error=exc)
        raise
    exchange_record_outcome(exchange=exchange, error=None)
    return symbols_store(exchange=exchange, markets=markets, actor=actor)


@transaction.atomic
def symbol_set_watched(*, actor: Any, symbol: Symbol, watched: bool) -> Symbol:
    if symbol.watched != watched:
        symbol.watched = watched
        symbol.save(update_fields=["watched", "updated_at"])
        audit_record(
            actor=actor,
            action="symbol.watched_changed",
            summary=f"{symbol} {'watched' if watched else 'unwatched'}",
            target=symbol,
            changes={"watched": [not watched, watched]},
        )
    return symbol


# API connections ----------------------------------------------------------------------


def _key_hint(api_key: str) -> str:
    return f"…{api_key[-4:]}" if len(api_key) >= 8 else "…"


def _validate_credentials(exchange: Exchange, api_key: str, secret: str, passphrase: str) -> None:
    if exchange.is_simulated:
        raise ValidationError.for_field("exchange", "SIM needs no API connection: trade it with a paper account.")
    if not api_key.strip():
        raise ValidationError.for_field("api_key", "Enter the API key.")
    if not secret.strip():
        raise ValidationError.for_field("secret", "Enter the API secret.")
    if exchange.capabilities.get("needs_passphrase") and not passphrase.strip():
        raise ValidationError.for_field("passphrase", f"{exchange.name} API keys come with a passphrase; enter it.")


@transaction.atomic
def api_connection_create(
    *, actor: Any, exchange: Exchange, label: str, api_key: str, secret: str, passphrase: str = "", testnet: bool = False
) -> ApiConnection:
    label = label.strip()
    if not label:
        raise ValidationError.for_field("label", "Give the connection a label.")
    _validate_credentials(exchange, api_key, secret, passphrase)
    credentials = Credentials(api_key=api_key.strip(), secret=secret.strip(), passphrase=passphrase.strip(), testnet=testnet)
    try:
        with transaction.atomic():
            connection = ApiConnection.objects.create(
                owner=actor,
                exchange=exchange,
                label=label,
                credentials_encrypted=encrypt_credentials(credentials),
                api_key_hint=_key_hint(credentials.api_key),
                testnet=testnet,
            )
    except IntegrityError:
        raise ValidationError.for_field("label", f"You already have a connection labelled {label!r}.") from None
    audit_record(
        actor=actor,
        action="api_connection.created",
        summary=f"API connection {label!r} for {exchange.code} added",
        target=connection,
        changes={"testnet": [None, testnet]},
    )
    return connection


@transaction.atomic
def api_connection_update(
    *,
    actor: Any,
    connection_id: uuid.UUID | str,
    label: str | None = None,
    api_key: str | None = None,
    secret: str | None = None,
    passphrase: str | None = None,
    testnet: bool | None = None,
) -> ApiConnection:
    """Change the label or testnet flag; new credentials replace the old ones and need verifying again."""
    connection = api_connection_get(actor=actor, connection_id=connection_id)
    connection = ApiConnection.objects.select_for_update().get(pk=connection.pk)
    before = {"label": connection.label, "testnet": connection.testnet, "api_key_hint": connection.api_key_hint}
    if label is not None:
        if not label.strip():
            raise ValidationError.for_field("label", "Give the connection a label.")
        connection.label = label.strip()
    if testnet is not None:
        connection.testnet = testnet
    if api_key or secret or passphrase:
        current = decrypt_credentials(connection.credentials_encrypted, connection.testnet)
        new = Credentials(
            api_key=(api_key or current.api_key).strip(),
            secret=(secret or current.secret).strip(),
            passphrase=(passphrase if passphrase is not None else current.passphrase).strip(),
            testnet=connection.testnet,
        )
        _validate_credentials(connection.exchange, new.api_key, new.secret, new.passphrase)
        connection.credentials_encrypted = encrypt_credentials(new)
        connection.api_key_hint = _key_hint(new.api_key)
        connection.status, connection.status_detail, connection.last_verified_at = ConnectionStatus.UNVERIFIED, "", None
    elif testnet is not None and testnet != before["testnet"]:
        connection.status, connection.status_detail = ConnectionStatus.UNVERIFIED, ""
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise ValidationError.for_field("label", f"You already have a connection labelled {connection.label!r}.") from None
    changes = diff_fields(before, {"label": connection.label, "testnet": connection.testnet, "api_key_hint": connection.api_key_hint})
    audit_record(
        actor=actor,
        action="api_connection.updated",
        summary=f"API connection {connection.label!r} changed",
        target=connection,
        changes=changes,
    )
    return connection


@transaction.atomic
def api_connection_delete(*, actor: Any, connection_id: uuid.UUID | str) -> None:
    connection = api_connection_get(actor=actor, connection_id=connection_id)
    connection.soft_delete()
    audit_record(actor=actor, action="api_connection.deleted", summary=f"API connection {connection.label!r} removed", target=connection)


def api_connection_verify(*, actor: Any, connection_id: uuid.UUID | str) -> ApiConnection:
    """Ask the venue whether it accepts the credentials (a signed balance request)."""
    connection = api_connection_get(actor=actor, connection_id=connection_id)
    credentials = decrypt_credentials(connection.credentials_encrypted, connection.testnet)
    status, detail = ConnectionStatus.VERIFIED, "The venue accepted the credentials."
    try:
        balances = run_with_gateway(connection.exchange.code, lambda gateway: gateway.fetch_balances(), credentials)
        assets = sorted(b.asset for b in balances if b.total > 0)
        if assets:
            detail = f"The venue accepted the credentials; balances in {', '.join(assets[:8])}{'…' if len(assets) > 8 else ''}."
    except ExchangeAuthenticationError as exc:
        status, detail = ConnectionStatus.FAILED, f"Rejected: {exc.message}"
    except (ExchangeUnavailableError, ExchangeRateLimitedError) as exc:
        exchange_record_outcome(exchange=connection.exchange, error=exc)
        raise ExchangeUnavailableError(
            f"{connection.exchange.name} did not answer; try again shortly. ({exc.message})", code=ExchangeErrorCode.EXCHANGE_UNAVAILABLE
        ) from None
    except ApplicationError as exc:
        status, detail = ConnectionStatus.FAILED, exc.message
    with transaction.atomic():
        locked = ApiConnection.objects.select_for_update().get(pk=connection.pk)
        before = {"status": locked.status}
        locked.status, locked.status_detail = status, detail[:255]
        locked.last_verified_at = timezone.now()
        locked.save(update_fields=["status", "status_detail", "last_verified_at", "updated_at"])
        audit_record(
            actor=actor,
            action="api_connection.verified",
            summary=f"API connection {locked.label!r}: {locked.get_status_display()}",
            target=locked,
            changes=diff_fields(before, {"status": status}),
        )
    return locked
