"""`stream_market` survives the loss of its PostgreSQL connection: it reconnects and reads its state again.

The database server closing the stream's connection (what a PostgreSQL restart does to every
client) is made real with `pg_terminate_backend` on the stream's own backend.
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError, connection, connections

from apps.accounts.tests.factories import UserFactory
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.market.services.demo import sim_symbols_prepare
from apps.market.streaming import MarketStreamer
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.portfolio.services import paper_account_create

pytestmark = pytest.mark.django_db(transaction=True)


def _in_own_connection(work: Any) -> Any:
    """Run `work()` on this thread's own connection, closed afterwards (for calls made off the test's thread)."""
    try:
        return work()
    finally:
        connections["default"].close()


def _terminate_backend(pid: int) -> None:
    def work() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    _in_own_connection(work)


def test_after_its_database_connection_is_closed_the_stream_reconnects_and_loads_orders_placed_meanwhile() -> None:
    sim_symbols_prepare()
    Symbol.objects.filter(exchange__code="SIM").exclude(symbol="BTC/USDT").update(watched=False)
    btc = Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT")
    user = UserFactory()
    account = paper_account_create(actor=user, exchange=builtin_exchange("SIM"), initial_balances={"USDT": "100000"})
    limit = btc.round_price(current_book(btc).best_bid * Decimal("0.5"), "down")
    with connection.cursor() as cursor:  # the streamer's calls come back to this thread, on this connection
        cursor.execute("SELECT pg_backend_pid()")
        stream_pid = cursor.fetchone()[0]
    streamer = MarketStreamer(exchange_codes=["SIM"], backoff_base=0.05, user_data=False, bot_ticks=False)
    placed: list[str] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        async def alongside() -> None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(_terminate_backend, stream_pid)

            def place() -> str:
                request = OrderRequest(symbol=btc, side="BUY", order_type="LIMIT", quantity=Decimal("0.01"), price=limit)
                return str(order_submit(actor=user, account=account, request=request).pk)

            placed.append(await asyncio.to_thread(_in_own_connection, place))
            for _ in range(80):  # up to 8 s
                book = streamer._paper.books.get(btc.pk)
                if book is not None and placed[0] in book.order_ids:
                    break
                await asyncio.sleep(0.1)
            stop.set()

        await asyncio.gather(streamer.run(stop), alongside())

    async_to_sync(scenario)()

    assert streamer.database_reconnects == 1
    book = streamer._paper.books.get(btc.pk)
    assert book is not None and placed[0] in book.order_ids, "the order placed after the loss reached the paper matcher"
    with connection.cursor() as cursor:  # and the stream's connection works again
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_the_streams_database_calls_run_on_one_thread_whose_broken_connection_is_dropped() -> None:
    from apps.market.streaming import drop_unusable_database_connections

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    killer = threading.Thread(target=_terminate_backend, args=(pid,))
    killer.start()
    killer.join(10)
    with pytest.raises(OperationalError), connection.cursor() as cursor:  # the server closed it
        cursor.execute("SELECT 1")

    assert drop_unusable_database_connections() is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert drop_unusable_database_connections() is False


def test_the_stream_writes_a_heartbeat_per_venue_with_its_last_message_and_last_stored_candle() -> None:
    import time

    from apps.market.heartbeat import heartbeat_read, stream_health

    sim_symbols_prepare()
    Symbol.objects.filter(exchange__code="SIM").exclude(symbol="BTC/USDT").update(watched=False)
    streamer = MarketStreamer(exchange_codes=["SIM"], heartbeat_seconds=0.2, user_data=False, bot_ticks=False, paper_matching=False)

    async def scenario() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(1.5, stop.set)
        await streamer.run(stop)

    async_to_sync(scenario)()

    beat = heartbeat_read()
    assert beat is not None
    assert time.time() - beat.at < 1.5
    sim = beat.venues["SIM"]
    assert sim.last_message is not None and time.time() - sim.last_message < 1.5
    assert sim.last_candle_stored is not None  # the gap fill at connect stored the missed minutes
    assert stream_health(beat).ok
