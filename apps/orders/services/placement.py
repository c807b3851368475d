"""Placing and cancelling orders: validation, pre-trade risk, balance holds, then the venue.

Paper orders are matched by the same engine and fill model as backtests: the part that
can execute now executes inside the request; the rest rests with the paper matcher of
`stream_market`. Live orders are sent after commit by a Celery task and kept in sync by
reconciliation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.domain.ids import uuid7
from apps.core.errors import NotFoundError, ValidationError
from apps.core.metrics import order_placement_seconds
from apps.core.rows import row_save, rows_select
from apps.core.selectors import get_or_not_found
from apps.exchanges.models import Symbol
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.matching import MatchingEngine, OrderExpired, OrderFilled, OrderRejected
from apps.orders.domain.model import MarginMode, OrderIntent, OrderSide, OrderStatus, OrderType, TimeInForce
from apps.orders.domain.validation import ensure_valid_order, quantity_from_quote
from apps.orders.enums import OPEN_STATUSES, OrderSource
from apps.orders.errors import InsufficientBalanceError, OrderErrorCode, OrderNotCancelableError, RiskRejectedError
from apps.orders.models import Order
from apps.orders.selectors import fill_net_realized_pnl, start_of_utc_day
from apps.orders.services.ledger import LedgerBatch, ledger_apply_fill, ledger_finish_order, position_select_for_update
from apps.orders.services.market_inputs import current_book, fee_schedule, symbol_rules
from apps.portfolio.models import Position, TradingAccount
from apps.risk.domain.rules import LimitSet, PreTradeContext, ResultingMargin, check_pre_trade, position_after_fill
from apps.risk.services import risk_limits_get

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
MARKET_HOLD_BUFFER = Decimal("0.02")  # market buys hold 2 % above the book for slippage; the rest is released
CLIENT_ORDER_ID_MAX = 36  # Binance's limit, the strictest of our venues


@dataclass(frozen=True)
class OrderRequest:
    symbol: Symbol
    side: str
    order_type: str
    quantity: Decimal | None = None
    quote_amount: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    leverage: int = 1
    margin_mode: str = "ISOLATED"
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    client_order_id: str = ""
    source: str = OrderSource.UI


def new_client_order_id() -> str:
    return f"tp{uuid7().hex[:30]}"


def _enum(enum_type: Any, value: str, field: str) -> Any:
    try:
        return enum_type(str(value).upper())
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise ValidationError.for_field(field, f"Unknown {field.replace('_', ' ')} {value!r}; use one of {allowed}.") from None


def _intent(request: OrderRequest, client_order_id: str, reference: Decimal | None) -> OrderIntent:
    quantity = request.quantity
    if quantity is None and request.quote_amount is not None:
        price = request.price or reference
        if price is None or price <= 0:
            raise ValidationError.for_field("quote_amount", "No price to convert the amount into a quantity.")
        if request.quote_amount <= 0:
            raise ValidationError.for_field("quote_amount", "The amount must be positive.")
        quantity = quantity_from_quote(request.quote_amount, price, symbol_rules(request.symbol))
    if quantity is None:
        raise ValidationError.for_field("quantity", "Give a quantity or an amount in the quote currency.")
    return OrderIntent(
        client_order_id=client_order_id,
        symbol=request.symbol.symbol,
        side=_enum(OrderSide, request.side, "side"),
        order_type=_enum(OrderType, request.order_type, "order_type"),
        quantity=quantity,
        price=request.price,
        stop_price=request.stop_price,
        time_in_force=_enum(TimeInForce, request.time_in_force, "time_in_force"),
        post_only=request.post_only,
        reduce_only=request.reduce_only,
        leverage=int(request.leverage),
        margin_mode=_enum(MarginMode, request.margin_mode, "margin_mode"),
    )


def _validate_attached_exits(intent: OrderIntent, request: OrderRequest, reference: Decimal) -> None:
    entry = intent.price or reference
    long = intent.side is OrderSide.BUY
    if request.stop_loss is not None and ((long and request.stop_loss >= entry) or (not long and request.stop_loss <= entry)):
        raise ValidationError.for_field(
            "stop_loss", f"A stop-loss for a {'long' if long else 'short'} must be {'below' if long else 'above'} the entry price {entry}."
        )
    if request.take_profit is not None and ((long and request.take_profit <= entry) or (not long and request.take_profit >= entry)):
        raise ValidationError.for_field(
            "take_profit", f"A take-profit for a {'long' if long else 'short'} must be {'above' if long else 'below'} the entry price {entry}."
        )


# Holds -----------------------------------------------------------------------------------


def required_hold(*, account: TradingAccount, symbol: Symbol, intent: OrderIntent, reference: Decimal, increases: Decimal) -> tuple[str, Decimal]:
    """(asset, amount) to hold while the order works: what it can spend at worst, plus the taker fee."""
    price = intent.price if intent.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    if price is None:
        price = (intent.stop_price or reference) * (1 + MARKET_HOLD_BUFFER)
    fee_rate = fee_schedule(account, symbol).taker_rate
    if symbol.is_perpetual:
        notional = increases * price
        return symbol.quote, notional / Decimal(max(intent.leverage, 1)) + notional * fee_rate
    if intent.side is OrderSide.BUY:
        return symbol.quote, intent.quantity * price * (1 + fee_rate)
    return symbol.base, intent.quantity


def _exposure_after(position_qty: Decimal, intent: OrderIntent) -> tuple[Decimal, bool]:
    """(quantity that adds exposure, whether the order adds any)."""
    signed = intent.quantity * intent.side.sign
    if position_qty == 0 or (position_qty > 0) == (signed > 0):
        return intent.quantity, True
    excess = abs(signed) - abs(position_qty)
    return (excess, True) if excess > 0 else (ZERO, False)


def realized_loss_today(*, account: TradingAccount, quote: str) -> Decimal:
    """Today's (UTC) net realised loss, positive, over the owner's accounts of this account's mode, in `quote`."""
    net = fill_net_realized_pnl(owner_id=account.owner_id, mode=account.mode, since=start_of_utc_day(), quote=quote)
    return -net if net < 0 else ZERO


