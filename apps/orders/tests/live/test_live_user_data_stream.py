"""Live orders kept in sync from the venue's user-data stream (the local Binance's WebSocket API)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from apps.audit.models import AuditEvent
from apps.exchanges.domain.types import OrderRequest, Side
from apps.exchanges.models import ApiConnection
from apps.orders.models import Fill, Order
from apps.orders.services.live import live_order_send
from apps.orders.services.live_stream import UserDataFollower, UserDataStreams, user_data_accounts
from apps.orders.tests.factories import TradingAccountFactory
from apps.portfolio.models import Position
from tests.venues import binance
from tests.venues.fixtures import BINANCE_CREDENTIALS, connect

from .conftest import STARTING_USDT, LiveTrader, retry

pytestmark = pytest.mark.django_db
WAIT_SECONDS = 10.0


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


def _following(trader: LiveTrader, scenario: Callable[[UserDataFollower], Awaitable[Any]]) -> UserDataFollower:
    """Run the account's follower (on this thread's database connection) while `scenario` moves the venue."""

    async def run() -> UserDataFollower:
        stop = asyncio.Event()
        follower = UserDataFollower(trader.account.pk, "BINANCE", backoff_base=0.05)
        task = asyncio.create_task(follower.run(stop))
        try:
            await _until(lambda: _true(follower.opened == 1), "the follower subscribed and caught up")
            assert len(trader.state.subscribers) == 1
            await scenario(follower)
        finally:
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return follower

    return async_to_sync(run)()


async def _true(value: bool) -> bool:
    return value


def _resting_order_on_the_venue(trader: LiveTrader) -> tuple[Order, binance.SpotOrder]:
    order = trader.submit("LIMIT")
    assert live_order_send(order_id=str(order.pk), retry=retry) == "OPEN"
    (on_venue,) = trader.venue_orders(order.client_order_id)
    return order, on_venue


def _status(order_id: Any) -> Callable[[], Awaitable[str]]:
    return sync_to_async(lambda: Order.objects.get(pk=order_id).status)


def test_a_fill_on_the_venue_reaches_the_order_position_and_balances_at_once(live_trader: LiveTrader) -> None:
    order, on_venue = _resting_order_on_the_venue(live_trader)
    price = order.price
    assert price is not None

    async def scenario(follower: UserDataFollower) -> None:
        binance.fill_resting_order(live_trader.state, on_venue, price)  # the market trades through it
        status = _status(order.pk)
        await _until(lambda: _equals(status, "FILLED"), "the order is filled")

    follower = _following(live_trader, scenario)

    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_price, order.locked_amount) == ("FILLED", Decimal("0.01"), price, 0)
    (fill,) = Fill.objects.filter(order=order)
    assert (fill.quantity, fill.price) == (Decimal("0.01"), price)
    assert fill.fee == (Decimal("0.00001") * price).quantize(Decimal("1e-12"))  # 0.1 % in BTC, valued in USDT
    assert Position.objects.get(account=live_trader.account, symbol=live_trader.btc).quantity == Decimal("0.01")
    usdt, btc = live_trader.balance("USDT"), live_trader.balance("BTC")
    assert (usdt.free, usdt.locked) == (STARTING_USDT - Decimal("0.01") * price, 0)
    # the venue's 0.5 BTC (brought in by the catch-up on opening), plus what was bought less the venue's fee in BTC
    assert btc.free == binance.STARTING_BALANCES["BTC"] + Decimal("0.01") - Decimal("0.00001") == live_trader.state.free("BTC")
    assert AuditEvent.objects.filter(action="order.filled", target_id=str(order.pk)).exists()
    assert follower.applied == 1


async def _equals(read: Callable[[], Awaitable[Any]], expected: Any) -> bool:
    return await read() == expected


def test_a_cancel_in_the_venues_own_app_ends_the_order_and_releases_its_hold(live_trader: LiveTrader) -> None:
    order, _ = _resting_order_on_the_venue(live_trader)

    async def scenario(follower: UserDataFollower) -> None:
        async with connect(live_trader.venue, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            await gateway.cancel_order("BTC/USDT", client_order_id=order.client_order_id)
        status = _status(order.pk)
        await _until(lambda: _equals(status, "CANCELED"), "the order is canceled")

    _following(live_trader, scenario)

    order.refresh_from_db()
    assert (order.status, order.reject_reason, order.locked_amount) == ("CANCELED", "canceled on the venue", 0)
    usdt = live_trader.balance("USDT")
    assert (usdt.free, usdt.locked) == (STARTING_USDT, 0)
    assert AuditEvent.objects.filter(action="order.canceled", target_id=str(order.pk)).exists()


def test_orders_placed_behind_the_platforms_back_are_adopted_whether_before_or_while_streaming(live_trader: LiveTrader) -> None:
    price = live_trader.resting_buy_price()

    async def place(client_order_id: str) -> None:
        async with connect(live_trader.venue, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            request = OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.02"), client_order_id, price=price)
            await gateway.create_order(request)

    async_to_sync(place)("before-the-stream")  # while no stream was open: the REST catch-up on opening finds it

    async def scenario(follower: UserDataFollower) -> None:
        await place("during-the-stream")
        adopted = sync_to_async(lambda: Order.objects.filter(account=live_trader.account, source="system").count())
        await _until(lambda: _equals(adopted, 2), "both orders are adopted")

    _following(live_trader, scenario)

    adopted = Order.objects.filter(account=live_trader.account).order_by("client_order_id")
    assert [(o.client_order_id, o.status, o.source) for o in adopted] == [("before-the-stream", "OPEN", "system"), ("during-the-stream", "OPEN", "system")]
    assert AuditEvent.objects.filter(action="reconciliation.adopted").count() == 2


def test_a_broken_stream_is_reopened_and_what_happened_meanwhile_is_caught_up(live_trader: LiveTrader) -> None:
    order, on_venue = _resting_order_on_the_venue(live_trader)
    price = order.price
    assert price is not None

    async def scenario(follower: UserDataFollower) -> None:
        await asyncio.to_thread(live_trader.venue.control.drop_websockets)
        await _until(lambda: _true(follower.reopened >= 1), "the follower saw the break")
        await _until(lambda: _true(follower.opened >= 2), "the follower reopened the stream")
        binance.fill_resting_order(live_trader.state, on_venue, price)  # perhaps while no stream is open
        status = _status(order.pk)
        await _until(lambda: _equals(status, "FILLED"), "the order is filled")

    follower = _following(live_trader, scenario)

    assert follower.reopened >= 1
    assert Fill.objects.filter(order=order).count() == 1  # once, whether by the stream or by the catch-up


def test_the_followed_accounts_are_verified_live_ones_and_follow_their_connection(live_trader: LiveTrader) -> None:
    TradingAccountFactory(owner=live_trader.user)  # paper on SIM: no user-data stream

    assert user_data_accounts() == [(live_trader.account.pk, "BINANCE")]
    assert user_data_accounts(["BYBIT"]) == []

    async def scenario() -> tuple[list[Any], list[Any]]:
        stop = asyncio.Event()
        streams = UserDataStreams(backoff_base=0.05)
        await streams.refresh(stop)
        started = list(streams.followers)
        await sync_to_async(ApiConnection.objects.filter(pk=live_trader.account.api_connection_id).update)(status="invalid")
        await streams.refresh(stop)
        stopped = list(streams.followers)
        stop.set()
        return started, stopped

    started, stopped = async_to_sync(scenario)()

    assert started == [live_trader.account.pk]
    assert stopped == []
