"""Liquidating paper positions and sending margin calls, by the venue's rule.

The paper matcher (`apps.orders.services.paper`) watches the margin ratio of every open paper
perpetual at each mark price update and calls these services when a position reaches its
margin-call threshold or 100 % (liquidation). The rule and the fill are the pure domain
functions of `apps.portfolio.domain.liquidation`, the same ones the backtest engine uses.

A liquidation is one transaction: the position's open orders are canceled (their holds
released), the position is closed by a system order filled with `liquidity=LIQUIDATION` at the
liquidation price (or the mark, when the mark was first seen beyond it), the venue's
liquidation fee is charged, isolated margin is lost whole, and an audit event is written;
the pages hear of it after commit.

The fill's realised P&L includes the isolated margin the venue keeps beyond the price loss
and the fee, so realised P&L less fees is exactly what the wallet lost.

Live accounts: a liquidation the venue reports (an order update flagged as one, or an entry
of its force-order history found by reconciliation) is recorded the same way by
`live_liquidation_record`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.domain.formatting import money
from apps.core.domain.ids import uuid7
from apps.exchanges.domain.types import VenueOrder
from apps.exchanges.models import Symbol
from apps.orders.domain.liquidation_settings import DEFAULT_LIQUIDATION_FEE_RATES, checked_liquidation_fee_rates, checked_margin_call_percent
from apps.orders.domain.model import Fill as FillValue
from apps.orders.domain.model import Liquidity, OrderSide, OrderStatus
from apps.orders.enums import OPEN_STATUSES, FillLiquidityChoice, OrderSource
from apps.orders.models import Fill, Order
from apps.orders.services.ledger import LedgerBatch, ledger_apply_fill, ledger_finish_order
from apps.orders.services.push import push_account_changes
from apps.portfolio.domain.liquidation import Liquidation, liquidate, liquidation_reached
from apps.portfolio.domain.margin import is_liquidatable, liquidation_price, maintenance_margin, margin_balance
from apps.portfolio.models import Position, TradingAccount
from apps.portfolio.presentation import MAINTENANCE_MARGIN_RATE, CrossWallet, backing_margin, cross_wallet, position_margin_ratio

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
ONE_HUNDRED = Decimal(100)
CANCELED_BY_LIQUIDATION = "canceled: the position was liquidated"


# Settings ------------------------------------------------------------------------------------


def margin_call_percent() -> Decimal:
    """`MARGIN_CALL_PERCENT`, checked (strictly between 0 and 100)."""
    try:
        return checked_margin_call_percent(getattr(settings, "MARGIN_CALL_PERCENT", 80))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def liquidation_fee_rate(exchange_code: str) -> Decimal:
    """The venue's liquidation fee from `LIQUIDATION_FEE_RATES`, checked (never below zero)."""
    try:
        rates = checked_liquidation_fee_rates(getattr(settings, "LIQUIDATION_FEE_RATES", DEFAULT_LIQUIDATION_FEE_RATES))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    return rates.get(exchange_code.upper(), ZERO)


# The rule ------------------------------------------------------------------------------------


def liquidation_due(*, quantity: Decimal, entry_price: Decimal, margin: Decimal, mark: Decimal) -> bool:
    """The venue's rule: liquidated once maintenance margin >= margin balance (ratio 100 %), never before.

    Exact (products and sums only), so the boundary is decided without rounding.
    """
    if quantity == 0:
        return False
    maintenance = maintenance_margin(abs(quantity) * mark, MAINTENANCE_MARGIN_RATE)
    return is_liquidatable(maintenance, margin_balance(margin, (mark - entry_price) * quantity))


def liquidation_price_on_tick(*, symbol: Symbol, quantity: Decimal, entry_price: Decimal, margin: Decimal) -> Decimal | None:
    """The liquidation price rounded to the tick towards the entry (the safe side), as the ledger records it."""
    price = liquidation_price(quantity=quantity, entry_price=entry_price, margin=margin, maintenance_margin_rate=MAINTENANCE_MARGIN_RATE)
    if price is None:
        return None
    return symbol.round_price(price, "up" if quantity > 0 else "down")