def _risk_verdict(
    *, owner: Any, account: TradingAccount, symbol: Symbol, intent: OrderIntent, position: Position, reference: Decimal, extra_limits: list[LimitSet]
) -> None:
    _, increases = _exposure_after(position.quantity, intent)
    price = intent.price or intent.stop_price or reference
    limits = risk_limits_get(actor=owner)
    user_limits = LimitSet(
        name="Your risk limits",
        max_order_notional=limits.max_order_notional,
        max_position_notional=limits.max_position_notional,
        max_leverage=limits.max_leverage,
        max_open_positions=limits.max_open_positions,
        max_daily_loss=limits.max_daily_loss,
    )
    # The costlier inputs are computed only when a limit needs them.
    needs_positions = limits.max_open_positions is not None or any(extra.max_open_positions is not None for extra in extra_limits)
    needs_losses = limits.max_daily_loss is not None or any(extra.max_daily_loss is not None for extra in extra_limits)
    open_positions = Position.objects.filter(account__owner=owner, account__mode=account.mode).exclude(quantity=0).count() if needs_positions else 0
    resulting = abs(position.quantity + intent.quantity * intent.side.sign) * price
    context = PreTradeContext(
        trading_state=account.trading_state,
        trading_state_reason=account.trading_state_reason,
        order_notional=intent.quantity * price,
        increases_exposure=increases and not intent.reduce_only,
        resulting_position_notional=resulting,
        opens_new_position=position.quantity == 0,
        open_positions=open_positions,
        leverage=intent.leverage,
        realized_loss_today=realized_loss_today(account=account, quote=symbol.quote) if needs_losses else ZERO,
    )
    if symbol.is_perpetual and increases and not intent.reduce_only:
        context = replace(context, resulting_margin=resulting_margin(account=account, symbol=symbol, intent=intent, position=position, reference=reference))
    verdict = check_pre_trade(context, [user_limits, *extra_limits])
    if not verdict.allowed:
        raise RiskRejectedError(verdict.message, extra={"rule": verdict.rule})
    if intent.reduce_only and (position.quantity == 0 or (position.quantity > 0) == (intent.side is OrderSide.BUY) or intent.quantity > abs(position.quantity)):
        raise ValidationError.for_field(
            "reduce_only", "A reduce-only order must be on the closing side and no larger than the open position.", code=OrderErrorCode.REDUCE_ONLY
        )


