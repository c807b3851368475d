"""Reconciliation: the venue is the truth; every difference is brought in line and audited."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.tests.tampering import append_only_trigger_disabled
from apps.exchanges.domain.types import OrderRequest, Side
from apps.orders import tasks
from apps.orders.models import Fill, Order
from apps.orders.services.live import live_accounts_reconcile, live_order_send
from tests.venues import binance
from tests.venues.fixtures import BINANCE_CREDENTIALS, connect

from .conftest import STARTING_USDT, LiveTrader, retry

pytestmark = pytest.mark.django_db


def _place_on_the_venue_directly(trader: LiveTrader, client_order_id: str, price: Decimal) -> None:
    """As the trader would in Binance's own app, behind the platform's back."""

    async def place() -> None:
        async with connect(trader.venue, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            await gateway.create_order(
                OrderRequest(symbol="BTC/USDT", side=Side.BUY, order_type="limit", quantity=Decimal("0.02"), price=price, client_order_id=client_order_id)
            )

    asyncio.run(place())


def _event(action: str, target: object) -> AuditEvent:
    return AuditEvent.objects.get(action=action, target_id=str(target.pk))  # type: ignore[attr-defined]


def test_an_order_placed_directly_on_the_venue_is_adopted_with_a_hold_and_an_audit_event(live_trader: LiveTrader) -> None:
    price = live_trader.resting_buy_price()
    _place_on_the_venue_directly(live_trader, "placed-by-hand", price)

    counts = live_accounts_reconcile()

    assert counts["accounts"] == 1 and counts["adopted"] == 1
    adopted = Order.objects.get(account=live_trader.account, client_order_id="placed-by-hand")
    on_venue = live_trader.venue_orders("placed-by-hand")[0]
    assert (adopted.source, adopted.status, adopted.venue_order_id) == ("system", "OPEN", str(on_venue.order_id))
    assert (adopted.side, adopted.order_type, adopted.quantity, adopted.price) == ("BUY", "LIMIT", Decimal("0.02"), price)
    assert adopted.acknowledged_at is not None and adopted.sent_at is not None
    # What the venue holds for it is held here too, so the platform cannot spend it twice.
    assert (adopted.locked_asset, adopted.locked_amount) == ("USDT", Decimal("0.02") * price)
    usdt = live_trader.balance("USDT")
    assert (usdt.free, usdt.locked) == (STARTING_USDT - Decimal("0.02") * price, Decimal("0.02") * price)
    event = _event("reconciliation.adopted", adopted)
    assert event.changes["ours"] is None
    assert event.changes["venue"]["client_order_id"] == "placed-by-hand"
    assert event.owner_id == live_trader.user.pk

    again = live_accounts_reconcile()
    assert "adopted" not in again
    assert Order.objects.filter(account=live_trader.account).count() == 1


def test_an_order_the_venue_does_not_know_long_after_it_was_sent_is_expired_as_lost(live_trader: LiveTrader) -> None:
    lost, recent = live_trader.submit("LIMIT"), live_trader.submit("LIMIT")
    # Both "sent" (as a worker that died mid-request would leave them), neither ever reached the venue.
    Order.objects.filter(pk=lost.pk).update(sent_at=timezone.now() - timedelta(minutes=5))
    Order.objects.filter(pk=recent.pk).update(sent_at=timezone.now() - timedelta(seconds=30))

    counts = live_accounts_reconcile()

    lost.refresh_from_db()
    recent.refresh_from_db()
    assert counts["lost"] == 1
    assert (lost.status, lost.reject_reason, lost.locked_amount) == ("EXPIRED", "lost by the venue", 0)
    assert lost.closed_at is not None
    assert recent.status == "NEW"  # its send may still be under way
    assert live_trader.balance("USDT").locked == recent.locked_amount
    event = _event("reconciliation.lost", lost)
    assert event.changes["ours"]["status"] == "NEW"
    assert event.changes["venue"] is None
    # The send task, arriving now, leaves it alone.
    assert live_order_send(order_id=str(lost.pk), retry=retry) == "EXPIRED"
    assert live_trader.venue.control.count("/api/v3/order") == 2  # the two lookups by client id; no POST


def test_an_order_never_sent_is_resent_through_the_task_once_then_expired(live_trader: LiveTrader, monkeypatch, django_capture_on_commit_callbacks) -> None:
    order = live_trader.submit("LIMIT")
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    queued: list[str] = []
    monkeypatch.setattr(tasks.send_live_order_task, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        first = live_accounts_reconcile()
    with django_capture_on_commit_callbacks(execute=True):
        second = live_accounts_reconcile()

    assert first["resent"] == 1 and queued == [str(order.pk)]
    assert "resent" not in second and queued == [str(order.pk)]  # once
    assert _event("reconciliation.resent", order).changes["venue"] is None

    # The resend was lost as well (no worker took it up) and two more minutes passed.
    with append_only_trigger_disabled():  # audit events are append-only; only the owner can move one back in time
        AuditEvent.objects.filter(action="reconciliation.resent").update(created_at=timezone.now() - timedelta(minutes=3))
    third = live_accounts_reconcile()

    order.refresh_from_db()
    assert third["unsent"] == 1
    assert (order.status, order.reject_reason, order.locked_amount) == ("EXPIRED", "never reached the venue", 0)
    assert live_trader.venue.control.count("/api/v3/order") == 0


def test_a_fill_that_happened_on_the_venue_later_is_recorded_and_the_status_synced(live_trader: LiveTrader) -> None:
    order = live_trader.submit("LIMIT")
    live_order_send(order_id=str(order.pk), retry=retry)
    # The market comes down to the resting order: the venue fills it (as Binance would).
    venue_order = live_trader.venue_orders(order.client_order_id)[0]
    state, cost = live_trader.state, venue_order.quantity * venue_order.price
    state.move("USDT", Decimal(0), -cost)
    state.move("BTC", venue_order.quantity * (1 - binance.COMMISSION))
    venue_order.locked, venue_order.status = None, "FILLED"
    venue_order.executed, venue_order.quote_executed = venue_order.quantity, cost

    counts = live_accounts_reconcile()

    order.refresh_from_db()
    assert counts["fill"] == 1 and counts["status"] == 1
    assert (order.status, order.filled_quantity, order.average_price, order.locked_amount) == ("FILLED", Decimal("0.01"), venue_order.price, 0)
    fill = Fill.objects.get(order=order)
    assert (fill.price, fill.quantity, fill.liquidity) == (venue_order.price, Decimal("0.01"), "MAKER")
    fill_event = _event("reconciliation.fill", order)
    assert fill_event.changes["ours"]["filled"] == "0"
    assert fill_event.changes["venue"]["filled"] == "0.01"
    assert _event("reconciliation.status", order).changes["ours"]["status"] == "OPEN"
    # Balances end equal to the venue's (the commission the fetched order does not report is settled by the balance sync).
    for asset in ("USDT", "BTC"):
        assert live_trader.balance(asset).total == sum(state.balances[asset]), asset
    assert live_accounts_reconcile().get("fill") is None  # and nothing is counted twice


def test_balances_follow_the_venues_totals_and_keep_the_holds_of_open_orders(live_trader: LiveTrader) -> None:
    order = live_trader.submit("LIMIT")
    live_order_send(order_id=str(order.pk), retry=retry)
    hold = order.locked_amount
    live_trader.state.move("USDT", Decimal("500"))  # a deposit on the venue

    counts = live_accounts_reconcile()

    assert counts["balance"] == 3  # BTC and ETH we did not know of, and the deposit
    usdt, btc = live_trader.balance("USDT"), live_trader.balance("BTC")
    assert (usdt.free, usdt.locked) == (STARTING_USDT + 500 - hold, hold)
    assert (btc.free, btc.locked) == (binance.STARTING_BALANCES["BTC"], 0)
    event = AuditEvent.objects.get(action="reconciliation.balance", target_id=str(live_trader.account.pk), changes__asset="USDT")
    assert {key: Decimal(value) for key, value in event.changes["ours"].items()} == {"free": STARTING_USDT - hold, "locked": hold}
    assert Decimal(event.changes["venue"]["free"]) + Decimal(event.changes["venue"]["locked"]) == STARTING_USDT + 500
    assert "balance" not in live_accounts_reconcile()
