"""Settling executions: every fill changes the order, the position and the balances together.

Callers hold the transaction and have locked the order row. Balances and positions are
locked here, always in the same order (position, then balances by asset), so concurrent
settlements of one account cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.core.rows import row_save, row_update, rows_add, rows_insert
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


class LedgerBatch:
    """The rows one settlement changes, written once each by `save`.

    Placing and filling an order touches the same rows many times: a hold, then every fill of
    a walk down the book spends from it, credits the other asset and moves the position. Each
    balance is locked and read once; fills, positions and credits are written at the end (fills
    in one INSERT), so an order that takes 40 book levels costs a handful of statements.
    """

    def __init__(self, account: TradingAccount) -> None:
        self.account = account
        self._balances: dict[str, Balance] = {}
        self._credits: dict[str, Decimal] = {}
        self._positions: dict[Any, Position] = {}
        self._fills: list[Fill] = []

    def balance(self, asset: str) -> Balance:
        """The balance row, locked (created empty if the asset is new)."""
        if asset not in self._balances:
            row = balance_select_for_update(account=self.account, asset=asset)
            row.free += self._credits.pop(asset, ZERO)
            self._balances[asset] = row
        return self._balances[asset]

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add to the free balance; a row not held here is incremented in place at `save`, without a lock."""
        if asset in self._balances:
            self._balances[asset].free += amount
        else:
            self._credits[asset] = self._credits.get(asset, ZERO) + amount

    def position_changed(self, position: Position) -> None:
        self._positions[position.pk] = position

    def fill_recorded(self, row: Fill) -> None:
        self._fills.append(row)

    def save(self) -> None:
        for position in self._positions.values():
            row_save(position)
        rows_insert(self._fills)
        for balance in self._balances.values():
            row_update(balance, ["free", "locked"])
        for asset, amount in self._credits.items():
            if not rows_add(Balance, "free", amount, where={"account_id": self.account.pk, "asset": asset}):
                Balance.objects.create(account_id=self.account.pk, asset=asset, free=amount)
        self._positions, self._fills, self._credits = {}, [], {}


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


def release_order_lock(order: Order, batch: LedgerBatch) -> None:
    """Return what the order still holds to the free balance (the order has ended)."""
    if order.locked_amount <= 0 or not order.locked_asset:
        return
    balance = batch.balance(order.locked_asset)
    released = min(order.locked_amount, balance.locked)
    balance.locked -= released
    balance.free += released
    order.locked_amount = ZERO


def _settle_spot(order: Order, fill: FillValue, base: str, quote: str, batch: LedgerBatch) -> None:
    spent, received = (quote, base) if fill.side.value == "BUY" else (base, quote)
    _take_from_order_lock(order, batch.balance(spent), fill.notional + fill.fee if fill.side.value == "BUY" else fill.quantity)
    batch.credit(received, fill.quantity if fill.side.value == "BUY" else fill.notional - fill.fee)


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


def ledger_apply_fill(*, order: Order, fill: FillValue, position: Position, batch: LedgerBatch | None = None) -> Decimal:
    """Record one fill and settle it. Returns the realised P&L it produced.

    With `batch`, the caller saves it; without, the rows are written here.
    """
    own_batch = batch is None
    batch = batch or LedgerBatch(order.account)
    symbol = order.symbol
    before = _as_value(position, symbol.symbol)
    after = before.apply(fill, fee_in_quote=fill.fee)
    realized = after.realized_pnl - before.realized_pnl
    if symbol.is_perpetual:
        _settle_perpetual(order, fill, position, before, after, batch.balance(symbol.quote))
    else:
        _settle_spot(order, fill, symbol.base, symbol.quote, batch)

    if before.quantity == 0 and after.quantity != 0:
        position.opened_at = fill.timestamp
    if after.quantity == 0:
        position.stop_loss = position.take_profit = None
        position.isolated_margin = ZERO
    position.quantity, position.entry_price = after.quantity, after.entry_price
    position.realized_pnl, position.fees_paid = after.realized_pnl, after.fees_paid
    batch.position_changed(position)
    batch.fill_recorded(
        Fill(
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
    )
    if own_batch:
        batch.save()
    total_before = order.filled_quantity
    order.filled_quantity = total_before + fill.quantity
    order.average_price = ((order.average_price or ZERO) * total_before + fill.price * fill.quantity) / order.filled_quantity
    order.fees += fill.fee
    order.fee_currency = fill.fee_currency
    target = OrderStatus.FILLED if order.filled_quantity >= order.quantity else OrderStatus.PARTIALLY_FILLED
    order.status = transition(OrderStatus(order.status), target).value
    return realized


def ledger_finish_order(*, order: Order, status: OrderStatus, reason: str = "", at: datetime | None = None, batch: LedgerBatch | None = None) -> None:
    """Move the order to a final status and release whatever it still holds (written here unless `batch` is given)."""
    if order.status != status.value:
        order.status = transition(OrderStatus(order.status), status).value
    if reason:
        order.reject_reason = reason[:255]
    if OrderStatus(order.status).is_terminal:
        order.closed_at = at or timezone.now()
        own_batch = batch is None
        batch = batch or LedgerBatch(order.account)
        release_order_lock(order, batch)
        if own_batch:
            batch.save()