def _live_mark(symbol: Symbol) -> Decimal | None:
    """The venue's mark price from the live stream's state, if it publishes one (never a REST call here)."""
    from apps.market.live import live_read

    entry = live_read("ticker", symbol.exchange.code, [symbol.slug]).get(symbol.slug)
    mark = entry.data.get("mark") if entry is not None and entry.fresh else None
    return Decimal(str(mark)) if mark else None


def resulting_margin(*, account: TradingAccount, symbol: Symbol, intent: OrderIntent, position: Position, reference: Decimal) -> ResultingMargin:
    """The perpetual position as this order would leave it, valued at the mark it would fill at.

    Market orders and limits that cross fill around the current price and are valued at the
    mark; a resting limit fills at its price; a stop triggers (and is valued) at its stop price.
    """
    from apps.portfolio.presentation import MAINTENANCE_MARGIN_RATE, backing_margin, cross_wallet, posted_margin

    mark = _live_mark(symbol) or reference
    if intent.order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT) and intent.stop_price is not None:
        price = mark = intent.stop_price
    elif intent.price is not None:
        price = min(intent.price, reference) if intent.side is OrderSide.BUY else max(intent.price, reference)
    else:
        price = reference
    held_margin = posted_margin(position) if position.quantity != 0 else ZERO
    quantity, entry, margin = position_after_fill(
        quantity=position.quantity,
        entry_price=position.entry_price,
        margin=held_margin,
        signed_quantity=intent.quantity * intent.side.sign,
        price=price,
        leverage=intent.leverage,
    )
    if intent.margin_mode is MarginMode.CROSS:
        margin = backing_margin(position, cross_wallet(account=account, quote=symbol.quote, marks={symbol.pk: mark}))
    return ResultingMargin(
        symbol=symbol.symbol, quantity=quantity, entry_price=entry, margin=margin, mark=mark, maintenance_margin_rate=MAINTENANCE_MARGIN_RATE
    )


# Submit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderSubmission:
    order: Order
    created: bool  # False: an order with this client_order_id existed (or a concurrent submit inserted it); nothing was placed


def order_submit(*, actor: Any, account: TradingAccount, request: OrderRequest, extra_limits: list[LimitSet] | None = None) -> Order:
    """Place an order. The same client_order_id twice returns the first order and places nothing."""
    return order_submit_once(actor=actor, account=account, request=request, extra_limits=extra_limits).order