def liquidation_for(*, position: Position, margin: Decimal, wallet: Decimal, mark: Decimal, previous_mark: Decimal | None) -> Liquidation:
    """What liquidating `position` at `mark` fills and costs (the domain's `liquidate`).

    The mark moves continuously: when the previous mark was still short of the liquidation
    price, the venue's engine took over as the mark passed it and the fill is at that price;
    a mark first seen beyond it (no previous one, or one already beyond) fills at the mark.
    """
    quantity = position.quantity
    price = liquidation_price_on_tick(symbol=position.symbol, quantity=quantity, entry_price=position.entry_price, margin=margin) or mark
    reference = mark
    if previous_mark is not None and not liquidation_reached(quantity=quantity, liquidation_price=price, adverse_price=previous_mark):
        reference = previous_mark
    isolated = position.margin_mode != "CROSS"
    return liquidate(
        quantity=quantity,
        entry_price=position.entry_price,
        liquidation_price=price,
        reference_price=reference,
        fee_rate=liquidation_fee_rate(position.account.exchange.code),
        isolated=isolated,
        margin=margin if isolated else max(wallet, ZERO),
    )


# Liquidation ---------------------------------------------------------------------------------


def _position_for_update(position_id: Any) -> Position | None:
    return (
        Position.objects.select_for_update(of=("self",))
        .select_related("symbol", "symbol__exchange", "account", "account__owner", "account__exchange")
        .filter(pk=position_id, account__mode="paper")
        .first()
    )


def _cancel_open_orders(position: Position, batch: LedgerBatch, at: datetime) -> list[Order]:
    orders = list(
        Order.objects.select_for_update(of=("self",))
        .select_related("symbol", "symbol__exchange", "account", "account__exchange")
        .filter(account_id=position.account_id, symbol_id=position.symbol_id, status__in=OPEN_STATUSES)
        .order_by("created_at")
    )
    for order in orders:
        ledger_finish_order(order=order, status=OrderStatus.CANCELED, reason=CANCELED_BY_LIQUIDATION, at=at, batch=batch)
        order.save()
    return orders


def _settle(position: Position, result: Liquidation, batch: LedgerBatch) -> None:
    """The wallet loses what the domain says; the position's margin leaves the locked balance."""
    balance = batch.balance(position.symbol.quote)
    posted = min(position.isolated_margin, balance.locked)
    balance.locked -= posted
    if position.margin_mode == "CROSS":
        balance.free += posted + result.wallet_change
        if balance.free < 0:  # the venue's insurance fund covers what the wallet cannot
            balance.free = ZERO
    elif posted < -result.wallet_change:  # margin recorded short of the loss: the rest comes from free, never below zero
        balance.free = max(balance.free - (-result.wallet_change - posted), ZERO)


def paper_position_liquidate(*, position_id: Any, mark: Decimal, at: datetime, previous_mark: Decimal | None = None) -> Order | None:
    """Liquidate a paper perpetual position if, re-read under its lock, its margin ratio at `mark` is 100 % or more.

    Returns the liquidation order, or None when the position is not (or no longer) due.
    """
    with transaction.atomic():
        position = _position_for_update(position_id)
        if position is None or position.quantity == 0 or not position.symbol.is_perpetual:
            return None
        cross: CrossWallet | None = None
        if position.margin_mode == "CROSS":
            cross = cross_wallet(account=position.account, quote=position.symbol.quote, marks={position.symbol_id: mark})
        margin = backing_margin(position, cross)
        if not liquidation_due(quantity=position.quantity, entry_price=position.entry_price, margin=margin, mark=mark):
            return None
        ratio = position_margin_ratio(quantity=position.quantity, entry_price=position.entry_price, margin=margin, mark=mark)
        result = liquidation_for(position=position, margin=margin, wallet=cross.wallet if cross else ZERO, mark=mark, previous_mark=previous_mark)
        batch = LedgerBatch(position.account)
        canceled = _cancel_open_orders(position, batch, at)
        _settle(position, result, batch)
        order = _record_liquidation(position, result, at, batch)
        before = {"quantity": str(position.quantity), "entry_price": str(position.entry_price), "isolated_margin": str(position.isolated_margin)}
        _close_position(position, result)
        batch.save()
        symbol = position.symbol
        audit_record(
            actor=None,
            owner=position.account.owner,
            action="position.liquidated",
            summary=(
                f"{symbol.symbol} {'long' if result.is_long else 'short'} {abs(result.quantity).normalize():f} liquidated at "
                f"{result.price.normalize():f} (mark {mark.normalize():f}, margin ratio {_percent(ratio)}): "
                f"{money(-result.wallet_change)} {symbol.quote} lost, fee {money(result.fee)} {symbol.quote}"
            ),
            target=position,
            changes={
                **{name: [value, "0" if name != "entry_price" else value] for name, value in before.items()},
                "fill_price": [None, str(result.price)],
                "fee": [None, str(result.fee)],
                "forfeited_margin": [None, str(result.forfeited_margin)],
                "canceled_orders": [None, [str(o.pk) for o in canceled]],
            },
        )
        push_account_changes(owner_id=position.account.owner_id, account_id=position.account_id, symbol_id=position.symbol_id, orders_changed=True)
    logger.info("liquidated %s at %s", position, result.price)
    return order


