"""CcxtGateway against a local Binance: ccxt's real HTTP and WebSocket code, Binance's own protocol."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import aiohttp
import pytest

from apps.core.errors import ValidationError
from apps.exchanges.domain.types import Candle, MarketType, OrderBook, OrderRequest, Side
from apps.exchanges.errors import (
    ExchangeAuthenticationError,
    ExchangeErrorCode,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    UnknownSymbolError,
)
from apps.exchanges.gateways.base import Credentials, ExchangeGateway
from tests.venues import binance
from tests.venues.fixtures import BINANCE_CREDENTIALS, connect
from tests.venues.server import RunningVenue, run_venue

T = TypeVar("T")
HOUR_MS = 3_600_000
JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)


def run(awaitable: Awaitable[T]) -> T:
    return asyncio.run(asyncio.wait_for(awaitable, timeout=20))  # type: ignore[arg-type]


async def first(stream: AsyncIterator[T], count: int = 1) -> list[T]:
    items = []
    async for item in stream:
        items.append(item)
        if len(items) == count:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    return items


def test_the_gateway_satisfies_the_protocol(binance_server: RunningVenue) -> None:
    async def scenario() -> None:
        async with connect(binance_server, "BINANCE") as gateway:
            assert isinstance(gateway, ExchangeGateway)

    run(scenario())


# Markets ----------------------------------------------------------------------------------


def test_markets_carry_the_venue_filters_as_decimals(binance_server: RunningVenue) -> None:
    markets = run(_load_markets(binance_server))
    by_symbol = {market.symbol: market for market in markets}

    btc = by_symbol["BTC/USDT"]
    assert btc.venue_symbol == "BTCUSDT"
    assert btc.market_type is MarketType.SPOT
    assert (btc.tick_size, btc.lot_size, btc.min_quantity, btc.min_notional) == (
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("0.00001"),
        Decimal("5"),
    )
    assert btc.max_leverage == 1
    assert by_symbol["ETH/BTC"].tick_size == Decimal("0.00001")

    perp = by_symbol["BTC/USDT:USDT"]
    assert perp.market_type is MarketType.LINEAR_PERPETUAL
    assert (perp.tick_size, perp.lot_size, perp.min_quantity, perp.min_notional) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("100"),
    )
    assert perp.max_leverage == 125  # Binance publishes brackets only to signed calls: the default applies
    assert by_symbol["LUNA/USDT"].active is False  # status BREAK
    assert btc.active and perp.active
    for market in markets:
        for value in (market.tick_size, market.lot_size, market.min_quantity, market.min_notional):
            assert isinstance(value, Decimal)


def test_market_types_limit_what_is_loaded(binance_server: RunningVenue) -> None:
    async def scenario() -> set[MarketType]:
        async with connect(binance_server, "BINANCE", market_types=("spot",)) as gateway:
            return {market.market_type for market in await gateway.load_markets()}

    assert run(scenario()) == {MarketType.SPOT}
    assert binance_server.control.count("/fapi/v1/exchangeInfo") == 0


async def _load_markets(venue: RunningVenue) -> list:
    async with connect(venue, "BINANCE") as gateway:
        return await gateway.load_markets()


# Candles ----------------------------------------------------------------------------------


def test_candles_page_forward_from_since_up_to_binances_page_of_1000(binance_server: RunningVenue) -> None:
    async def scenario() -> tuple[list[Candle], list[Candle]]:
        async with connect(binance_server, "BINANCE") as gateway:
            page = await gateway.fetch_candles("BTC/USDT", "1h", since=JAN_1, limit=1500)
            following = await gateway.fetch_candles("BTC/USDT", "1h", since=page[-1].open_time + timedelta(hours=1), limit=10)
            return page, following

    page, following = run(scenario())

    assert len(page) == 1000
    assert page[0].open_time == JAN_1
    assert following[0].open_time == JAN_1 + timedelta(hours=1000)
    open_times = [candle.open_time for candle in page + following]
    assert all(later - earlier == timedelta(hours=1) for earlier, later in zip(open_times, open_times[1:], strict=False))
    assert all(candle.open_time.tzinfo is UTC for candle in page)
    assert binance_server.control.count("/api/v3/klines") == 2


def test_candles_are_the_venues_numbers_exactly(binance_server: RunningVenue) -> None:
    async def scenario() -> list[Candle]:
        async with connect(binance_server, "BINANCE") as gateway:
            return await gateway.fetch_candles("BTC/USDT", "1h", since=JAN_1, limit=24)

    candles = run(scenario())
    venue = binance_server.market_data.candles(binance.SPOT["BTCUSDT"], HOUR_MS, int(JAN_1.timestamp() * 1000), 24)

    assert [(c.open, c.high, c.low, c.close, c.volume) for c in candles] == [(v.open, v.high, v.low, v.close, v.volume) for v in venue]
    assert all(isinstance(c.close, Decimal) for c in candles)
    assert all(candle.open == previous.close for previous, candle in zip(candles, candles[1:], strict=False))


def test_since_mid_candle_starts_at_the_next_open(binance_server: RunningVenue) -> None:
    async def scenario() -> list[Candle]:
        async with connect(binance_server, "BINANCE") as gateway:
            return await gateway.fetch_candles("BTC/USDT", "15m", since=JAN_1 + timedelta(minutes=7), limit=3)

    assert [c.open_time.minute for c in run(scenario())] == [15, 30, 45]


def test_without_since_the_latest_candles_come_oldest_first(binance_server: RunningVenue) -> None:
    async def scenario() -> list[Candle]:
        async with connect(binance_server, "BINANCE") as gateway:
            return await gateway.fetch_candles("ETH/USDT", "1m", limit=5)

    candles = run(scenario())

    assert len(candles) == 5
    assert candles == sorted(candles, key=lambda candle: candle.open_time)
    assert datetime.now(UTC) - candles[-1].open_time < timedelta(minutes=2)


def test_a_timeframe_outside_the_platforms_set_is_refused_before_any_request(binance_server: RunningVenue) -> None:
    async def scenario() -> None:
        async with connect(binance_server, "BINANCE") as gateway:
            await gateway.fetch_candles("BTC/USDT", "3m")

    with pytest.raises(ValidationError) as raised:
        run(scenario())

    assert raised.value.code == ExchangeErrorCode.UNSUPPORTED_TIMEFRAME
    assert "3m" in raised.value.message
    assert binance_server.control.count("/api/v3/klines") == 0


def test_an_unknown_symbol_is_an_unknown_symbol_error(binance_server: RunningVenue) -> None:
    async def scenario() -> None:
        async with connect(binance_server, "BINANCE") as gateway:
            await gateway.fetch_candles("DOGE/USDT", "1h")

    with pytest.raises(UnknownSymbolError) as raised:
        run(scenario())
    assert "DOGE/USDT" in raised.value.message


# Ticker and order book --------------------------------------------------------------------


def test_ticker(binance_server: RunningVenue) -> None:
    async def scenario():
        async with connect(binance_server, "BINANCE") as gateway:
            return await gateway.fetch_ticker("BTC/USDT"), await gateway.fetch_tickers(["BTC/USDT", "ETH/USDT"])

    ticker, tickers = run(scenario())

    assert ticker.symbol == "BTC/USDT"
    assert ticker.bid is not None and ticker.ask is not None and ticker.bid < ticker.ask
    assert ticker.low_24h is not None and ticker.high_24h is not None and ticker.low_24h <= ticker.last <= ticker.high_24h
    assert ticker.open_24h is not None and ticker.change_24h_percent is not None
    assert abs(datetime.now(UTC) - ticker.timestamp) < timedelta(seconds=10)
    assert {t.symbol for t in tickers} == {"BTC/USDT", "ETH/USDT"}


def test_order_book_is_sorted_best_first_to_the_asked_depth(binance_server: RunningVenue) -> None:
    async def scenario() -> OrderBook:
        async with connect(binance_server, "BINANCE") as gateway:
            return await gateway.fetch_order_book("BTC/USDT", depth=10)

    book = run(scenario())

    assert len(book.bids) == len(book.asks) == 10
    assert [level.price for level in book.bids] == sorted((level.price for level in book.bids), reverse=True)
    assert [level.price for level in book.asks] == sorted(level.price for level in book.asks)
    assert book.best_bid is not None and book.best_ask is not None and book.best_bid < book.best_ask
    assert book.best_ask - book.best_bid == Decimal("0.02")


# Account ----------------------------------------------------------------------------------


def test_signed_balances(binance_server: RunningVenue) -> None:
    async def scenario():
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            return await gateway.fetch_balances()

    balances = {balance.asset: balance for balance in run(scenario())}

    assert balances["BTC"].free == Decimal("0.5")
    assert balances["USDT"].total == Decimal("100000")
    assert "BNB" not in balances  # empty balances are left out


def test_a_wrong_secret_is_an_authentication_error_that_does_not_leak_it(binance_server: RunningVenue) -> None:
    wrong = Credentials(api_key=binance.API_KEY, secret="not-the-secret-5150")

    async def scenario() -> None:
        async with connect(binance_server, "BINANCE", wrong) as gateway:
            await gateway.fetch_balances()

    with pytest.raises(ExchangeAuthenticationError) as raised:
        run(scenario())

    assert "BINANCE" in raised.value.message and "fetch_balances" in raised.value.message
    assert "not-the-secret-5150" not in raised.value.message
    assert "signature=" not in raised.value.message or "signature=***" in raised.value.message
    assert binance_server.control.count("/api/v3/account") == 1  # not retried


def test_an_unknown_api_key_is_an_authentication_error(binance_server: RunningVenue) -> None:
    async def scenario() -> None:
        async with connect(binance_server, "BINANCE", Credentials(api_key="nobody", secret=binance.SECRET)) as gateway:
            await gateway.fetch_balances()

    with pytest.raises(ExchangeAuthenticationError):
        run(scenario())


def test_limit_order_created_fetched_and_cancelled_by_client_order_id(binance_server: RunningVenue) -> None:
    request = OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.01"), "bot7-0001", price=Decimal("30000.01"))

    async def scenario():
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            created = await gateway.create_order(request)
            fetched = await gateway.fetch_order("BTC/USDT", client_order_id="bot7-0001")
            open_orders = await gateway.fetch_open_orders("BTC/USDT")
            locked = {balance.asset: balance for balance in await gateway.fetch_balances()}["USDT"].locked
            cancelled = await gateway.cancel_order("BTC/USDT", client_order_id="bot7-0001")
            after = await gateway.fetch_order("BTC/USDT", venue_order_id=created.venue_order_id)
            return created, fetched, open_orders, locked, cancelled, after

    created, fetched, open_orders, locked, cancelled, after = run(scenario())

    assert created.client_order_id == "bot7-0001"
    assert created.status == "open"
    assert (created.price, created.quantity, created.filled) == (Decimal("30000.01"), Decimal("0.01"), Decimal(0))
    assert fetched.venue_order_id == created.venue_order_id
    assert fetched.order_type == "limit" and fetched.side is Side.BUY
    assert [order.client_order_id for order in open_orders] == ["bot7-0001"]
    assert locked == Decimal("300.0001")
    assert cancelled.status == "canceled"
    assert cancelled.client_order_id == "bot7-0001"
    assert after.status == "canceled"
    assert after.timestamp.tzinfo is UTC
    venue_order = next(iter(binance_server[binance.STATE].orders.values()))
    assert venue_order.client_order_id == "bot7-0001"  # sent as newClientOrderId


def test_market_order_fills_with_fees(binance_server: RunningVenue) -> None:
    async def scenario():
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            order = await gateway.create_order(OrderRequest("BTC/USDT", Side.BUY, "market", Decimal("0.002"), "bot7-0002"))
            return order, {balance.asset: balance.free for balance in await gateway.fetch_balances()}

    order, balances = run(scenario())

    assert order.status == "closed"
    assert order.filled == Decimal("0.002")
    assert order.average_price is not None and order.average_price > 0
    assert (order.fee, order.fee_currency) == (Decimal("0.000002"), "BTC")
    assert balances["BTC"] == Decimal("0.501998")


def test_stop_and_post_only_orders_reach_binance_as_its_own_types(binance_server: RunningVenue) -> None:
    async def scenario():
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            stop = await gateway.create_order(OrderRequest("BTC/USDT", Side.SELL, "stop_market", Decimal("0.01"), "bot7-stop", stop_price=Decimal("40000")))
            stop_limit = await gateway.create_order(
                OrderRequest("BTC/USDT", Side.SELL, "stop_limit", Decimal("0.01"), "bot7-sl", price=Decimal("39990"), stop_price=Decimal("40000"))
            )
            take_profit = await gateway.create_order(
                OrderRequest("BTC/USDT", Side.SELL, "take_profit", Decimal("0.01"), "bot7-tp", stop_price=Decimal("90000"))
            )
            maker = await gateway.create_order(OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.01"), "bot7-po", price=Decimal("30000"), post_only=True))
            ioc = await gateway.create_order(
                OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.01"), "bot7-ioc", price=Decimal("30000"), time_in_force="IOC")
            )
            return stop, stop_limit, take_profit, maker, ioc

    stop, stop_limit, take_profit, maker, ioc = run(scenario())
    venue_types = {order.client_order_id: (order.type, order.time_in_force) for order in binance_server[binance.STATE].orders.values()}

    assert venue_types["bot7-stop"][0] == "STOP_LOSS"
    assert venue_types["bot7-sl"][0] == "STOP_LOSS_LIMIT"
    assert venue_types["bot7-tp"][0] == "TAKE_PROFIT"
    assert venue_types["bot7-po"][0] == "LIMIT_MAKER"
    assert venue_types["bot7-ioc"] == ("LIMIT", "IOC")
    assert (stop.order_type, stop.stop_price, stop.status) == ("stop_market", Decimal("40000"), "open")
    assert (stop_limit.order_type, stop_limit.price) == ("stop_limit", Decimal("39990"))
    assert take_profit.order_type == "take_profit"
    assert maker.status == "open"
    assert ioc.status == "expired"


def test_order_rejections_map_to_platform_errors(binance_server: RunningVenue) -> None:
    rejected = [
        (OrderRequest("BTC/USDT", Side.SELL, "limit", Decimal("3"), "too-much", price=Decimal("90000")), InsufficientFundsError),
        (OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.00001"), "too-small", price=Decimal("30000")), InvalidOrderError),  # NOTIONAL
        (OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.000015"), "odd-lot", price=Decimal("30000")), InvalidOrderError),  # LOT_SIZE
        (OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("1"), "no-price"), InvalidOrderError),  # caught before the venue
        (OrderRequest("BTC/USDT", Side.BUY, "market", Decimal("0.01"), "spot-reduce", reduce_only=True), InvalidOrderError),
        (OrderRequest("BTC/USDT", Side.BUY, "trailing", Decimal("0.01"), "what-type"), InvalidOrderError),
    ]

    async def scenario() -> list[type[Exception]]:
        raised = []
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            for request, _ in rejected:
                try:
                    await gateway.create_order(request)
                except Exception as error:  # noqa: BLE001 - collected and compared below
                    raised.append(type(error))
        return raised

    assert run(scenario()) == [expected for _, expected in rejected]
    assert binance_server.control.count("/api/v3/order") == 3  # the venue saw only what it had to judge


def test_unknown_orders_are_order_not_found(binance_server: RunningVenue) -> None:
    async def scenario() -> None:
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            with pytest.raises(OrderNotFoundError):
                await gateway.fetch_order("BTC/USDT", client_order_id="never-sent")
            with pytest.raises(OrderNotFoundError):
                await gateway.cancel_order("BTC/USDT", venue_order_id="12345")

    run(scenario())


# Streams ----------------------------------------------------------------------------------


def test_kline_stream_delivers_the_forming_candle(binance_server: RunningVenue) -> None:
    async def scenario() -> list[list[Candle]]:
        async with connect(binance_server, "BINANCE") as gateway:
            return await first(gateway.watch_candles("BTC/USDT", "1m"), count=3)

    batches = run(scenario())
    now = datetime.now(UTC)

    candle = batches[-1][-1]
    assert isinstance(candle.close, Decimal)
    assert candle.open_time == now.replace(second=0, microsecond=0) or now - candle.open_time < timedelta(minutes=1, seconds=5)
    assert candle.low <= candle.close <= candle.high


def test_depth_stream_keeps_a_consistent_book(binance_server: RunningVenue) -> None:
    async def scenario() -> list[OrderBook]:
        async with connect(binance_server, "BINANCE") as gateway:
            return await first(gateway.watch_order_book("BTC/USDT", depth=10), count=5)

    books = run(scenario())

    for book in books:
        assert len(book.bids) == len(book.asks) == 10
        assert book.best_bid is not None and book.best_ask is not None and book.best_bid < book.best_ask
        assert [level.price for level in book.bids] == sorted((level.price for level in book.bids), reverse=True)
    assert len({book.best_bid for book in books}) > 1  # the diffs moved it
    assert binance_server.control.count("/api/v3/depth") == 1  # one snapshot, then diffs


def test_ticker_and_trade_streams(binance_server: RunningVenue) -> None:
    async def scenario():
        async with connect(binance_server, "BINANCE") as gateway:
            tickers = await first(gateway.watch_ticker("ETH/USDT"), count=2)
            trades = await first(gateway.watch_trades("ETH/USDT"), count=2)
            return tickers, trades

    tickers, trades = run(scenario())

    assert all(ticker.symbol == "ETH/USDT" and ticker.bid is not None for ticker in tickers)
    flat = [trade for batch in trades for trade in batch]
    assert flat and all(trade.symbol == "ETH/USDT" and trade.quantity > 0 for trade in flat)


def test_a_connection_dropped_between_reads_ends_the_stream_and_a_new_one_works(binance_server: RunningVenue) -> None:
    """ccxt would redial silently on the next read; the gateway says so instead, so callers can catch up."""

    async def scenario() -> list[OrderBook]:
        async with connect(binance_server, "BINANCE") as gateway:
            stream = gateway.watch_order_book("BTC/USDT", depth=5)
            await stream.__anext__()
            assert await asyncio.to_thread(binance_server.control.drop_websockets) == 1
            with pytest.raises(ExchangeUnavailableError) as raised:
                await stream.__anext__()
            assert "watch_order_book" in raised.value.message
            return await first(gateway.watch_order_book("BTC/USDT", depth=5), count=2)

    assert len(run(scenario())) == 2
    assert binance_server.control.count("/ws/0") >= 2  # redialled by the new stream (ccxt may redial once more on its own)


def test_a_connection_dropped_during_a_read_raises_without_hanging() -> None:
    quiet = functools.partial(binance.create_app, ws_interval=60.0)  # after the first message, silence

    async def scenario(venue: RunningVenue) -> float:
        async with connect(venue, "BINANCE") as gateway:
            stream = gateway.watch_candles("BTC/USDT", "1m")
            await stream.__anext__()
            pending = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0.2)
            assert not pending.done()
            started = time.monotonic()
            await asyncio.to_thread(venue.control.drop_websockets)
            with pytest.raises(ExchangeUnavailableError):
                await pending
            return time.monotonic() - started

    with run_venue(quiet) as venue:
        assert run(scenario(venue)) < 2


def test_the_local_stream_speaks_binances_subscribe_protocol(binance_server: RunningVenue) -> None:
    """The venue side on its own: request ids, partial depth, combined-stream envelopes, unsubscribe."""

    async def scenario() -> list[dict]:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{binance_server.ws_url}/stream") as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@depth5@100ms", "btcusdt@kline_1m"], "id": 7})
            replies = [await ws.receive_json(timeout=2)]
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
            await ws.send_json({"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 9})
            while len([reply for reply in replies if "id" in reply]) < 3:
                replies.append(await ws.receive_json(timeout=2))
            return replies

    replies = run(scenario())
    by_id = {reply["id"]: reply for reply in replies if "id" in reply}

    assert by_id[7] == {"result": None, "id": 7}
    assert sorted(by_id[8]["result"]) == ["btcusdt@depth5@100ms", "btcusdt@kline_1m"]
    assert by_id[9]["error"]["code"] == 2
    pushes = {reply["stream"]: reply["data"] for reply in replies if "stream" in reply}
    assert len(pushes["btcusdt@depth5@100ms"]["bids"]) == 5 and "lastUpdateId" in pushes["btcusdt@depth5@100ms"]
    assert pushes["btcusdt@kline_1m"]["e"] == "kline" and pushes["btcusdt@kline_1m"]["k"]["i"] == "1m"


def test_the_user_data_stream_reports_each_order_change_in_its_latest_state(binance_server: RunningVenue) -> None:
    state = binance_server[binance.STATE]

    async def scenario():
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            stream = gateway.watch_orders()
            assert await stream.__anext__() == []  # open: subscribed through the WebSocket API, signed
            assert len(state.subscribers) == 1
            await gateway.create_order(OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.01"), "ud-rest", price=Decimal("30000.01")))
            resting = await stream.__anext__()
            binance.fill_resting_order(state, next(o for o in state.orders.values() if o.client_order_id == "ud-rest"), Decimal("30000.01"))
            filled = await stream.__anext__()
            await gateway.create_order(OrderRequest("BTC/USDT", Side.BUY, "limit", Decimal("0.01"), "ud-cancel", price=Decimal("30000.01")))
            await stream.__anext__()
            await gateway.cancel_order("BTC/USDT", client_order_id="ud-cancel")
            canceled = await stream.__anext__()
            await stream.aclose()
            return resting, filled, canceled

    resting, filled, canceled = run(scenario())

    assert [(o.client_order_id, o.status, o.filled) for o in resting] == [("ud-rest", "open", Decimal(0))]
    [fill] = filled
    assert (fill.client_order_id, fill.status, fill.filled, fill.average_price) == ("ud-rest", "closed", Decimal("0.01"), Decimal("30000.01"))
    assert (fill.fee, fill.fee_currency) == (Decimal("0.00001"), "BTC")  # 0.1 % of what was bought, in the asset received
    assert [(o.client_order_id, o.status) for o in canceled] == [("ud-cancel", "canceled")]


def test_the_user_data_stream_refuses_a_wrong_secret(binance_server: RunningVenue) -> None:
    async def scenario():
        async with connect(binance_server, "BINANCE", Credentials(api_key=binance.API_KEY, secret="not-the-secret")) as gateway:
            async for _ in gateway.watch_orders():
                pass

    with pytest.raises(ExchangeAuthenticationError):
        run(scenario())
