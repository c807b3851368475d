"""Working resting paper orders and position exits against the live trade stream, and
liquidating paper perpetuals (and sending margin calls) at each mark price update.

Run inside `stream_market`, which already sees every trade of the watched symbols. Each
symbol has one MatchingEngine (the same engine and fill model as backtests) holding the
open paper orders; the database stays the source of truth: engines are re-synced from
it every second, and every fill is applied through the ledger in its own transaction
after re-checking the order is still open. A fill the database refused (a deadlock, a
cancelled statement, a lost connection) is kept and applied again at each sync until it
is stored or the order ended elsewhere: the engine never counts as filled an order whose
fill the database does not hold.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from apps.audit.services import audit_record, diff_fields
from apps.exchanges.domain.types import Ticker
from apps.exchanges.enums import MarketTypeChoice
from apps.exchanges.models import Symbol
from apps.orders.domain.fill_model import FillModel
from apps.orders.domain.matching import MatchingEngine
from apps.orders.domain.model import MarginMode, OrderIntent, OrderSide, OrderType, TimeInForce
from apps.orders.enums import OPEN_STATUSES, OrderSource
from apps.orders.models import FundingSettlement, Order
from apps.orders.services.liquidation import (
    liquidation_due,
    margin_call_percent,
    paper_position_liquidate,
    position_margin_call_rearm,
    position_margin_call_record,
)
from apps.orders.services.market_inputs import fee_schedule, symbol_rules
from apps.orders.services.placement import apply_engine_events
from apps.orders.services.push import push_account_changes, push_order_changes
from apps.portfolio.domain.liquidation import check_margin_call
from apps.portfolio.domain.margin import maintenance_margin
from apps.portfolio.models import Balance, Position
from apps.portfolio.presentation import MAINTENANCE_MARGIN_RATE, CrossWallet, backing_margin, position_margin_ratio

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


@dataclass
class SymbolBook:
    engine: MatchingEngine
    order_ids: set[str] = field(default_factory=set)


def _intent_for(order: Order) -> OrderIntent:
    return OrderIntent(
        client_order_id=order.client_order_id,
        symbol=order.symbol.symbol,
        side=OrderSide(order.side),
        order_type=OrderType(order.order_type),
        quantity=order.quantity - order.filled_quantity,
        price=order.price,
        stop_price=order.stop_price,
        time_in_force=TimeInForce(order.time_in_force),
        post_only=False,  # it rested without crossing when placed; it is a maker from here on
        reduce_only=order.reduce_only,
        leverage=order.leverage,
        margin_mode=MarginMode(order.margin_mode),
    )


def open_paper_orders(symbol_ids: list[Any]) -> list[Order]:
    return list(
        Order.objects.filter(symbol_id__in=symbol_ids, status__in=OPEN_STATUSES, account__mode="paper")
        .select_related("symbol", "symbol__exchange", "account")
        .order_by("created_at")
    )


def open_paper_perpetuals(symbol_ids: list[Any]) -> list[Position]:
    """Every open paper position in these perpetuals (checked at each mark price update)."""
    return list(
        Position.objects.filter(symbol_id__in=symbol_ids, account__mode="paper", symbol__market_type=MarketTypeChoice.LINEAR_PERPETUAL)
        .exclude(quantity=0)
        .select_related("symbol", "symbol__exchange", "account", "account__exchange")
    )


def positions_with_exits(symbol_ids: list[Any]) -> list[Position]:
    return list(
        Position.objects.filter(symbol_id__in=symbol_ids, account__mode="paper")
        .exclude(quantity=0)
        .filter(Q(stop_loss__isnull=False) | Q(take_profit__isnull=False))
        .select_related("symbol", "account", "account__owner")
    )


@dataclass
class PaperMatcher:
    books: dict[Any, SymbolBook] = field(default_factory=dict)
    exits: dict[Any, list[Position]] = field(default_factory=lambda: defaultdict(list))
    last_price: dict[Any, Decimal] = field(default_factory=dict)
    perpetuals: dict[Any, list[Position]] = field(default_factory=lambda: defaultdict(list))  # symbol id -> open paper positions
    marks: dict[Any, Decimal] = field(default_factory=dict)  # symbol id -> latest mark price
    wallets: dict[tuple[Any, str], Decimal] = field(default_factory=dict)  # (account id, quote) -> wallet, for cross positions
    retries: dict[str, list[Any]] = field(default_factory=dict)  # order id -> engine events the database has not stored yet

    def forget(self) -> None:
        """Drop the engines' orders and exits: the next sync reads them again from the database
        (after a lost connection). Fills waiting for a retry are kept: the engine already made them."""
        self.books = {}
        self.exits = defaultdict(list)

    def _book_for(self, order: Order) -> SymbolBook:
        book = self.books.get(order.symbol_id)
        if book is None or book.engine.fill_model.fees != fee_schedule(order.account, order.symbol):
            rules = symbol_rules(order.symbol)
            engine = MatchingEngine(rules, FillModel(fee_schedule(order.account, order.symbol), order.account.slippage_bps, rules))
            book = self.books[order.symbol_id] = SymbolBook(engine=engine)
        return book

    def sync(self, symbol_ids: list[Any]) -> None:
        """Store the fills that failed before, load new open orders into the engines, drop those
        that ended elsewhere, refresh exits."""
        self._retry_failed_fills()
        orders = open_paper_orders(symbol_ids)
        wanted = {str(order.pk) for order in orders}
        for book in self.books.values():
            for order_id in list(book.order_ids - wanted):
                book.engine.cancel(order_id, datetime.now(UTC))
                book.order_ids.discard(order_id)
        for order in orders:
            book = self._book_for(order)
            order_id = str(order.pk)
            if order_id in book.order_ids or order_id in self.retries:
                continue
            book.order_ids.add(order_id)
            events = book.engine.submit(
                order_id, _intent_for(order), datetime.now(UTC), book=None, last_price=self.last_price.get(order.symbol_id), resting=True
            )
            self._apply_or_retry(order_id, events)
        self.exits = defaultdict(list)
        for position in positions_with_exits(symbol_ids):
            self.exits[position.symbol_id].append(position)
        self._sync_perpetuals(symbol_ids)

    def _sync_perpetuals(self, symbol_ids: list[Any]) -> None:
        self.perpetuals = defaultdict(list)
        for position in open_paper_perpetuals(symbol_ids):
            self.perpetuals[position.symbol_id].append(position)
        cross_accounts = {p.account_id for positions in self.perpetuals.values() for p in positions if p.margin_mode == "CROSS"}
        self.wallets = {(b.account_id, b.asset): b.total for b in Balance.objects.filter(account_id__in=cross_accounts)} if cross_accounts else {}

    def on_mark(self, symbol: Symbol, ticker: Ticker) -> int:
        """A mark price update (the venue's mark, or the last trade where it publishes none): warn at
        the margin-call threshold and liquidate at a margin ratio of 100 %. Returns the liquidations."""
        mark = ticker.mark if ticker.mark is not None else ticker.last
        previous = self.marks.get(symbol.pk)
        self.marks[symbol.pk] = mark
        positions = list(self.perpetuals.get(symbol.pk, []))
        accounts = {p.account_id for p in positions if p.margin_mode == "CROSS"}
        if accounts:  # a cross position elsewhere in the account moves with this mark too
            positions += [p for other, held in self.perpetuals.items() if other != symbol.pk for p in held if p.account_id in accounts]
        liquidated = 0
        for position in positions:
            own_mark = self.marks.get(position.symbol_id)
            if own_mark is None:
                continue
            try:
                liquidated += self._check_margin(position, own_mark, previous if position.symbol_id == symbol.pk else own_mark, ticker.timestamp)
            except Exception:  # one position's failure must not stop the mark stream or the others' checks
                logger.exception("margin check of %s failed", position)
        return liquidated

    def _cross_for(self, position: Position) -> CrossWallet:
        wallet = self.wallets.get((position.account_id, position.symbol.quote), ZERO)
        others = []
        for held in self.perpetuals.values():
            for other in held:
                if other.account_id == position.account_id and other.pk != position.pk:
                    mark = self.marks.get(other.symbol_id, other.entry_price)
                    others.append(
                        (other.symbol_id, (mark - other.entry_price) * other.quantity, maintenance_margin(abs(other.quantity) * mark, MAINTENANCE_MARGIN_RATE))
                    )
        return CrossWallet(wallet, tuple(others))

    def _check_margin(self, position: Position, mark: Decimal, previous: Decimal | None, at: datetime) -> int:
        cross = self._cross_for(position) if position.margin_mode == "CROSS" else None
        margin = backing_margin(position, cross)
        if liquidation_due(quantity=position.quantity, entry_price=position.entry_price, margin=margin, mark=mark):
            self.perpetuals[position.symbol_id].remove(position)  # until the next sync, whatever happens
            order = paper_position_liquidate(position_id=position.pk, mark=mark, at=at, previous_mark=previous)
            return 1 if order is not None else 0
        ratio = position_margin_ratio(quantity=position.quantity, entry_price=position.entry_price, margin=margin, mark=mark)
        check = check_margin_call(ratio=ratio, threshold_percent=margin_call_percent(), armed=position.margin_call_at is None)
        if check.warn:
            position.margin_call_at = at
            position_margin_call_record(position_id=position.pk, mark=mark, ratio=ratio, at=at)
        elif check.armed and position.margin_call_at is not None:
            position.margin_call_at = None
            position_margin_call_rearm(position_id=position.pk, ratio=ratio)
        return 0

    def on_trade(self, symbol: Symbol, price: Decimal, quantity: Decimal, at: datetime) -> int:
        """Feed one trade; returns how many fills it caused."""
        self.last_price[symbol.pk] = price
        fills = 0
        book = self.books.get(symbol.pk)
        if book is not None and book.order_ids:
            events = book.engine.on_trade(price, quantity, at)
            by_order: dict[str, list[Any]] = defaultdict(list)
            for event in events:
                by_order[event.order_id].append(event)
            for order_id, order_events in by_order.items():
                fills += self._apply_or_retry(order_id, order_events)
                if book.engine.status(order_id) is None or not _still_working(book.engine, order_id):
                    book.order_ids.discard(order_id)
        for position in list(self.exits.get(symbol.pk, [])):
            if _exit_reached(position, price):
                self.exits[symbol.pk].remove(position)
                trigger_position_exit(position_id=position.pk, price=price)
        return fills

    def _apply_or_retry(self, order_id: str, events: list[Any]) -> int:
        """Store the engine's fills, expiries and rejections of one order; returns the fills stored.
        If the database refuses, keep them (after any still waiting) for the next sync."""
        relevant = [e for e in events if type(e).__name__ in ("OrderFilled", "OrderExpired", "OrderRejected")]
        if not relevant:
            return 0
        if order_id in self.retries:
            self.retries[order_id].extend(relevant)
            return 0
        try:
            return apply_paper_events(order_id=order_id, events=relevant)
        except Exception:
            logger.exception("storing the paper fill of order %s failed; retrying at the next sync", order_id)
            self.retries[order_id] = relevant
            return 0

    def _retry_failed_fills(self) -> None:
        """Apply the events the database refused before, oldest first; raises while it still refuses."""
        for order_id in list(self.retries):
            filled = apply_paper_events(order_id=order_id, events=self.retries[order_id])
            del self.retries[order_id]
            logger.info("stored the paper fill of order %s on retry (%d fill(s))", order_id, filled)


def _still_working(engine: MatchingEngine, order_id: str) -> bool:
    status = engine.status(order_id)
    return status is not None and not status.is_terminal


def _exit_reached(position: Position, price: Decimal) -> bool:
    long = position.quantity > 0
    if position.stop_loss is not None and ((long and price <= position.stop_loss) or (not long and price >= position.stop_loss)):
        return True
    return position.take_profit is not None and ((long and price >= position.take_profit) or (not long and price <= position.take_profit))


@transaction.atomic
def apply_paper_events(*, order_id: str, events: list[Any]) -> int:
    """Apply engine events to a paper order if it is still open (it may have been canceled meanwhile)."""
    order = (
        Order.objects.select_for_update(of=("self",)).select_related("symbol", "symbol__exchange", "account", "account__exchange").filter(pk=order_id).first()
    )
    if order is None or order.status not in OPEN_STATUSES:
        return 0
    before = {"status": order.status, "filled_quantity": order.filled_quantity}
    apply_engine_events(order=order, events=events)
    changes = diff_fields(before, {"status": order.status, "filled_quantity": order.filled_quantity})
    if changes:
        action = "order.filled" if "filled_quantity" in changes else f"order.{order.status.lower()}"
        audit_record(actor=None, owner=order.account.owner, action=action, summary=f"{order}", target=order, changes=changes)
    push_order_changes(order)
    return sum(1 for e in events if type(e).__name__ == "OrderFilled")


def trigger_position_exit(*, position_id: Any, price: Decimal) -> Order | None:
    """A stop-loss or take-profit was reached: close the position at market (reduce-only)."""
    from apps.orders.services.positions import position_close

    position = Position.objects.select_related("account", "account__owner", "symbol").filter(pk=position_id).first()
    if position is None or position.quantity == 0:
        return None
    which = (
        "stop-loss"
        if position.stop_loss is not None
        and ((position.quantity > 0 and price <= position.stop_loss) or (position.quantity < 0 and price >= position.stop_loss))
        else "take-profit"
    )
    try:
        order = position_close(actor=position.account.owner, position_id=position.pk, source=OrderSource.SYSTEM)
    except Exception:
        logger.exception("closing %s at its %s failed", position, which)
        return None
    with transaction.atomic():
        audit_record(
            actor=None,
            owner=position.account.owner,
            action=f"position.{which.replace('-', '_')}_triggered",
            summary=f"{position.symbol.symbol} {which} at {price}",
            target=position,
        )
    return order


@transaction.atomic
def _collect_funding(balance: Balance, position: Position, payment: Decimal) -> Decimal:
    """Pay from the free balance, then from the position's own margin, as a venue does; returns
    what was actually paid (a payment received always arrives whole). Money is never created:
    a holder who cannot pay the whole of it pays what it has."""
    if payment <= 0:
        balance.free -= payment
        return payment
    from_free = min(payment, max(balance.free, ZERO))
    from_margin = min(payment - from_free, position.isolated_margin, max(balance.locked, ZERO))
    balance.free -= from_free
    balance.locked -= from_margin
    position.isolated_margin -= from_margin
    return from_free + from_margin


def funding_settle(*, symbol: Symbol, rate: Decimal, mark: Decimal, at: datetime) -> int:
    """Pay or receive one funding interval on every open paper position in a perpetual (once per interval).

    The interval is recorded (`FundingSettlement`, the first rate and mark given for it) for bots to
    settle their own books with."""
    FundingSettlement.objects.get_or_create(symbol=symbol, funding_time=at, defaults={"rate": rate, "mark": mark})
    settled = 0
    positions = Position.objects.select_for_update(of=("self",)).filter(symbol=symbol, account__mode="paper").exclude(quantity=0).select_related("account")
    for position in positions:
        if position.last_funding_at is not None and position.last_funding_at >= at:
            continue
        payment = position.quantity * mark * rate  # > 0: the holder pays
        balance, _ = Balance.objects.select_for_update().get_or_create(account=position.account, asset=symbol.quote)
        payment = _collect_funding(balance, position, payment)
        balance.save(update_fields=["free", "locked", "updated_at"])
        position.funding_paid += payment
        position.last_funding_at = at
        position.save(update_fields=["funding_paid", "isolated_margin", "last_funding_at", "updated_at"])
        push_account_changes(owner_id=position.account.owner_id, account_id=position.account_id, symbol_id=position.symbol_id)
        audit_record(
            actor=None,
            owner=position.account.owner,
            action="position.funding",
            target=position,
            summary=f"{symbol.symbol} funding {rate * 100:.4f} %: {'paid' if payment > 0 else 'received'} {abs(payment).quantize(Decimal('0.00000001'))} {symbol.quote}",
        )
        settled += 1
    return settled
