"""Liquidations the venue reports on a live account, recorded the same way by the user-data
stream and by reconciliation (against the local Binance's USDⓈ-M force-order history)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.exchanges.domain.types import Side, VenueOrder
from apps.exchanges.models import Symbol
from apps.orders.models import Fill, Order
from apps.orders.services.live import live_accounts_reconcile
from apps.orders.services.live_stream import live_order_streamed
from apps.portfolio.models import Balance, Position
from tests.venues import binance

from .conftest import LiveTrader

pytestmark = pytest.mark.django_db
ENTRY = Decimal(60000)
MARGIN = Decimal(120)


@pytest.fixture
def perp_long(live_trader: LiveTrader) -> Position:
    """A 5x isolated long of 0.01 BTC held on the venue for an hour."""
    perp = Symbol.objects.get(exchange=live_trader.account.exchange, symbol="BTC/USDT:USDT")
    Balance.objects.filter(account=live_trader.account, asset="USDT").update(
        free=Balance.objects.get(account=live_trader.account, asset="USDT").free - MARGIN, locked=MARGIN
    )
    return Position.objects.create(
        account=live_trader.account,
        symbol=perp,
        quantity=Decimal("0.01"),
        entry_price=ENTRY,
        leverage=5,
        isolated_margin=MARGIN,
        opened_at=timezone.now() - timedelta(hours=1),
    )


def _venue_liquidation(row: dict, symbol: str = "BTC/USDT:USDT") -> VenueOrder:
    """The order update the venue's stream sends for a liquidation order (as the gateway converts it)."""
    return VenueOrder(
        venue_order_id=str(row["orderId"]),
        client_order_id=row["clientOrderId"],
        symbol=symbol,
        side=Side(row["side"].lower()),
        order_type="limit",
        status="closed",
        price=Decimal(row["price"]),
        stop_price=None,
        quantity=Decimal(row["origQty"]),
        filled=Decimal(row["executedQty"]),
        average_price=Decimal(row["avgPrice"]),
        fee=None,
        fee_currency=None,
        timestamp=timezone.now(),
    )


def _assert_liquidated(trader: LiveTrader, position: Position, price: Decimal) -> Fill:
    position.refresh_from_db()
    assert position.quantity == 0
    fill = Fill.objects.get(account=trader.account, liquidity="LIQUIDATION")
    assert (fill.side, fill.price, fill.quantity) == ("SELL", price, Decimal("0.01"))
    assert fill.realized_pnl == (price - ENTRY) * Decimal("0.01")
    order = Order.objects.get(pk=fill.order_id)
    assert (order.status, order.source, order.reduce_only) == ("FILLED", "system", True)
    assert order.reject_reason == "liquidated by Binance"
    assert AuditEvent.objects.filter(owner=trader.user, action="position.liquidated", target_id=str(position.pk)).count() == 1
    return fill


def test_reconciliation_records_a_liquidation_from_the_venues_force_order_history(live_trader: LiveTrader, perp_long: Position) -> None:
    row = binance.force_liquidation(live_trader.state, symbol="BTCUSDT", side="SELL", quantity=Decimal("0.01"), price=Decimal(48120))

    counts = live_accounts_reconcile()

    assert counts["liquidated"] == 1, counts
    fill = _assert_liquidated(live_trader, perp_long, Decimal(48120))
    assert Order.objects.get(pk=fill.order_id).client_order_id == row["clientOrderId"]
    assert "liquidated" not in live_accounts_reconcile()  # recorded once
    assert Fill.objects.filter(account=live_trader.account, liquidity="LIQUIDATION").count() == 1


def test_a_liquidation_from_before_the_position_opened_is_not_applied_to_it(live_trader: LiveTrader, perp_long: Position) -> None:
    earlier = int((perp_long.opened_at - timedelta(days=1)).timestamp() * 1000)
    binance.force_liquidation(live_trader.state, symbol="BTCUSDT", side="SELL", quantity=Decimal("0.01"), price=Decimal(48120), at_ms=earlier)

    assert "liquidated" not in live_accounts_reconcile()
    perp_long.refresh_from_db()
    assert perp_long.quantity == Decimal("0.01")


def test_the_user_data_stream_records_a_liquidation_order_update_once(live_trader: LiveTrader, perp_long: Position) -> None:
    row = binance.force_liquidation(live_trader.state, symbol="BTCUSDT", side="SELL", quantity=Decimal("0.01"), price=Decimal(48050))
    update = _venue_liquidation(row)
    assert update.is_liquidation

    assert live_order_streamed(account_id=live_trader.account.pk, venue=update) == "liquidated"
    assert live_order_streamed(account_id=live_trader.account.pk, venue=update) == "unchanged"

    _assert_liquidated(live_trader, perp_long, Decimal(48050))
    assert "liquidated" not in live_accounts_reconcile()  # the stream and reconciliation record it the same way, once


def test_an_unknown_final_order_that_is_not_a_liquidation_is_still_ignored(live_trader: LiveTrader, perp_long: Position) -> None:
    row = binance.force_liquidation(live_trader.state, symbol="BTCUSDT", side="SELL", quantity=Decimal("0.01"), price=Decimal(48050))
    ordinary = _venue_liquidation({**row, "clientOrderId": "placed-in-the-app"})
    assert not ordinary.is_liquidation

    assert live_order_streamed(account_id=live_trader.account.pk, venue=ordinary) == "ignored"
    perp_long.refresh_from_db()
    assert perp_long.quantity == Decimal("0.01")
