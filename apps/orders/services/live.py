"""Live execution: sending orders to the venue, cancelling them, and reconciling with it.

Sending is crash-safe and never places an order twice
-----------------------------------------------------
`order_submit` commits a NEW order (our `client_order_id`, balance held) and enqueues
`orders.send_live_order`. The task:

1. locks the order row; an order that is no longer NEW, or already has a venue id, is
   left alone (a replayed or duplicated task does nothing);
2. on the first attempt, writes `sent_at` and COMMITS before any network call. From then
   on, whatever happens to the process, the row says "this may have reached the venue";
3. on a later attempt (`sent_at` already set: an earlier attempt timed out, the worker
   died, or the broker redelivered the message) it first asks the venue for the order by
   client id and adopts it if it exists. Only a venue that does not know the client id
   gets the order again, after `sent_at` is refreshed and committed once more;
4. sends exactly one HTTP request: the gateway's own retry loop is switched off for
   `create_order`, because a timed-out POST may well have been executed, and blind
   repetition is how orders get placed twice (Binance only refuses a duplicate client id
   while the first order is still open). Repetition is ours, through step 3;
5. records the venue's answer under the row lock: venue id, acknowledgement time, status
   through the state machine, and executions through the ledger.

A per-order lock in the cache keeps two deliveries of the task from sending at the same
moment. Fills, cancels and expiries that happen later arrive through the venue's user-data
stream (`live_stream`, in `stream_market`). Reconciliation (every minute, at worker start-up
and whenever a stream opens) settles the rest: orders the venue has that we lack, orders it
lost, changes missed while no stream was open.

Executions
----------
The gateway has no "account trades" call, so executions are learned from the order as the
venue reports it (cumulative filled quantity, average price, fee). Each observed increase
becomes one Fill with a deterministic `venue_trade_id` ("<venue order id>:<cumulative
filled>") and `executed_at` (the venue's order timestamp): it is applied under the order's
row lock only for the quantity not yet recorded, and the unique index on
(account, venue_trade_id, executed_at) refuses a replay. Fees are recorded in the quote
currency (as paper fills are); a fee the venue charged in another asset (Binance charges
buyers in the base asset) is converted at the fill price for the books and taken from that
asset's balance, so balances mirror the venue's.

No database transaction is held open across a network call, except the deliberate
commit-before-send above, which commits before the call.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.domain.backoff import backoff_delay
from apps.core.domain.formatting import plain_number
from apps.core.errors import ApplicationError
from apps.exchanges.crypto import decrypt_credentials
from apps.exchanges.domain.types import Balance as VenueBalance
from apps.exchanges.domain.types import OrderRequest as VenueOrderRequest
from apps.exchanges.domain.types import Side, VenueOrder
from apps.exchanges.errors import (
    RETRYABLE_ERRORS,
    ExchangeAuthenticationError,
    ExchangeError,
    InsufficientFundsError,
    InvalidOrderError,
    NotSupportedError,
    OrderNotFoundError,
    UnknownSymbolError,
)
from apps.exchanges.gateways.base import Credentials, ExchangeGateway
from apps.exchanges.models import Symbol
from apps.exchanges.services import run_with_gateway
from apps.orders.domain.fees import fee_in_quote
from apps.orders.domain.model import Fill as FillValue
from apps.orders.domain.model import Liquidity, OrderSide, OrderStatus, OrderType
from apps.orders.domain.state_machine import InvalidOrderTransition, transition
from apps.orders.enums import OPEN_STATUSES, OrderSource
from apps.orders.models import Order
from apps.orders.services.ledger import ledger_apply_fill, ledger_finish_order, position_select_for_update
from apps.orders.services.push import push_account_changes, push_order_changes
from apps.portfolio.enums import AccountMode
from apps.portfolio.models import Balance, Position, TradingAccount
from apps.portfolio.services import balance_select_for_update

logger = logging.getLogger(__name__)
T = TypeVar("T")
ZERO = Decimal(0)

LOST_AFTER = timedelta(minutes=2)  # a sent order the venue still does not know after this is lost
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 60.0  # below LOST_AFTER, so a retry resends before reconciliation gives up on the order
SEND_LOCK_SECONDS = 120
RECONCILE_LOCK_SECONDS = 600
PRICE_PLACES = Decimal("1e-12")

# The venue refused the order itself: sending it again cannot succeed.
VENUE_REJECTIONS: tuple[type[ApplicationError], ...] = (
    InvalidOrderError,
    InsufficientFundsError,
    ExchangeAuthenticationError,
    UnknownSymbolError,
    NotSupportedError,
)
# Timed out, unavailable, rate limited, or an answer we cannot read: it may or may not have happened.
OUTCOME_UNKNOWN: tuple[type[ApplicationError], ...] = (*RETRYABLE_ERRORS, ExchangeError)
# ccxt's unified order statuses; "open" (and "canceling", or anything new) is decided by the filled amount.
FINAL_STATUSES = {"closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED, "rejected": OrderStatus.REJECTED, "expired": OrderStatus.EXPIRED}
RETRY = Callable[..., Any]


# Talking to the venue --------------------------------------------------------------------


def account_credentials(account: TradingAccount) -> Credentials:
    connection = account.api_connection
    if connection is None:
        raise ExchangeAuthenticationError(f"{account} has no API connection.")
    return decrypt_credentials(connection.credentials_encrypted, connection.testnet)


def _on_venue(code: str, credentials: Credentials, call: Callable[[ExchangeGateway], Awaitable[T]]) -> T:
    return run_with_gateway(code, call, credentials)


def _without_automatic_retries(gateway: ExchangeGateway) -> ExchangeGateway:
    """Placing an order is not idempotent: one request per attempt, repetition is ours (see the module doc).

    The ccxt gateway retries every call on temporary errors and has no per-call switch; this gateway
    instance serves this one call, so its retry budget is set to zero.
    """
    if hasattr(gateway, "_max_retries"):
        gateway._max_retries = 0  # type: ignore[attr-defined]
    return gateway


async def _fetch_or_none(gateway: ExchangeGateway, symbol: str, client_order_id: str) -> VenueOrder | None:
    try:
        return await gateway.fetch_order(symbol, client_order_id=client_order_id)
    except OrderNotFoundError:
        return None


def _venue_request(order: Order) -> VenueOrderRequest:
    return VenueOrderRequest(
        symbol=order.symbol.symbol,
        side=Side(order.side.lower()),
        order_type=order.order_type.lower(),
        quantity=order.quantity,
        client_order_id=order.client_order_id,
        price=order.price,
        stop_price=order.stop_price,
        time_in_force=order.time_in_force,
        post_only=order.post_only,
        reduce_only=order.reduce_only,
    )


def backoff_seconds(attempt: int, error: ApplicationError | None = None) -> float:
    """Exponential backoff with jitter ("equal jitter": never at once), at least what the venue asked."""
    retry_after = (error.extra.get("retry_after_seconds") if error is not None else None) or 0
    return backoff_delay(attempt, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS, at_least=float(retry_after))


@contextmanager
def _exclusive(key: str, seconds: int) -> Iterator[bool]:
    """A short-lived lock in the cache (Redis): True if this process holds it."""
    acquired = bool(cache.add(key, "1", seconds))
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete(key)


# Rows ------------------------------------------------------------------------------------


def _order_select_for_update(order_id: Any) -> Order | None:
    return (
        Order.objects.select_for_update(of=("self",))
        .select_related("account", "account__exchange", "account__owner", "account__api_connection", "symbol", "symbol__exchange")
        .filter(pk=order_id)
        .first()
    )


def _order_get(order_id: Any) -> Order | None:
    return Order.objects.select_related("account", "account__exchange", "account__owner", "account__api_connection", "symbol").filter(pk=order_id).first()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else plain_number(value)


def _venue_summary(venue: VenueOrder) -> dict[str, Any]:
    return {
        "venue_order_id": venue.venue_order_id,
        "client_order_id": venue.client_order_id,
        "symbol": venue.symbol,
        "side": str(venue.side),
        "type": venue.order_type,
        "status": venue.status,
        "price": _money(venue.price),
        "quantity": _money(venue.quantity),
        "filled": _money(venue.filled),
        "average_price": _money(venue.average_price),
    }


def _our_summary(order: Order) -> dict[str, Any]:
    return {
        "venue_order_id": order.venue_order_id,
        "client_order_id": order.client_order_id,
        "status": order.status,
        "quantity": _money(order.quantity),
        "filled": _money(order.filled_quantity),
        "average_price": _money(order.average_price),
    }


# Applying what the venue says --------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One way our order differed from the venue's, and was brought in line (or could not be: "conflict")."""

    kind: str  # acknowledged, fill, status, conflict
    ours: dict[str, Any]
    venue: dict[str, Any]
    note: str = ""