def order_submit_once(*, actor: Any, account: TradingAccount, request: OrderRequest, extra_limits: list[LimitSet] | None = None) -> OrderSubmission:
    """`order_submit`, saying whether this call inserted the order: of any number of concurrent
    submits of one client_order_id, exactly one inserts it (the unique constraint decides)."""
    if account.owner_id != actor.pk:
        raise NotFoundError("No such trading account.", extra={"fields": {"account": ["No such trading account."]}})
    chosen_by_caller = bool(request.client_order_id)
    client_order_id = (request.client_order_id or new_client_order_id()).strip()
    if (
        not client_order_id
        or len(client_order_id) > CLIENT_ORDER_ID_MAX
        or not client_order_id.isascii()
        or not client_order_id.replace("-", "").replace("_", "").isalnum()
    ):
        raise ValidationError.for_field("client_order_id", f"Use 1-{CLIENT_ORDER_ID_MAX} ASCII letters, digits, '-' or '_'.")
    if chosen_by_caller:
        earlier = Order.objects.filter(account=account, client_order_id=client_order_id).select_related("symbol", "account").first()
        if earlier is not None:
            return OrderSubmission(earlier, created=False)
    symbol = request.symbol
    if symbol.exchange_id != account.exchange_id:
        raise ValidationError.for_field("symbol", f"{symbol.symbol} is not traded on {account.exchange.name}.")
    if not symbol.active:
        raise ValidationError.for_field("symbol", f"{symbol.symbol} is not active on {account.exchange.name}.")
    if not account.is_paper and (account.api_connection is None or not account.api_connection.is_verified):
        raise ValidationError.for_field(
            "account", "This live account's API connection is not verified; verify it in Settings first.", code=OrderErrorCode.LIVE_NOT_READY
        )

    book = current_book(symbol)
    reference = book.mid or book.best_bid or book.best_ask
    if reference is None:
        raise ValidationError.for_field("symbol", f"{symbol.symbol} has no prices right now.", code=OrderErrorCode.NO_PRICE)
    intent = _intent(request, client_order_id, reference)
    ensure_valid_order(intent, symbol_rules(symbol), reference)
    _validate_attached_exits(intent, request, reference)
    placing = time.perf_counter()
    try:
        placed = _place(
            actor=actor,
            account=account,
            symbol=symbol,
            intent=intent,
            request=request,
            book=book,
            reference=reference,
            extra_limits=extra_limits or [],
        )
    except IntegrityError:
        # A concurrent submit with the same client_order_id won the race: return its order.
        existing = Order.objects.filter(account=account, client_order_id=client_order_id).select_related("symbol", "account").first()
        if existing is None:
            raise
        return OrderSubmission(existing, created=False)
    except RiskRejectedError as exc:
        with transaction.atomic():
            audit_record(
                actor=actor,
                owner=actor,
                action="order.rejected_by_risk",
                summary=f"{intent.side} {intent.quantity} {symbol.symbol}: {exc.message}",
                target=account,
            )
        raise
    if account.is_paper:  # a paper order is matched at once; a live one's send is timed when it reaches the venue
        order_placement_seconds.labels(venue=account.exchange.code, mode="paper").observe(time.perf_counter() - placing)
    return OrderSubmission(placed, created=True)


@transaction.atomic
def _place(
    *,
    actor: Any,
    account: TradingAccount,
    symbol: Symbol,
    intent: OrderIntent,
    request: OrderRequest,
    book: Any,
    reference: Decimal,
    extra_limits: list[LimitSet],
) -> Order:
    # The account row serialises one account's orders; its trading state is read under that lock.
    (locked,) = rows_select(TradingAccount, where={"id": account.pk}, lock=True)
    account.trading_state, account.trading_state_reason = locked.trading_state, locked.trading_state_reason
    held = rows_select(Position, where={"account_id": account.pk, "symbol_id": symbol.pk}, lock=True)
    position = held[0] if held else Position(account=account, symbol=symbol, leverage=intent.leverage, margin_mode=intent.margin_mode.value)
    position.account, position.symbol = account, symbol
    _risk_verdict(owner=actor, account=account, symbol=symbol, intent=intent, position=position, reference=reference, extra_limits=extra_limits)

    adding, _ = _exposure_after(position.quantity, intent)
    asset, amount = required_hold(account=account, symbol=symbol, intent=intent, reference=reference, increases=adding)
    batch = LedgerBatch(account)
    balance = batch.balance(asset)
    if balance.free < amount:
        raise InsufficientBalanceError(
            f"Not enough {asset}: the order needs {amount.quantize(Decimal('0.00000001'))} {asset}, {balance.free.normalize():f} {asset} is free.",
            extra={"fields": {"quantity": [f"Not enough {asset}."]}, "asset": asset, "needed": str(amount), "free": str(balance.free)},
        )
    balance.free -= amount
    balance.locked += amount

    order = Order(
        account=account,
        symbol=symbol,
        client_order_id=intent.client_order_id,
        side=intent.side.value,
        order_type=intent.order_type.value,
        quantity=intent.quantity,
        price=intent.price,
        stop_price=intent.stop_price,
        time_in_force=intent.time_in_force.value,
        post_only=intent.post_only,
        reduce_only=intent.reduce_only,
        leverage=intent.leverage,
        margin_mode=intent.margin_mode.value,
        locked_amount=amount,
        locked_asset=asset,
        source=request.source,
        attached_stop_loss=request.stop_loss,
        attached_take_profit=request.take_profit,
    )
    # The order row is inserted once, as matching left it (a duplicate client_order_id fails
    # here and rolls back this block: a savepoint when a caller's transaction surrounds it).
    if account.is_paper:
        _match_paper_now(order=order, intent=intent, book=book, position=position, batch=batch)
    else:
        order.save()
        from apps.orders.tasks import send_live_order_task

        transaction.on_commit(lambda: send_live_order_task.delay(str(order.pk)))
    batch.save()
    # Recorded last: the event names the status matching left, and the audit chain's lock is held
    # only from here to the commit.
    audit_record(
        actor=actor,
        owner=actor,
        action="order.submitted",
        summary=f"{order}",
        target=order,
        changes={"client_order_id": [None, order.client_order_id], "status": [None, order.status], "filled_quantity": [None, order.filled_quantity]},
    )
    from apps.orders.services.push import push_order_changes

    push_order_changes(order)
    return order