def _record_liquidation(position: Position, result: Liquidation, at: datetime, batch: LedgerBatch) -> Order:
    symbol = position.symbol
    quantity = abs(result.quantity)
    order = Order.objects.create(
        account=position.account,
        symbol=symbol,
        client_order_id=f"liq{uuid7().hex[:30]}",
        side="SELL" if result.is_long else "BUY",
        order_type="MARKET",
        quantity=quantity,
        reduce_only=True,
        leverage=position.leverage,
        margin_mode=position.margin_mode,
        status=OrderStatus.FILLED.value,
        filled_quantity=quantity,
        average_price=result.price,
        fees=result.fee,
        fee_currency=symbol.quote,
        reject_reason=f"liquidated: margin ratio reached 100 % (fee {result.fee.normalize():f} {symbol.quote})"[:255],
        source=OrderSource.SYSTEM,
        closed_at=at,
    )
    batch.fill_recorded(
        Fill(
            executed_at=at,
            order=order,
            account_id=position.account_id,
            symbol_id=symbol.pk,
            side=order.side,
            price=result.price,
            quantity=quantity,
            fee=result.fee,
            fee_currency=symbol.quote,
            liquidity=FillLiquidityChoice.LIQUIDATION,
            realized_pnl=result.wallet_change + result.fee,
            venue_trade_id=f"{order.client_order_id}-0",
        )
    )
    return order


def _close_position(position: Position, result: Liquidation) -> None:
    position.realized_pnl += result.wallet_change + result.fee
    position.fees_paid += result.fee
    position.quantity = ZERO
    position.isolated_margin = ZERO
    position.stop_loss = position.take_profit = None
    position.margin_call_at = None
    position.save(update_fields=["quantity", "realized_pnl", "fees_paid", "isolated_margin", "stop_loss", "take_profit", "margin_call_at", "updated_at"])


def _percent(ratio: Decimal) -> str:
    if not ratio.is_finite():
        return "over 100 %"
    return f"{(ratio * ONE_HUNDRED).quantize(Decimal('0.01'))} %"


# Margin calls --------------------------------------------------------------------------------


@transaction.atomic
def position_margin_call_record(*, position_id: Any, mark: Decimal, ratio: Decimal, at: datetime) -> bool:
    """The margin ratio crossed the threshold: one warning (an audit event and a push) per crossing.

    Returns False when this crossing was already warned about (`margin_call_at` is set).
    """
    position = _position_for_update(position_id)
    if position is None or position.quantity == 0 or position.margin_call_at is not None:
        return False
    position.margin_call_at = at
    position.save(update_fields=["margin_call_at", "updated_at"])
    symbol = position.symbol
    audit_record(
        actor=None,
        owner=position.account.owner,
        action="position.margin_call",
        summary=(
            f"Margin call: {symbol.symbol} margin ratio {_percent(ratio)} at the mark {mark.normalize():f} "
            f"(warning at {margin_call_percent().normalize():f} %, liquidation at 100 %)"
        ),
        target=position,
        changes={"margin_ratio_percent": [None, str((ratio * ONE_HUNDRED).quantize(Decimal("0.01"))) if ratio.is_finite() else "inf"]},
    )
    push_account_changes(owner_id=position.account.owner_id, account_id=position.account_id, symbol_id=position.symbol_id)
    return True