def _target_status(venue: VenueOrder, order: Order) -> OrderStatus:
    final = FINAL_STATUSES.get(venue.status)
    if final is not None:
        return final
    return OrderStatus.PARTIALLY_FILLED if order.filled_quantity > 0 else OrderStatus.OPEN


def _finish_reason(order: Order, status: OrderStatus) -> str:
    if status is OrderStatus.CANCELED:
        return "canceled by you" if order.reject_reason == "cancel requested" else "canceled on the venue"
    if status is OrderStatus.EXPIRED:
        return "expired on the venue"
    if status is OrderStatus.REJECTED:
        return "rejected by the venue"
    return ""


def _execution_price(order: Order, venue: VenueOrder, delta: Decimal) -> Decimal | None:
    """The average price of the quantity filled since we last looked."""
    if venue.average_price:
        total = venue.average_price * venue.filled - (order.average_price or ZERO) * order.filled_quantity
        price = (total / delta).quantize(PRICE_PLACES)
        return price if price > 0 else venue.average_price
    return venue.price or order.price


def _apply_execution(order: Order, venue: VenueOrder, delta: Decimal, price: Decimal) -> None:
    symbol: Symbol = order.symbol
    native_fee = (venue.fee * delta / venue.filled) if venue.fee and venue.filled else ZERO
    fee_asset = venue.fee_currency or symbol.quote
    quote_fee = fee_in_quote(fee=native_fee, fee_currency=fee_asset, price=price, base=symbol.base, quote=symbol.quote)
    fill = FillValue(
        order_id=str(order.pk),
        symbol=symbol.symbol,
        side=OrderSide(order.side),
        price=price,
        quantity=delta,
        fee=quote_fee,
        fee_currency=symbol.quote,
        liquidity=Liquidity.TAKER if order.status == OrderStatus.NEW.value or order.order_type != OrderType.LIMIT.value else Liquidity.MAKER,
        timestamp=venue.timestamp,
        trade_id=f"{venue.venue_order_id}:{format(venue.filled.normalize(), 'f')}"[:64],
    )
    ledger_apply_fill(order=order, fill=fill, position=position_select_for_update(order=order))
    if native_fee and fee_asset != symbol.quote and not symbol.is_perpetual:
        # The ledger took the fee from the quote balance; the venue took it from `fee_asset`.
        quote = balance_select_for_update(account=order.account, asset=symbol.quote)
        quote.free += quote_fee
        quote.save(update_fields=["free", "updated_at"])
        charged = balance_select_for_update(account=order.account, asset=fee_asset)
        charged.free = max(ZERO, charged.free - native_fee)
        charged.save(update_fields=["free", "updated_at"])


