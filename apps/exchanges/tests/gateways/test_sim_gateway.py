"""The SIM gateway: venue-like paging over the simulator, real-time streams on an injectable clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest

from apps.core.errors import ValidationError
from apps.exchanges.domain.simulator import SIM_SYMBOLS, SimulatedMarket
from apps.exchanges.domain.types import Candle, MarketType, OrderRequest, Side
from apps.exchanges.errors import ExchangeErrorCode, NotSupportedError, UnknownSymbolError
from apps.exchanges.gateways.base import ExchangeGateway
from apps.exchanges.gateways.sim import SimGateway

T = TypeVar("T")
NOW = datetime(2026, 3, 14, 12, 34, 56, 789_000, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
LAST_CLOSED = datetime(2026, 3, 14, 12, 33, tzinfo=UTC)


class FakeClock:
    """Time stands still until someone sleeps on it."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


def gateway(now: datetime = NOW) -> tuple[SimGateway, FakeClock]:
    clock = FakeClock(now)
    return SimGateway(clock=clock), clock


def run(call: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await call

    return asyncio.run(wrapper())


def take(stream: AsyncIterator[T], count: int) -> list[T]:
    async def collect() -> list[T]:
        items = []
        async for item in stream:
            items.append(item)
            if len(items) == count:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return items

    return asyncio.run(collect())


def simulated(symbol: str) -> SimulatedMarket:
    return SimulatedMarket(SIM_SYMBOLS[symbol])


def test_the_sim_gateway_speaks_the_gateway_protocol() -> None:
    sim, _ = gateway()
    assert isinstance(sim, ExchangeGateway)
    assert sim.code == "SIM"
    run(sim.close())


def test_markets_describe_spot_and_perpetuals_with_their_rules() -> None:
    sim, _ = gateway()
    markets = {market.symbol: market for market in run(sim.load_markets())}
    assert set(markets) == set(SIM_SYMBOLS)
    btc = markets["BTC/USDT"]
    assert (btc.market_type, btc.tick_size, btc.lot_size, btc.min_notional, btc.active) == (
        MarketType.SPOT,
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("5"),
        True,
    )
    perpetual = markets["BTC/USDT:USDT"]
    assert perpetual.market_type == MarketType.LINEAR_PERPETUAL and perpetual.max_leverage > 1
    assert len({market.venue_symbol for market in markets.values()}) == len(markets)


# Candles -----------------------------------------------------------------------------


def test_candles_without_since_are_the_latest_closed_ones_oldest_first() -> None:
    sim, _ = gateway()
    candles = run(sim.fetch_candles("BTC/USDT", "1m", limit=30))
    assert len(candles) == 30
    assert candles[-1].open_time == LAST_CLOSED  # 12:34 is still forming
    assert [candle.open_time for candle in candles] == [LAST_CLOSED - MINUTE * (29 - index) for index in range(30)]
    assert candles == simulated("BTC/USDT").candles(LAST_CLOSED - 29 * MINUTE, LAST_CLOSED + MINUTE)


def test_the_default_page_is_500_and_the_largest_is_1000() -> None:
    sim, _ = gateway()
    assert len(run(sim.fetch_candles("ETH/USDT", "1m"))) == 500
    assert len(run(sim.fetch_candles("ETH/USDT", "1m", limit=5_000))) == 1_000


def test_paging_forward_from_since_walks_the_history_without_gaps_or_overlaps() -> None:
    sim, _ = gateway()
    since = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    pages: list[Candle] = []
    cursor = since
    while True:
        page = run(sim.fetch_candles("SOL/USDT", "5m", since=cursor, limit=7))
        if not page:
            break
        assert len(page) <= 7
        pages.extend(page)
        cursor = page[-1].open_time + timedelta(minutes=5)
    assert pages == simulated("SOL/USDT").candles(since, datetime(2026, 3, 14, 12, 30, tzinfo=UTC), "5m")
    assert pages[0].open_time == since
    assert pages[-1].open_time == datetime(2026, 3, 14, 12, 25, tzinfo=UTC)  # 12:30-12:35 has not closed


def test_since_between_boundaries_starts_at_the_next_candle() -> None:
    sim, _ = gateway()
    candles = run(sim.fetch_candles("BTC/USDT", "1h", since=datetime(2026, 3, 14, 3, 20, tzinfo=UTC), limit=3))
    assert [candle.open_time.hour for candle in candles] == [4, 5, 6]


def test_only_closed_candles_come_back_near_now() -> None:
    sim, _ = gateway()
    recent = run(sim.fetch_candles("BTC/USDT", "1m", since=NOW - 5 * MINUTE))
    assert [candle.open_time for candle in recent] == [LAST_CLOSED - 3 * MINUTE, LAST_CLOSED - 2 * MINUTE, LAST_CLOSED - MINUTE, LAST_CLOSED]
    assert run(sim.fetch_candles("BTC/USDT", "1m", since=NOW)) == []
    assert run(sim.fetch_candles("BTC/USDT", "1d", since=NOW + timedelta(days=3))) == []


def test_a_candle_appears_once_its_minute_has_ended() -> None:
    sim, clock = gateway(datetime(2026, 3, 14, 12, 34, 59, 999_000, tzinfo=UTC))
    assert run(sim.fetch_candles("BTC/USDT", "1m", limit=1))[0].open_time == LAST_CLOSED
    clock.current = datetime(2026, 3, 14, 12, 35, tzinfo=UTC)
    assert run(sim.fetch_candles("BTC/USDT", "1m", limit=1))[0].open_time == LAST_CLOSED + MINUTE


def test_unknown_symbols_and_timeframes_are_refused() -> None:
    sim, _ = gateway()
    with pytest.raises(UnknownSymbolError):
        run(sim.fetch_candles("DOGE/USDT", "1m"))
    with pytest.raises(ValidationError, match="7m") as raised:
        run(sim.fetch_candles("BTC/USDT", "7m"))
    assert raised.value.code == ExchangeErrorCode.UNSUPPORTED_TIMEFRAME
    with pytest.raises(ValidationError):
        run(sim.fetch_candles("BTC/USDT", "1m", limit=0))
    with pytest.raises(ValidationError):
        run(sim.fetch_candles("BTC/USDT", "1m", since=datetime(2026, 3, 14, 12, 0)))


# Trades, ticker, book, funding --------------------------------------------------------


def test_the_latest_trades_have_all_happened_and_come_oldest_first() -> None:
    sim, _ = gateway()
    trades = run(sim.fetch_trades("ETH/USDT", limit=50))
    assert len(trades) == 50
    assert all(trade.timestamp <= NOW for trade in trades)
    assert trades == simulated("ETH/USDT").trades_between(NOW - MINUTE, NOW)[-50:]


def test_trades_since_a_moment_page_forwards_and_stop_at_now() -> None:
    sim, _ = gateway()
    since = NOW - timedelta(seconds=3)
    first_page = run(sim.fetch_trades("BTC/USDT", since=since, limit=10))
    assert len(first_page) == 10 and first_page[0].timestamp >= since
    everything = run(sim.fetch_trades("BTC/USDT", since=since, limit=1_000))
    assert everything[:10] == first_page
    assert everything[-1].timestamp < NOW
    assert run(sim.fetch_trades("BTC/USDT", since=NOW + MINUTE)) == []


def test_tickers_books_and_funding_are_those_of_the_simulator_now() -> None:
    sim, _ = gateway()
    assert run(sim.fetch_ticker("SOL/USDT")) == simulated("SOL/USDT").ticker_at(NOW)
    tickers = run(sim.fetch_tickers())
    assert [ticker.symbol for ticker in tickers] == list(SIM_SYMBOLS)
    assert [ticker.symbol for ticker in run(sim.fetch_tickers(["ETH/USDT"]))] == ["ETH/USDT"]
    book = run(sim.fetch_order_book("BTC/USDT:USDT", depth=5))
    assert book == simulated("BTC/USDT:USDT").order_book_at(NOW, 5)
    assert len(book.bids) == len(book.asks) == 5
    funding = run(sim.fetch_funding_rate("ETH/USDT:USDT"))
    assert funding.next_funding_time == datetime(2026, 3, 14, 16, 0, tzinfo=UTC)


def test_bad_book_depths_unknown_symbols_and_spot_funding_are_refused() -> None:
    sim, _ = gateway()
    with pytest.raises(ValidationError):
        run(sim.fetch_order_book("BTC/USDT", depth=0))
    with pytest.raises(ValidationError):
        run(sim.fetch_order_book("BTC/USDT", depth=500))
    with pytest.raises(UnknownSymbolError):
        run(sim.fetch_ticker("BTC/EUR"))
    with pytest.raises(UnknownSymbolError):
        run(sim.fetch_tickers(["BTC/USDT", "nope"]))
    with pytest.raises(NotSupportedError):
        run(sim.fetch_funding_rate("BTC/USDT"))


ORDER = OrderRequest(symbol="BTC/USDT", side=Side.BUY, order_type="market", quantity=Decimal("0.01"), client_order_id="c-1")
ACCOUNT_CALLS: list[Callable[[SimGateway], Awaitable[object]]] = [
    lambda sim: sim.fetch_balances(),
    lambda sim: sim.create_order(ORDER),
    lambda sim: sim.cancel_order("BTC/USDT", venue_order_id="1"),
    lambda sim: sim.fetch_order("BTC/USDT", client_order_id="c-1"),
    lambda sim: sim.fetch_open_orders(),
    lambda sim: sim.fetch_positions(),
    lambda sim: sim.set_leverage("BTC/USDT:USDT", 5),
    lambda sim: sim.set_margin_mode("BTC/USDT:USDT", "isolated"),
]


@pytest.mark.parametrize("call", ACCOUNT_CALLS)
def test_account_calls_point_to_paper_accounts(call: Callable[[SimGateway], Awaitable[object]]) -> None:
    sim, _ = gateway()
    with pytest.raises(NotSupportedError, match="SIM trades through paper accounts"):
        run(call(sim))


# Streams -----------------------------------------------------------------------------


def test_the_trade_stream_delivers_every_trade_once_as_its_time_passes() -> None:
    sim, clock = gateway()
    batches = take(sim.watch_trades("BTC/USDT"), 10)
    trades = [trade for batch in batches for trade in batch]
    assert trades == simulated("BTC/USDT").trades_between(NOW, clock.current)
    assert all(trade.timestamp < clock.current for trade in trades)
    assert len(trades) / (clock.current - NOW).total_seconds() > 3  # several a second
    assert all(batch for batch in batches)  # quiet moments yield nothing rather than an empty batch


def test_the_ticker_and_book_streams_update_four_times_a_second() -> None:
    sim, _ = gateway()
    tickers = take(sim.watch_ticker("ETH/USDT"), 8)
    assert [ticker.timestamp for ticker in tickers] == [NOW + timedelta(milliseconds=250 * step) for step in range(8)]
    assert tickers[5] == simulated("ETH/USDT").ticker_at(NOW + timedelta(milliseconds=1_250))

    sim, _ = gateway()
    books = take(sim.watch_order_book("ETH/USDT", depth=3), 8)
    assert [book.timestamp for book in books] == [NOW + timedelta(milliseconds=250 * step) for step in range(8)]
    assert all(len(book.bids) == 3 and book.best_bid is not None and book.best_ask is not None for book in books)
    assert all(book.best_bid < book.best_ask for book in books if book.best_bid and book.best_ask)


def test_the_candle_stream_updates_the_forming_candle_then_closes_it_at_the_minute_boundary() -> None:
    start = datetime(2026, 3, 14, 12, 34, 57, 500_000, tzinfo=UTC)
    sim, _ = gateway(start)
    batches = take(sim.watch_candles("BTC/USDT", "1m"), 7)  # 57.5, 58.0, 58.5, 59.0, 59.5, 00.0, 00.5
    minute_open = datetime(2026, 3, 14, 12, 34, tzinfo=UTC)
    market = simulated("BTC/USDT")
    for batch in batches[:5]:
        (forming,) = batch
        assert forming.open_time == minute_open
    assert [batch[0].close for batch in batches[:5]] == [market.price_at(start + timedelta(seconds=0.5 * step)) for step in range(5)]
    closed, forming = batches[5]
    assert closed == market.candles(minute_open, minute_open + MINUTE)[0]
    assert forming.open_time == minute_open + MINUTE and forming.open == closed.close
    assert len(batches[6]) == 1 and batches[6][0].open_time == minute_open + MINUTE


def test_streams_check_their_arguments_when_opened() -> None:
    sim, _ = gateway()
    with pytest.raises(UnknownSymbolError):
        sim.watch_trades("XRP/USDT")
    with pytest.raises(ValidationError, match="2h"):
        sim.watch_candles("BTC/USDT", "2h")
    with pytest.raises(ValidationError):
        sim.watch_order_book("BTC/USDT", depth=-1)


# Mark price --------------------------------------------------------------------------------


def test_a_perpetuals_ticker_carries_a_mark_that_follows_its_index_with_a_small_basis() -> None:
    sim, clock = gateway()
    for offset in range(0, 3_600 * 6, 397):  # across hours of moving basis
        clock.current = NOW + timedelta(seconds=offset)
        perp = run(sim.fetch_ticker("BTC/USDT:USDT"))
        index = simulated("BTC/USDT").price_at(clock.current)
        assert perp.mark is not None and perp.mark % Decimal("0.1") == 0  # on the perpetual's tick
        assert abs(perp.mark / index - 1) <= Decimal("0.0003")  # index x (1 + 2 bps), rounded
        assert abs(perp.last / perp.mark - 1) <= Decimal("0.001")  # the last trade swings around the mark, close by
    assert run(sim.fetch_ticker("BTC/USDT")).mark is None  # spot has no mark: it is valued at the last trade


def test_the_mark_is_not_the_last_trade_alone() -> None:
    sim, clock = gateway()
    differing = 0
    for offset in range(0, 3_600, 61):
        clock.current = NOW + timedelta(seconds=offset)
        ticker = run(sim.fetch_ticker("ETH/USDT:USDT"))
        differing += ticker.mark != ticker.last
    assert differing > 40
