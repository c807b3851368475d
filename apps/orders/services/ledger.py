"""Settling executions: every fill changes the order, the position and the balances together.

Callers hold the transaction and have locked the order row. Balances and positions are
locked here, always in the same order (position, then balances by asset), so concurrent
settlements of one account cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from apps.orders.domain.model import Fill as FillValue
from apps.orders.domain.model import OrderStatus
from apps.orders.domain.state_machine import transition
from apps.orders.models import Fill, Order
from apps.portfolio.domain.positions import Position as PositionValue
from apps.portfolio.models import Balance, Position, TradingAccount
from apps.portfolio.services import balance_select_for_update

ZERO = Decimal(0)


@dataclass(frozen=True)
class Settlement:
    fills: int
    realized_pnl: Decimal


class LockedBalances:
    """One account's balance rows in this transaction: each locked and read once, written once by `save`.

    Placing and filling an order touches the same rows several times (hold, spend, release);
    going through this keeps that to one read and one write per asset.
    """

    def __init__(self, account: TradingAccount) -> None:
        self.account = account
        self._rows: dict[str, Balance] = {}

    def get(self, asset: str) -> Balance:
        if asset not in self._rows:
            self._rows[asset] = balance_select_for_update(account=self.account, asset=asset)
        return self._rows[asset]

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add to the free balance; a row not held here is incremented in place without locking it."""
        if asset in self._rows:
            self._rows[asset].free += amount
        elif not Balance.objects.filter(account_id=self.account.pk, asset=asset).update(free=F("free") + amount):
            Balance.objects.create(account_id=self.account.pk, asset=asset, free=amount)

    def save(self) -> None:
        for balance in self._rows.values():
            balance.save(update_fields=["free", "locked", "updated_at"])


def position_select_for_update(*, order: Order) -> Position:
    position, _ = Position.objects.select_for_update().get_or_create(
        account_id=order.account_id, symbol_id=order.symbol_id, defaults={"leverage": order.leverage, "margin_mode": order.margin_mode}
    )
    return position


def _as_value(position: Position, symbol: str) -> PositionValue:
    return PositionValue(
        symbol=symbol,
        quantity=position.quantity,
        entry_price=position.entry_price if position.quantity != 0 else ZERO,
        realized_pnl=position.realized_pnl,
        fees_paid=position.fees_paid,
        funding_paid=position.funding_paid,
    )


def _take_from_order_lock(order: Order, balance: Balance, amount: Decimal) -> None:
    """Spend `amount` of the order's held balance; anything beyond the hold comes from free."""
    from_lock = min(amount, order.locked_amount)
    order.locked_amount -= from_lock
    balance.locked -= from_lock
    balance.free -= amount - from_lock


def release_order_lock(order: Order, balances: LockedBalances) -> None:
    """Return what the order still holds to the free balance (the order has ended)."""
    if order.locked_amount <= 0 or not order.locked_asset:
        return
    balance = balances.get(order.locked_asset)
    released = min(order.locked_amount, balance.locked)
    balance.locked -= released
    balance.free += released
    order.locked_amount = ZERO


def _settle_spot(order: Order, fill: FillValue, base: str, quote: str, balances: LockedBalances) -> None:
    spent, received = (quote, base) if fill.side.value == "BUY" else (base, quote)
    _take_from_order_lock(order, balances.get(spent), fill.notional + fill.fee if fill.side.value == "BUY" else fill.quantity)
    balances.credit(received, fill.quantity if fill.side.value == "BUY" else fill.notional - fill.fee)


def _settle_perpetual(order: Order, fill: FillValue, position: Position, before: PositionValue, after: PositionValue, balance: Balance) -> None:
    held = before.quantity
    reducing = held != 0 and (held > 0) != (fill.side.value == "BUY")
    closed = min(abs(held), fill.quantity) if reducing else ZERO
    opened = fill.quantity - closed
    released = position.isolated_margin * closed / abs(held) if closed else ZERO
    added = opened * fill.price / Decimal(max(order.leverage, 1))
    realized = after.realized_pnl - before.realized_pnl

    balance.locked -= released
    balance.free += released + realized
    # New margin comes out of the order's hold and stays locked, now as position margin.
    from_lock = min(added, order.locked_amount)
    order.locked_amount -= from_lock
    balance.free -= added - from_lock
    balance.locked += added - from_lock
    _pay_fee(order, balance, fill.fee)
    if balance.free < 0:  # a loss beyond the margin: the account is bankrupt on this position
        balance.free = ZERO
    position.isolated_margin = position.isolated_margin - released + added
    position.leverage = order.leverage
    position.margin_mode = order.margin_mode


def _pay_fee(order: Order, balance: Balance, fee: Decimal) -> None:
    if fee <= 0:
        balance.free -= fee  # a rebate
        return
    if balance.free >= fee:
        balance.free -= fee
        return
    _take_from_order_lock(order, balance, fee)


def ledger_apply_fill(*, order: Order, fill: FillValue, position: Position, balances: LockedBalances | None = None) -> Decimal:
    """Record one fill and settle it. Returns the realised P&L it produced.

    With `balances`, the caller saves them; without, they are saved here.
    """
    own_balances = balances is None
    balances = balances or LockedBalances(order.account)
    symbol = order.symbol
    before = _as_value(position, symbol.symbol)
    after = before.apply(fill, fee_in_quote=fill.fee)
    realized = after.realized_pnl - before.realized_pnl
    if symbol.is_perpetual:
        _settle_perpetual(order, fill, position, before, after, balances.get(symbol.quote))
    else:
        _settle_spot(order, fill, symbol.base, symbol.quote, balances)
    if own_balances:
        balances.save()

    if before.quantity == 0 and after.quantity != 0:
        position.opened_at = fill.timestamp
    if after.quantity == 0:
        position.stop_loss = position.take_profit = None
        position.isolated_margin = ZERO
    position.quantity, position.entry_price = after.quantity, after.entry_price
    position.realized_pnl, position.fees_paid = after.realized_pnl, after.fees_paid
    position.save()

    Fill.objects.create(
        executed_at=fill.timestamp,
        order=order,
        account_id=order.account_id,
        symbol_id=order.symbol_id,
        side=fill.side.value,
        price=fill.price,
        quantity=fill.quantity,
        fee=fill.fee,
        fee_currency=fill.fee_currency,
        liquidity=fill.liquidity.value,
        realized_pnl=realized,
        venue_trade_id=fill.trade_id,
    )
    total_before = order.filled_quantity
    order.filled_quantity = total_before + fill.quantity
    order.average_price = ((order.average_price or ZERO) * total_before + fill.price * fill.quantity) / order.filled_quantity
    order.fees += fill.fee
    order.fee_currency = fill.fee_currency
    target = OrderStatus.FILLED if order.filled_quantity >= order.quantity else OrderStatus.PARTIALLY_FILLED
    order.status = transition(OrderStatus(order.status), target).value
    return realized


def ledger_finish_order(*, order: Order, status: OrderStatus, reason: str = "", at: datetime | None = None, balances: LockedBalances | None = None) -> None:
    """Move the order to a final status and release whatever it still holds (saved here unless `balances` is given)."""
    if order.status != status.value:
        order.status = transition(OrderStatus(order.status), status).value
    if reason:
        order.reject_reason = reason[:255]
    if OrderStatus(order.status).is_terminal:
        order.closed_at = at or timezone.now()
        own_balances = balances is None
        balances = balances or LockedBalances(order.account)
        release_order_lock(order, balances)
        if own_balances:
            balances.save()