def _apply_venue_order(order: Order, venue: VenueOrder) -> list[Change]:
    """Bring a locked order in line with the venue's view of it. The caller saves the order."""
    ours = _our_summary(order)
    seen = _venue_summary(venue)
    if order.venue_order_id and order.venue_order_id != venue.venue_order_id:
        return [Change("conflict", ours, seen, "the venue reports another order under our client id")]
    if OrderStatus(order.status).is_terminal:
        differs = venue.filled != order.filled_quantity or FINAL_STATUSES.get(venue.status) not in (OrderStatus(order.status), None)
        if venue.status not in FINAL_STATUSES or differs:
            return [Change("conflict", ours, seen, f"we have it {order.status}, the venue has it {venue.status}")]
        return []

    changes: list[Change] = []
    status_before = order.status
    if not order.venue_order_id:
        order.venue_order_id = venue.venue_order_id
        changes.append(Change("acknowledged", ours, seen))
    if order.acknowledged_at is None:
        order.acknowledged_at = timezone.now()

    delta = min(venue.filled, order.quantity) - order.filled_quantity
    if delta < 0:
        return [*changes, Change("conflict", ours, seen, "the venue reports less filled than we recorded")]
    if delta > 0:
        price = _execution_price(order, venue, delta)
        if price is None:
            changes.append(Change("conflict", ours, seen, "a fill without a price; left for the next reconciliation"))
        else:
            _apply_execution(order, venue, delta, price)
            changes.append(Change("fill", ours, seen | {"fill_quantity": _money(delta), "fill_price": _money(price)}))

    target = _target_status(venue, order)
    try:
        if target is OrderStatus.FILLED and order.filled_quantity < order.quantity:
            changes.append(Change("conflict", ours, seen, f"the venue says filled but reports {_money(venue.filled)} of {_money(order.quantity)}"))
        elif target.is_terminal:
            ledger_finish_order(order=order, status=target, reason=_finish_reason(order, target))
        elif target.value != order.status:
            order.status = transition(OrderStatus(order.status), target).value
    except InvalidOrderTransition as exc:
        changes.append(Change("conflict", ours, seen, exc.message))
    if order.status == OrderStatus.FILLED.value and order.closed_at is None:
        ledger_finish_order(order=order, status=OrderStatus.FILLED)
    if order.status != status_before:
        changes.append(Change("status", ours, seen))
    return changes