@transaction.atomic
def position_margin_call_rearm(*, position_id: Any, ratio: Decimal) -> bool:
    """The ratio fell back below the threshold: the next crossing warns again."""
    position = _position_for_update(position_id)
    if position is None or position.margin_call_at is None:
        return False
    position.margin_call_at = None
    position.save(update_fields=["margin_call_at", "updated_at"])
    audit_record(
        actor=None,
        owner=position.account.owner,
        action="position.margin_call_cleared",
        summary=f"{position.symbol.symbol} margin ratio back below the margin-call threshold ({_percent(ratio)})",
        target=position,
    )
    return True


# Live: liquidations the venue reports --------------------------------------------------------


def live_liquidation_record(*, account: TradingAccount, venue: VenueOrder) -> Order | None:
    """Record a liquidation the venue reports (its user-data stream or its force-order history).

    The same way as a paper liquidation: a system order filled with `liquidity=LIQUIDATION`
    closes the position (through the ledger), an audit event and a push. Recorded once: the
    venue's order id is the order's client id here. The venue's balances, which reconciliation
    takes as the truth, carry its fee and the margin it kept. Returns None when there is nothing
    to record (already recorded, not a perpetual we know, or no open position on the closing side).
    """
    symbol = Symbol.objects.select_related("exchange").filter(exchange_id=account.exchange_id, symbol=venue.symbol).first()
    price = venue.average_price or venue.price
    if symbol is None or not symbol.is_perpetual or price is None or venue.filled <= 0:
        logger.warning("liquidation %s on %s not recorded: no perpetual %s or no fill", venue.venue_order_id, account.exchange.code, venue.symbol)
        return None
    client_order_id = (venue.client_order_id or f"autoclose-{venue.venue_order_id}")[:64]
    with transaction.atomic():
        if Order.objects.filter(account=account, client_order_id=client_order_id).exists():
            return None
        position = Position.objects.select_for_update().filter(account=account, symbol=symbol).first()
        closing_side = "SELL" if position is not None and position.quantity > 0 else "BUY"
        if position is None or position.quantity == 0 or str(venue.side).upper() != closing_side:
            logger.warning("liquidation %s on %s not recorded: no open %s position it closes", venue.venue_order_id, account.exchange.code, venue.symbol)
            return None
        quantity = min(venue.filled, abs(position.quantity))
        order = Order.objects.create(
            account=account,
            symbol=symbol,
            client_order_id=client_order_id,
            venue_order_id=venue.venue_order_id[:64],
            side=closing_side,
            order_type="MARKET",
            quantity=quantity,
            reduce_only=True,
            leverage=position.leverage,
            margin_mode=position.margin_mode,
            source=OrderSource.SYSTEM,
            reject_reason=f"liquidated by {account.exchange.name}",
            sent_at=venue.timestamp,
            acknowledged_at=venue.timestamp,
        )
        order.account, order.symbol = account, symbol
        before = {"quantity": str(position.quantity), "entry_price": str(position.entry_price)}
        fill = FillValue(
            order_id=str(order.pk),
            symbol=symbol.symbol,
            side=OrderSide(closing_side),
            price=price,
            quantity=quantity,
            fee=venue.fee or ZERO,
            fee_currency=symbol.quote,
            liquidity=Liquidity.LIQUIDATION,
            timestamp=venue.timestamp,
            trade_id=f"{client_order_id}-0"[:64],
        )
        realized = ledger_apply_fill(order=order, fill=fill, position=position)
        ledger_finish_order(order=order, status=OrderStatus.FILLED, at=venue.timestamp)
        order.save()
        position.margin_call_at = None
        position.save(update_fields=["margin_call_at", "updated_at"])
        audit_record(
            actor=None,
            owner=account.owner,
            action="position.liquidated",
            summary=(
                f"{symbol.symbol} {'long' if closing_side == 'SELL' else 'short'} {quantity.normalize():f} liquidated by "
                f"{account.exchange.name} at {price.normalize():f}: realised {money(realized)} {symbol.quote}"
            ),
            target=position,
            changes={**{name: [value, str(getattr(position, name))] for name, value in before.items()}, "venue_order_id": [None, venue.venue_order_id]},
        )
        push_account_changes(owner_id=account.owner_id, account_id=account.pk, symbol_id=symbol.pk, orders_changed=True)
    return order