def _engine_for(order: Order) -> MatchingEngine:
    rules = symbol_rules(order.symbol)
    return MatchingEngine(rules, FillModel(fee_schedule(order.account, order.symbol), order.account.slippage_bps, rules))


def _match_paper_now(*, order: Order, intent: OrderIntent, book: Any, position: Position, batch: LedgerBatch) -> None:
    """Execute what can execute now; a resting remainder stays OPEN for the paper matcher."""
    engine = _engine_for(order)
    events = engine.submit(str(order.pk), intent, timezone.now(), book=book, last_price=book.mid)
    apply_engine_events(order=order, events=events, position=position, batch=batch)


def apply_engine_events(*, order: Order, events: list[Any], position: Position | None = None, batch: LedgerBatch | None = None) -> None:
    """Turn matching-engine events for one (locked) order into rows and balances.

    `position` and `batch` are the caller's, if it has them (it then saves the batch).
    """
    own_batch = batch is None
    batch = batch or LedgerBatch(order.account)
    for event in events:
        if isinstance(event, OrderFilled):
            position = position or position_select_for_update(order=order)
            ledger_apply_fill(order=order, fill=event.fill, position=position, batch=batch)
        elif isinstance(event, OrderRejected):
            ledger_finish_order(order=order, status=OrderStatus.REJECTED, reason=event.reason, batch=batch)
        elif isinstance(event, OrderExpired):
            ledger_finish_order(order=order, status=OrderStatus.EXPIRED, reason=event.reason, batch=batch)
    if order.status == OrderStatus.NEW.value and not any(isinstance(e, OrderRejected | OrderExpired) for e in events):
        order.status = OrderStatus.OPEN.value
    if order.status == OrderStatus.FILLED.value:
        ledger_finish_order(order=order, status=OrderStatus.FILLED, batch=batch)
        if position is not None:
            _attach_exits(order, position, batch)
    if own_batch:
        batch.save()
    row_save(order)


def _attach_exits(order: Order, position: Position, batch: LedgerBatch) -> None:
    """An entry with a stop-loss / take-profit: once filled, they become the position's exits."""
    if (order.attached_stop_loss is None and order.attached_take_profit is None) or position.quantity == 0:
        return
    position.stop_loss, position.take_profit = order.attached_stop_loss, order.attached_take_profit
    batch.position_changed(position)


# Cancel ------------------------------------------------------------------------------------


@transaction.atomic
def order_cancel(*, actor: Any, order_id: Any) -> Order:
    orders = Order.objects.select_for_update(of=("self",)).select_related("account", "symbol", "symbol__exchange", "account__exchange")
    order = get_or_not_found(orders, "No such order.", pk=order_id, account__owner=actor)
    if order.status not in OPEN_STATUSES:
        raise OrderNotCancelableError(f"This order is {order.get_status_display().lower()}; only open orders can be canceled.")
    if order.account.is_paper:
        ledger_finish_order(order=order, status=OrderStatus.CANCELED, reason="canceled by you")
        order.save()
    else:
        from apps.orders.tasks import cancel_live_order_task

        order.reject_reason = "cancel requested"
        order.save(update_fields=["reject_reason", "updated_at"])
        transaction.on_commit(lambda: cancel_live_order_task.delay(str(order.pk)))
    audit_record(
        actor=actor,
        owner=order.account.owner,
        action="order.cancel_requested" if not order.account.is_paper else "order.canceled",
        summary=str(order),
        target=order,
    )
    from apps.orders.services.push import push_order_changes

    push_order_changes(order)
    return order