def _audit_action(order: Order, change: Change, prefix: str) -> str:
    if prefix != "order":
        return f"{prefix}.{change.kind}"  # reconciliation: every discrepancy
    if change.kind == "status":
        return f"order.{order.status.lower()}" if OrderStatus(order.status).is_terminal else ""
    return {"acknowledged": "order.acknowledged", "conflict": "order.venue_conflict"}.get(change.kind, "")


def _audit_changes(order: Order, changes: list[Change], *, prefix: str) -> None:
    for change in changes:
        action = _audit_action(order, change, prefix)
        if not action:
            continue
        audit_record(
            actor=None,
            owner=order.account.owner,
            action=action,
            summary=f"{order}: {change.note or change.kind} (venue: {change.venue['status']}, filled {change.venue['filled']})",
            target=order,
            changes={"ours": change.ours, "venue": change.venue, **({"note": change.note} if change.note else {})},
        )


def record_venue_order(order_id: Any, venue: VenueOrder, *, audit_prefix: str = "order") -> tuple[str, list[Change]]:
    """Apply the venue's view of one order in its own transaction. Returns (our status, changes)."""
    with transaction.atomic():
        order = _order_select_for_update(order_id)
        if order is None:
            return "missing", []
        changes = _apply_venue_order(order, venue)
        if changes:
            order.save()
            _audit_changes(order, changes, prefix=audit_prefix)
            push_order_changes(order)
        return order.status, changes


# Sending ---------------------------------------------------------------------------------


def _send_skip_reason(order: Order | None) -> str:
    if order is None:
        return "missing"
    if order.account.mode != AccountMode.LIVE:
        return "not live"
    if order.status != OrderStatus.NEW.value or order.venue_order_id:
        return order.status
    return ""


def _mark_sent(order: Order, *, again: bool) -> None:
    order.sent_at = timezone.now()
    order.save(update_fields=["sent_at", "updated_at"])
    audit_record(
        actor=None,
        owner=order.account.owner,
        action="order.sent",
        summary=f"{order} {'sent again: the venue does not know it' if again else 'sent'} to {order.account.exchange.code}",
        target=order,
        changes={"sent_at": [None, order.sent_at.isoformat()], "client_order_id": order.client_order_id, "again": again},
    )


def _reject(order_id: Any, reason: str) -> str:
    with transaction.atomic():
        order = _order_select_for_update(order_id)
        if order is None or order.status != OrderStatus.NEW.value or order.venue_order_id:
            return order.status if order is not None else "missing"
        ledger_finish_order(order=order, status=OrderStatus.REJECTED, reason=reason)
        order.save()
        audit_record(
            actor=None,
            owner=order.account.owner,
            action="order.rejected",
            summary=f"{order}: {reason}",
            target=order,
            changes={"status": [OrderStatus.NEW.value, OrderStatus.REJECTED.value], "reason": reason[:255]},
        )
        push_order_changes(order)
        return order.status


def live_order_send(*, order_id: str, retry: RETRY, attempt: int = 0) -> str:
    """Send one NEW live order to its venue, at most once (see the module doc). Returns our status."""
    with _exclusive(f"orders:live-send:{order_id}", SEND_LOCK_SECONDS) as mine:
        if not mine:  # another delivery of this task is sending it right now
            raise retry(countdown=backoff_seconds(attempt))
        return _send(order_id, retry, attempt)


