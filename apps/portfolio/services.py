"""Writes for trading accounts and balances."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from apps.audit.services import audit_record, diff_fields
from apps.core.errors import ValidationError
from apps.core.rows import rows_select
from apps.exchanges.domain.fee_tiers import UnknownFeeTier, venue_fee_tier, venue_fee_tiers
from apps.exchanges.models import ApiConnection, Exchange
from apps.portfolio.enums import AccountMode, TradingState
from apps.portfolio.errors import PortfolioErrorCode
from apps.portfolio.models import Balance, TradingAccount

MAX_PAPER_AMOUNT = Decimal("1000000000")


def _parse_initial_balances(initial: dict[str, Any]) -> dict[str, Decimal]:
    parsed: dict[str, Decimal] = {}
    for asset, raw in initial.items():
        code = str(asset).strip().upper()
        if not code.isalnum() or len(code) > 16:
            raise ValidationError.for_field("balances", f"{asset!r} is not an asset code.", code=PortfolioErrorCode.INVALID_BALANCE)
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            raise ValidationError.for_field("balances", f"{code} amount {raw!r} is not a number.", code=PortfolioErrorCode.INVALID_BALANCE) from None
        if not amount.is_finite() or amount < 0 or amount > MAX_PAPER_AMOUNT:
            raise ValidationError.for_field("balances", f"{code} amount must be between 0 and {MAX_PAPER_AMOUNT:,}.", code=PortfolioErrorCode.INVALID_BALANCE)
        parsed[code] = parsed.get(code, Decimal(0)) + amount
    if not any(amount > 0 for amount in parsed.values()):
        raise ValidationError.for_field("balances", "A paper account needs a starting balance, e.g. 10000 USDT.", code=PortfolioErrorCode.INVALID_BALANCE)
    return parsed


@transaction.atomic
def chosen_fee_tier(exchange: Exchange, fee_tier: str | None) -> str:
    """The tier's name as the venue writes it (none given: the venue's first tier), or a ValidationError naming fee_tier."""
    tiers = venue_fee_tiers(exchange.code)
    if not fee_tier or not fee_tier.strip():
        return tiers[0].name if tiers else ""
    try:
        return venue_fee_tier(exchange.code, fee_tier).name
    except UnknownFeeTier as exc:
        raise ValidationError.for_field("fee_tier", str(exc)) from None


def paper_account_create(*, actor: Any, exchange: Exchange, initial_balances: dict[str, Any], name: str = "", fee_tier: str | None = None) -> TradingAccount:
    """A paper account with the balances asked for, paying the venue's fees of `fee_tier` (default: its first tier)."""
    balances = _parse_initial_balances(initial_balances)
    tier = chosen_fee_tier(exchange, fee_tier)
    try:
        with transaction.atomic():
            account = TradingAccount.objects.create(
                owner=actor, exchange=exchange, mode=AccountMode.PAPER, name=name.strip() or f"Paper {exchange.name}", fee_tier=tier
            )
    except IntegrityError:
        raise ValidationError.for_field("exchange", f"You already have a paper account on {exchange.name}.", code=PortfolioErrorCode.ACCOUNT_EXISTS) from None
    Balance.objects.bulk_create([Balance(account=account, asset=asset, free=amount) for asset, amount in balances.items()])
    audit_record(
        actor=actor,
        action="account.created",
        summary=f"Paper account on {exchange.code} with {', '.join(f'{v} {k}' for k, v in balances.items())}, fee tier {tier or 'custom'}",
        target=account,
        changes={"balances": [None, {k: str(v) for k, v in balances.items()}], "fee_tier": [None, tier]},
    )
    return account


@transaction.atomic
def live_account_create(*, actor: Any, connection: ApiConnection, name: str = "", fee_tier: str | None = None) -> TradingAccount:
    if connection.owner_id != actor.pk:
        raise ValidationError.for_field("api_connection", "No such API connection.")
    if not connection.is_verified:
        raise ValidationError.for_field(
            "api_connection",
            f"Verify the connection {connection.label!r} with {connection.exchange.name} before trading live.",
            code=PortfolioErrorCode.CONNECTION_NOT_VERIFIED,
        )
    try:
        with transaction.atomic():
            account = TradingAccount.objects.create(
                owner=actor,
                exchange=connection.exchange,
                mode=AccountMode.LIVE,
                api_connection=connection,
                name=name.strip() or f"Live {connection.exchange.name}",
                fee_tier=chosen_fee_tier(connection.exchange, fee_tier),
            )
    except IntegrityError:
        raise ValidationError.for_field(
            "api_connection", f"You already have a live account on {connection.exchange.name}.", code=PortfolioErrorCode.ACCOUNT_EXISTS
        ) from None
    audit_record(actor=actor, action="account.created", summary=f"Live account on {connection.exchange.code} via {connection.label!r}", target=account)
    return account


@transaction.atomic
def account_set_trading_state(*, actor: Any, account: TradingAccount, state: str, reason: str = "") -> TradingAccount:
    if state not in TradingState.values:
        raise ValidationError.for_field("trading_state", f"Unknown trading state {state!r}; use active, reduce_only or halted.")
    locked = TradingAccount.objects.select_for_update().get(pk=account.pk)
    changes = diff_fields({"trading_state": locked.trading_state}, {"trading_state": state})
    if changes:
        locked.trading_state, locked.trading_state_reason = state, reason[:255]
        locked.save(update_fields=["trading_state", "trading_state_reason", "updated_at"])
        audit_record(
            actor=actor,
            owner=locked.owner,
            action="account.trading_state_changed",
            summary=f"{locked}: {state} {reason}".strip(),
            target=locked,
            changes=changes,
        )
    return locked


def balance_select_for_update(*, account: TradingAccount, asset: str) -> Balance:
    """The balance row, locked for this transaction (created empty if the asset is new)."""
    found = rows_select(Balance, where={"account_id": account.pk, "asset": asset}, lock=True)
    if found:
        found[0].account = account
        return found[0]
    balance, _ = Balance.objects.select_for_update().get_or_create(account=account, asset=asset)
    return balance
