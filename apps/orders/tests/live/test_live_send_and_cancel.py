"""Sending live orders to the venue, recording its answer, cancelling them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.orders.models import Fill, Order
from apps.orders.services import live
from apps.orders.services.live import live_order_cancel, live_order_send
from apps.orders.services.placement import order_cancel
from apps.portfolio.models import Position

from .conftest import STARTING_USDT, LiveTrader, RetryRequested, retry

pytestmark = pytest.mark.django_db


def _actions(order: Order) -> list[str]:
    return list(AuditEvent.objects.filter(target_id=str(order.pk)).order_by("created_at").values_list("action", flat=True))


def test_a_limit_order_is_sent_once_with_our_client_id_and_acknowledged_open(live_trader: LiveTrader) -> None:
    order = live_trader.submit("LIMIT")
    assert order.status == "NEW"
    hold = order.locked_amount
    assert hold > 0

    assert live_order_send(order_id=str(order.pk), retry=retry) == "OPEN"
    assert live_order_send(order_id=str(order.pk), retry=retry) == "OPEN"  # a redelivered task does nothing

    order.refresh_from_db()
    on_venue = live_trader.venue_orders(order.client_order_id)
    assert len(on_venue) == 1
    assert live_trader.venue.control.count("/api/v3/order") == 1
    assert order.venue_order_id == str(on_venue[0].order_id)
    assert on_venue[0].status == "NEW"
    assert order.status == "OPEN"
    assert order.sent_at is not None
    assert order.acknowledged_at is not None
    assert order.acknowledged_at >= order.sent_at
    assert order.locked_amount == hold
    assert live_trader.balance("USDT").locked == hold
    assert _actions(order) == ["order.submitted", "order.sent", "order.acknowledged"]


def test_cancel_cancels_on_the_venue_and_releases_the_hold(live_trader: LiveTrader) -> None:
    order = live_trader.submit("LIMIT")
    live_order_send(order_id=str(order.pk), retry=retry)
    order_cancel(actor=live_trader.user, order_id=order.pk)  # enqueues the cancel task after commit

    assert live_order_cancel(order_id=str(order.pk), retry=retry) == "CANCELED"

    order.refresh_from_db()
    assert live_trader.venue_orders(order.client_order_id)[0].status == "CANCELED"
    assert order.status == "CANCELED"
    assert order.reject_reason == "canceled by you"
    assert order.closed_at is not None
    assert order.locked_amount == 0
    usdt = live_trader.balance("USDT")
    assert (usdt.free, usdt.locked) == (STARTING_USDT, 0)
    assert _actions(order)[-2:] == ["order.cancel_requested", "order.canceled"]
    assert live_order_cancel(order_id=str(order.pk), retry=retry) == "CANCELED"  # again: nothing to do
    assert live_trader.venue.control.count("/api/v3/order") == 2  # one POST, one DELETE


def test_an_order_canceled_before_it_was_sent_never_reaches_the_venue(live_trader: LiveTrader) -> None:
    order = live_trader.submit("LIMIT")
    order_cancel(actor=live_trader.user, order_id=order.pk)

    assert live_order_cancel(order_id=str(order.pk), retry=retry) == "CANCELED"
    assert live_order_send(order_id=str(order.pk), retry=retry) == "CANCELED"  # the send task, arriving late

    assert live_trader.venue.control.count("/api/v3/order") == 0
    assert live_trader.balance("USDT").locked == 0


def test_a_market_order_the_venue_fills_at_once_records_the_fill_position_and_balances(live_trader: LiveTrader) -> None:
    usdt_on_venue_before = live_trader.state.balances["USDT"][0]
    btc_on_venue_before = live_trader.state.balances["BTC"][0]
    order = live_trader.submit("MARKET", quantity="0.01")

    assert live_order_send(order_id=str(order.pk), retry=retry) == "FILLED"

    order.refresh_from_db()
    venue_order = live_trader.venue_orders(order.client_order_id)[0]
    venue_fill = venue_order.fills[0]
    price, commission = Decimal(venue_fill["price"]), Decimal(venue_fill["commission"])
    assert venue_fill["commissionAsset"] == "BTC"
    assert (order.status, order.filled_quantity, order.average_price) == ("FILLED", Decimal("0.01"), price)
    assert order.locked_amount == 0 and order.closed_at is not None
    fill = Fill.objects.get(order=order)
    assert (fill.quantity, fill.price, fill.liquidity) == (Decimal("0.01"), price, "TAKER")
    assert fill.venue_trade_id == f"{order.venue_order_id}:0.01"
    assert fill.fee == commission * price  # Binance charged the buyer in BTC; the books keep it in USDT
    assert fill.fee_currency == "USDT"
    position = Position.objects.get(account=live_trader.account, symbol=live_trader.btc)
    assert (position.quantity, position.entry_price, position.fees_paid) == (Decimal("0.01"), price, commission * price)
    # Balances moved exactly as the venue's did.
    usdt, btc = live_trader.balance("USDT"), live_trader.balance("BTC")
    assert (usdt.free, usdt.locked) == (STARTING_USDT - Decimal("0.01") * price, 0)
    assert usdt.free - STARTING_USDT == live_trader.state.balances["USDT"][0] - usdt_on_venue_before
    assert (btc.free, btc.locked) == (Decimal("0.01") - commission, 0)
    assert btc.free == live_trader.state.balances["BTC"][0] - btc_on_venue_before
    assert _actions(order) == ["order.submitted", "order.sent", "order.acknowledged", "order.filled"]


def test_a_venue_rejection_ends_rejected_with_the_reason_and_the_hold_released(live_trader: LiveTrader) -> None:
    live_trader.state.balances["USDT"] = [Decimal("10"), Decimal(0)]  # the venue account is nearly empty; ours is not
    order = live_trader.submit("LIMIT")

    assert live_order_send(order_id=str(order.pk), retry=retry) == "REJECTED"

    order.refresh_from_db()
    assert order.status == "REJECTED"
    assert "insufficient balance" in order.reject_reason
    assert order.venue_order_id == ""
    assert order.locked_amount == 0 and order.closed_at is not None
    usdt = live_trader.balance("USDT")
    assert (usdt.free, usdt.locked) == (STARTING_USDT, 0)
    assert live_trader.state.orders == {}
    assert _actions(order)[-1] == "order.rejected"


def test_a_temporary_venue_error_asks_for_a_retry_with_backoff_and_the_retry_asks_the_venue_first(live_trader: LiveTrader) -> None:
    order = live_trader.submit("LIMIT")
    live_trader.venue.control.fail_next(1, 503, path="/api/v3/order")

    with pytest.raises(RetryRequested) as raised:
        live_order_send(order_id=str(order.pk), retry=retry, attempt=2)

    assert 4 <= raised.value.countdown <= 8  # 2 s * 2**2, with jitter in its upper half
    order.refresh_from_db()
    assert (order.status, order.venue_order_id) == ("NEW", "")
    assert order.sent_at is not None
    assert live_trader.venue.control.count("/api/v3/order") == 1  # the gateway did not resend on its own

    assert live_order_send(order_id=str(order.pk), retry=retry, attempt=3) == "OPEN"
    # The retry looked the client id up (GET, not found), then placed it (POST): one order on the venue.
    assert live_trader.venue.control.count("/api/v3/order") == 3
    assert len(live_trader.venue_orders(order.client_order_id)) == 1
    assert [e for e in _actions(order) if e == "order.sent"] == ["order.sent", "order.sent"]


def test_no_transaction_is_open_while_the_venue_is_called_and_sent_at_is_written_first(live_trader: LiveTrader, monkeypatch) -> None:
    order = live_trader.submit("LIMIT")
    depth_in_test = len(connection.atomic_blocks)
    seen = []
    real = live.run_with_gateway

    def spy(code, call, credentials=None):  # type: ignore[no-untyped-def]
        seen.append((len(connection.atomic_blocks), Order.objects.get(pk=order.pk).sent_at))
        return real(code, call, credentials)

    monkeypatch.setattr(live, "run_with_gateway", spy)
    live_order_send(order_id=str(order.pk), retry=retry)

    assert seen and all(depth == depth_in_test for depth, _ in seen)
    assert all(sent_at is not None for _, sent_at in seen)