def _claim_for_sending(order_id: str) -> tuple[Order | None, bool, str]:
    """Lock the order; unless it is done with, make sure `sent_at` is written. Returns (order, sent before, skip reason)."""
    with transaction.atomic():
        order = _order_select_for_update(order_id)
        if skip := _send_skip_reason(order):
            return order, False, skip
        assert order is not None
        sent_before = order.sent_at is not None
        if not sent_before:
            _mark_sent(order, again=False)
        return order, sent_before, ""


def _send(order_id: str, retry: RETRY, attempt: int) -> str:
    order, sent_before, skip = _claim_for_sending(order_id)
    if skip or order is None:
        return skip
    # Committed. A crash from here on leaves `sent_at` set: the next attempt asks the venue first.
    code, symbol, client_order_id = order.account.exchange.code, order.symbol.symbol, order.client_order_id
    try:
        credentials = account_credentials(order.account)
    except ApplicationError as exc:
        return _reject(order_id, f"Cannot sign requests for {code}: {exc.message}")
    request = _venue_request(order)

    def look_up() -> VenueOrder | None:
        return _on_venue(code, credentials, lambda gateway: _fetch_or_none(gateway, symbol, client_order_id))

    try:
        if sent_before:
            found = look_up()
            if found is not None:
                return record_venue_order(order_id, found)[0]
            with transaction.atomic():
                order = _order_select_for_update(order_id)
                if skip := _send_skip_reason(order):
                    return skip
                assert order is not None
                _mark_sent(order, again=True)
        placed = _on_venue(code, credentials, lambda gateway: _without_automatic_retries(gateway).create_order(request))
    except VENUE_REJECTIONS as exc:
        rejection = exc
    except OUTCOME_UNKNOWN as exc:
        # The order may or may not be on the venue: the retry asks the venue before sending again.
        logger.warning("live order %s: %s; retrying (attempt %s)", order_id, exc.message, attempt + 1)
        raise retry(exc=exc, countdown=backoff_seconds(attempt, exc)) from exc
    else:
        return record_venue_order(order_id, placed)[0]

    if sent_before:  # a refusal of a second send (a duplicate client id) may mean the first one landed after all
        try:
            found = look_up()
        except OUTCOME_UNKNOWN as exc:
            raise retry(exc=exc, countdown=backoff_seconds(attempt, exc)) from exc
        except VENUE_REJECTIONS:
            found = None
        if found is not None:
            return record_venue_order(order_id, found)[0]
    return _reject(order_id, f"{code} rejected the order: {rejection.message}")


# Cancelling ------------------------------------------------------------------------------


def _cancel_unsent(order_id: Any) -> str | None:
    """An order that never left us is canceled here; None if it has been sent meanwhile."""
    with transaction.atomic():
        order = _order_select_for_update(order_id)
        if order is None:
            return "missing"
        if order.sent_at is not None or order.venue_order_id or order.status != OrderStatus.NEW.value:
            return None
        ledger_finish_order(order=order, status=OrderStatus.CANCELED, reason="canceled before it reached the venue")
        order.save()
        audit_record(actor=None, owner=order.account.owner, action="order.canceled", summary=f"{order}: canceled before it was sent", target=order)
        push_order_changes(order)
        return order.status


def _mark_lost(order_id: Any, *, audit_prefix: str) -> bool:
    """EXPIRED "lost by the venue", if the order is still open and was last sent over LOST_AFTER ago."""
    with transaction.atomic():
        order = _order_select_for_update(order_id)
        if order is None or order.status not in OPEN_STATUSES:
            return False
        sent = order.sent_at or order.created_at
        if sent > timezone.now() - LOST_AFTER:
            return False
        ours = _our_summary(order)
        ledger_finish_order(order=order, status=OrderStatus.EXPIRED, reason="lost by the venue")
        order.save()
        audit_record(
            actor=None,
            owner=order.account.owner,
            action=f"{audit_prefix}.lost",
            summary=f"{order}: the venue does not know client id {order.client_order_id}",
            target=order,
            changes={"ours": ours, "venue": None, "sent_at": sent.isoformat()},
        )
        push_order_changes(order)
        return True


def live_order_cancel(*, order_id: str, retry: RETRY, attempt: int = 0) -> str:
    """Cancel a live order on its venue (by client id) and record the venue's answer. Returns our status."""
    order = _order_get(order_id)
    if order is None:
        return "missing"
    if order.account.mode != AccountMode.LIVE or order.status not in OPEN_STATUSES:
        return order.status
    if order.sent_at is None and not order.venue_order_id:
        status = _cancel_unsent(order_id)
        if status is not None:
            return status
    code, symbol, client_order_id = order.account.exchange.code, order.symbol.symbol, order.client_order_id
    credentials = account_credentials(order.account)
    try:
        venue = _on_venue(code, credentials, lambda gateway: gateway.cancel_order(symbol, client_order_id=client_order_id))
    except OrderNotFoundError:
        # Not cancelable: already filled or canceled, or the venue never got it. Ask what it knows.
        try:
            found = _on_venue(code, credentials, lambda gateway: _fetch_or_none(gateway, symbol, client_order_id))
        except RETRYABLE_ERRORS as exc:
            raise retry(exc=exc, countdown=backoff_seconds(attempt, exc)) from exc
        if found is not None:
            return record_venue_order(order_id, found)[0]
        if _mark_lost(order_id, audit_prefix="order"):
            return OrderStatus.EXPIRED.value
        raise retry(countdown=backoff_seconds(attempt)) from None  # just sent: the venue may not show it yet
    except RETRYABLE_ERRORS as exc:
        raise retry(exc=exc, countdown=backoff_seconds(attempt, exc)) from exc
    return record_venue_order(order_id, venue)[0]


# Reconciliation --------------------------------------------------------------------------


@dataclass
class VenueSnapshot:
    open_orders: list[VenueOrder]
    by_client_id: dict[str, VenueOrder | None]  # our orders fetched one by one; None: the venue does not know it
    balances: list[VenueBalance]
    liquidations: list[VenueOrder] = field(default_factory=list)  # forced closes of the positions we hold open


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, changes: list[Change]) -> None:
        self.counts.update(change.kind for change in changes)


def live_accounts_reconcile() -> dict[str, int]:
    """Reconcile every live account with its venue. Returns how many discrepancies of each kind."""
    counts: Counter[str] = Counter()
    accounts = TradingAccount.objects.filter(mode=AccountMode.LIVE, api_connection__isnull=False, api_connection__deleted_at__isnull=True).select_related(
        "exchange", "owner", "api_connection"
    )
    for account in accounts:
        counts["accounts"] += 1
        try:
            counts.update(live_account_reconcile(account=account))
        except Exception:
            logger.exception("reconciliation of %s failed", account)
            counts["errors"] += 1
    return dict(counts)


def live_account_reconcile(*, account: TradingAccount) -> dict[str, int]:
    """Fetch the venue's view of one account and bring ours in line; every discrepancy is audited."""
    with _exclusive(f"orders:reconcile:{account.pk}", RECONCILE_LOCK_SECONDS) as mine:
        if not mine:
            return {"busy": 1}
        return dict(_reconcile(account).counts)


def _reconcile(account: TradingAccount) -> Tally:
    tally = Tally()
    ours = list(Order.objects.filter(account=account, status__in=OPEN_STATUSES).select_related("symbol").order_by("created_at"))
    snapshot = _snapshot(account, ours)

    handled: set[Any] = set()
    for venue in snapshot.open_orders:
        handled |= _reconcile_venue_order(account, venue, tally)
    for order in ours:
        if order.pk in handled:
            continue
        try:
            _reconcile_our_order(order, snapshot, tally)
        except Exception:
            logger.exception("reconciling order %s failed", order.pk)
            tally.counts["errors"] += 1
    _reconcile_liquidations(account, snapshot.liquidations, tally)
    _reconcile_balances(account, snapshot.balances, tally)
    return tally


def _reconcile_liquidations(account: TradingAccount, liquidations: list[VenueOrder], tally: Tally) -> None:
    """Positions the venue liquidated while we were not listening: recorded as the stream records them."""
    from apps.orders.services.liquidation import live_liquidation_record

    for venue in sorted(liquidations, key=lambda v: v.timestamp):
        try:
            if live_liquidation_record(account=account, venue=venue) is not None:
                tally.counts["liquidated"] += 1
        except Exception:
            logger.exception("recording liquidation %s failed", venue.venue_order_id)
            tally.counts["errors"] += 1


def _open_perpetual_positions(account: TradingAccount) -> list[tuple[str, datetime | None]]:
    """(symbol, opened at) of the account's open perpetual positions: where a liquidation can have happened."""
    rows = Position.objects.filter(account=account, symbol__market_type="linear_perpetual").exclude(quantity=0).values_list("symbol__symbol", "opened_at")
    return [(symbol, opened_at) for symbol, opened_at in rows]


def _snapshot(account: TradingAccount, ours: list[Order]) -> VenueSnapshot:
    """Everything the venue says about the account, in one gateway session and no transaction."""
    wanted = [(order.client_order_id, order.symbol.symbol) for order in ours if order.sent_at is not None or order.venue_order_id]
    perpetuals = _open_perpetual_positions(account)

    async def collect(gateway: ExchangeGateway) -> VenueSnapshot:
        open_orders = await gateway.fetch_open_orders()
        listed = {venue.client_order_id for venue in open_orders}
        by_client_id: dict[str, VenueOrder | None] = {}
        for client_order_id, symbol in wanted:
            if client_order_id not in listed:
                by_client_id[client_order_id] = await _fetch_or_none(gateway, symbol, client_order_id)
        liquidations: list[VenueOrder] = []
        for symbol, opened_at in perpetuals:
            try:
                liquidations += await gateway.fetch_liquidations(symbol, since=opened_at)
            except NotSupportedError:
                break  # the venue has no force-order history: the balance sync is all we can do
        return VenueSnapshot(open_orders, by_client_id, await gateway.fetch_balances(), liquidations)

    return _on_venue(account.exchange.code, account_credentials(account), collect)


def _reconcile_venue_order(account: TradingAccount, venue: VenueOrder, tally: Tally) -> set[Any]:
    """One order open on the venue: sync ours, or adopt it. Returns the ids of our orders it covered."""
    match = Q(venue_order_id=venue.venue_order_id)
    if venue.client_order_id:
        match |= Q(client_order_id=venue.client_order_id)
    order = Order.objects.filter(account=account).filter(match).first()
    try:
        if order is None:
            if order_adopt(account, venue):
                tally.counts["adopted"] += 1
            return set()
        _, changes = record_venue_order(order.pk, venue, audit_prefix="reconciliation")
        tally.add(changes)
    except Exception:
        logger.exception("reconciling venue order %s failed", venue.venue_order_id)
        tally.counts["errors"] += 1
    return {order.pk} if order is not None else set()


def _reconcile_our_order(order: Order, snapshot: VenueSnapshot, tally: Tally) -> None:
    if order.client_order_id in snapshot.by_client_id:
        venue = snapshot.by_client_id[order.client_order_id]
        if venue is not None:
            tally.add(record_venue_order(order.pk, venue, audit_prefix="reconciliation")[1])
        elif _mark_lost(order.pk, audit_prefix="reconciliation"):
            tally.counts["lost"] += 1
        return
    if order.sent_at is None and order.created_at <= timezone.now() - LOST_AFTER:
        outcome = _resend_unsent(order.pk)
        if outcome:
            tally.counts[outcome] += 1


def _resend_unsent(order_id: Any) -> str:
    """An order the send task never took up: send it through the task once; if that never runs either, expire it.

    Returns "resent", "unsent" (expired) or "" (nothing to do yet)."""
    from apps.orders.tasks import send_live_order_task

    with transaction.atomic():
        order = _order_select_for_update(order_id)
        if order is None or order.sent_at is not None or order.status != OrderStatus.NEW.value:
            return ""
        previous = (
            AuditEvent.objects.filter(action="reconciliation.resent", target_type="orders.order", target_id=str(order.pk)).order_by("-created_at").first()
        )
        if previous is None:
            audit_record(
                actor=None,
                owner=order.account.owner,
                action="reconciliation.resent",
                summary=f"{order}: never sent after {LOST_AFTER}; sending it now",
                target=order,
                changes={"ours": _our_summary(order), "venue": None},
            )
            transaction.on_commit(lambda: send_live_order_task.delay(str(order_id)))
            return "resent"
        if previous.created_at > timezone.now() - LOST_AFTER:
            return ""
        ours = _our_summary(order)
        ledger_finish_order(order=order, status=OrderStatus.EXPIRED, reason="never reached the venue")
        order.save()
        audit_record(
            actor=None,
            owner=order.account.owner,
            action="reconciliation.unsent",
            summary=f"{order}: the send task never ran, not even when asked again",
            target=order,
            changes={"ours": ours, "venue": None},
        )
        push_order_changes(order)
        return "unsent"


def _adoption_hold(account: TradingAccount, symbol: Symbol, venue: VenueOrder) -> tuple[str, Decimal]:
    """What the venue holds for an order we did not place (spot): the same amount is held here."""
    if symbol.is_perpetual:
        return symbol.quote, ZERO  # margin is the venue's business; the balance sync reflects it
    if venue.side is Side.SELL:
        return symbol.base, venue.quantity
    price = venue.price or venue.stop_price or venue.average_price or ZERO
    return symbol.quote, venue.quantity * price


def order_adopt(account: TradingAccount, venue: VenueOrder) -> bool:
    symbol = Symbol.objects.filter(exchange_id=account.exchange_id, symbol=venue.symbol).first()
    if symbol is None:
        logger.warning("cannot adopt venue order %s: no symbol %s on %s", venue.venue_order_id, venue.symbol, account.exchange.code)
        return False
    order_type = venue.order_type.upper() if venue.order_type.upper() in OrderType.__members__ else OrderType.LIMIT.value
    with transaction.atomic():
        asset, wanted = _adoption_hold(account, symbol, venue)
        balance = balance_select_for_update(account=account, asset=asset)
        held = min(wanted, balance.free)
        balance.free -= held
        balance.locked += held
        balance.save(update_fields=["free", "locked", "updated_at"])
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    account=account,
                    symbol=symbol,
                    client_order_id=(venue.client_order_id or f"venue-{venue.venue_order_id}")[:64],
                    side=str(venue.side).upper(),
                    order_type=order_type,
                    quantity=venue.quantity,
                    price=venue.price if order_type in (OrderType.LIMIT.value, OrderType.STOP_LIMIT.value) else None,
                    stop_price=venue.stop_price,
                    locked_amount=held,
                    locked_asset=asset,
                    source=OrderSource.SYSTEM,
                    sent_at=venue.timestamp,
                )
        except IntegrityError:  # adopted meanwhile by a concurrent reconciliation
            transaction.set_rollback(True)
            return False
        order.account, order.symbol = account, symbol
        _apply_venue_order(order, venue)
        order.save()
        audit_record(
            actor=None,
            owner=account.owner,
            action="reconciliation.adopted",
            summary=f"{order}: placed on {account.exchange.code} outside the platform; now tracked",
            target=order,
            changes={"ours": None, "venue": _venue_summary(venue)},
        )
        push_order_changes(order)
    return True


def _reconcile_balances(account: TradingAccount, venue_balances: list[VenueBalance], tally: Tally) -> None:
    """The venue's totals are the truth; our split keeps the holds of our open orders (capped by the total).

    One asset per transaction, so this never waits on a settlement holding another asset.
    """
    venue_by_asset = {balance.asset: balance for balance in venue_balances}
    ours = set(Balance.objects.filter(account=account).values_list("asset", flat=True))
    for asset in sorted(ours | set(venue_by_asset)):
        venue = venue_by_asset.get(asset)
        venue_total = venue.total if venue is not None else ZERO
        with transaction.atomic():
            balance = balance_select_for_update(account=account, asset=asset)
            if balance.total == venue_total:
                continue
            before = {"free": _money(balance.free), "locked": _money(balance.locked)}
            balance.locked = min(balance.locked, venue_total)
            balance.free = venue_total - balance.locked
            balance.save(update_fields=["free", "locked", "updated_at"])
            audit_record(
                actor=None,
                owner=account.owner,
                action="reconciliation.balance",
                summary=f"{account}: {asset} {before['free']}+{before['locked']} here, {_money(venue_total)} on {account.exchange.code}",
                target=account,
                changes={
                    "asset": asset,
                    "ours": before,
                    "venue": {"free": _money(venue.free if venue else ZERO), "locked": _money(venue.locked if venue else ZERO)},
                    "now": {"free": _money(balance.free), "locked": _money(balance.locked)},
                },
            )
            tally.counts["balance"] += 1
            push_account_changes(owner_id=account.owner_id, account_id=account.pk)
