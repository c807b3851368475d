"""The simulated market is a pure function of (seed, time): history, live and restarts agree."""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.exchanges.domain.simulator import SIM_SYMBOLS, SimSymbolSpec, SimulatedMarket
from apps.exchanges.domain.types import Candle, MarketType, Side

SYMBOLS = list(SIM_SYMBOLS)
NOON = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
AGGREGATED = {"5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2045, 1, 1), timezones=st.just(UTC))


def market(symbol: str = "BTC/USDT") -> SimulatedMarket:
    return SimulatedMarket(SIM_SYMBOLS[symbol])


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def aggregate(candles: list[Candle]) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    return (
        candles[0].open,
        max(candle.high for candle in candles),
        min(candle.low for candle in candles),
        candles[-1].close,
        sum((candle.volume for candle in candles), Decimal(0)),
    )


def ohlcv(candle: Candle) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    return candle.open, candle.high, candle.low, candle.close, candle.volume


def assert_sane_candle(candle: Candle, spec: SimSymbolSpec) -> None:
    assert 0 < candle.low <= min(candle.open, candle.close)
    assert max(candle.open, candle.close) <= candle.high
    for price in (candle.open, candle.high, candle.low, candle.close):
        assert price % spec.tick_size == 0
    assert candle.volume > 0
    assert candle.volume % spec.lot_size == 0


# Specs -------------------------------------------------------------------------------


def test_the_catalogue_has_spot_and_perpetual_markets_with_realistic_rules() -> None:
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(SIM_SYMBOLS)
    btc = SIM_SYMBOLS["BTC/USDT"]
    assert (btc.tick_size, btc.lot_size, btc.min_notional) == (Decimal("0.01"), Decimal("0.00001"), Decimal("5"))
    assert SIM_SYMBOLS["BTC/USDT:USDT"].market_type == MarketType.LINEAR_PERPETUAL
    assert SIM_SYMBOLS["SOL/USDT"].market_type == MarketType.SPOT
    for spec in SIM_SYMBOLS.values():
        assert spec.min_quantity % spec.lot_size == 0
        assert spec.max_leverage >= 1


# Determinism -------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_two_markets_asked_in_different_orders_give_the_same_answers(symbol: str) -> None:
    first, second = market(symbol), market(symbol)
    start, end = NOON - timedelta(hours=30), NOON + timedelta(hours=2)
    moment = NOON + timedelta(minutes=17, seconds=23, milliseconds=400)

    candles_first = first.candles(start, end)
    trades_first = first.trades_between(moment - MINUTE, moment)
    book_first = first.order_book_at(moment, 10)

    book_second = second.order_book_at(moment, 10)
    trades_second = second.trades_between(moment - MINUTE, moment)
    hourly = second.candles(start, end, "1h")
    candles_second = second.candles(start, end)

    assert candles_first == candles_second
    assert trades_first == trades_second
    assert book_first == book_second
    assert hourly == first.candles(start, end, "1h")
    assert first.price_at(moment) == second.price_at(moment)


def test_different_symbols_follow_different_paths() -> None:
    btc, eth = market("BTC/USDT"), market("ETH/USDT")
    btc_moves = [candle.close > candle.open for candle in btc.candles(NOON, NOON + timedelta(hours=2))]
    eth_moves = [candle.close > candle.open for candle in eth.candles(NOON, NOON + timedelta(hours=2))]
    assert btc_moves != eth_moves


# History and live agree --------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTC/USDT", "SOL/USDT", "ETH/USDT:USDT"])
def test_a_range_equals_the_concatenation_of_its_pieces(symbol: str) -> None:
    whole_market, pieces_market = market(symbol), market(symbol)
    start = datetime(2026, 3, 13, 21, 30, tzinfo=UTC)
    cuts = [start, start + timedelta(hours=1, seconds=20), start + timedelta(hours=3, minutes=7), start + timedelta(days=2, minutes=1)]
    whole = whole_market.candles(cuts[0], cuts[-1])
    pieces = [candle for left, right in itertools.pairwise(cuts) for candle in pieces_market.candles(left, right)]
    assert pieces == whole
    assert len(whole) == (cuts[-1] - cuts[0]) // MINUTE


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_the_trades_of_a_minute_rebuild_its_candle_exactly(symbol: str) -> None:
    sim = market(symbol)
    for open_time in (NOON + timedelta(minutes=7), datetime(2026, 3, 15, 0, 0, tzinfo=UTC), datetime(2026, 3, 14, 23, 59, tzinfo=UTC)):
        (candle,) = sim.candles(open_time, open_time + MINUTE)
        trades = sim.trades_between(open_time, open_time + MINUTE)
        prices = [trade.price for trade in trades]
        assert trades[0].timestamp == open_time
        assert all(open_time <= trade.timestamp < open_time + MINUTE for trade in trades)
        assert (prices[0], max(prices), min(prices), prices[-1]) == (candle.open, candle.high, candle.low, candle.close)
        assert sum((trade.quantity for trade in trades), Decimal(0)) == candle.volume


def test_trades_are_ordered_with_increasing_ids_and_lot_rounded_quantities() -> None:
    sim = market("ETH/USDT")
    spec = sim.spec
    trades = sim.trades_between(NOON, NOON + timedelta(minutes=3))
    assert [trade.timestamp for trade in trades] == sorted(trade.timestamp for trade in trades)
    ids = [int(trade.trade_id) for trade in trades]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(trade.quantity > 0 and trade.quantity % spec.lot_size == 0 for trade in trades)
    assert all(trade.price % spec.tick_size == 0 for trade in trades)
    assert {trade.side for trade in trades} == {Side.BUY, Side.SELL}
    assert len(trades) / 180 > 2  # several trades a second


def test_trades_split_anywhere_join_back_into_the_same_tape() -> None:
    sim = market("SOL/USDT")
    start = NOON + timedelta(seconds=50, microseconds=123_456)
    middle, end = start + timedelta(seconds=31, milliseconds=7), start + timedelta(seconds=95)
    assert sim.trades_between(start, middle) + sim.trades_between(middle, end) == sim.trades_between(start, end)
    assert sim.trades_between(start, end, limit=10) == sim.trades_between(start, end)[:10]


def test_the_latest_trades_are_the_last_ones_before_the_end() -> None:
    sim = market("BTC/USDT")
    end = NOON + timedelta(seconds=5, milliseconds=500)
    latest = sim.latest_trades(end, 200)
    assert len(latest) == 200
    assert latest == sim.trades_between(end - timedelta(minutes=2), end)[-200:]


def test_the_price_at_a_moment_is_the_last_trade_price() -> None:
    sim = market("ETH/USDT:USDT")
    for moment in (NOON + timedelta(seconds=12, milliseconds=640), NOON + timedelta(minutes=3, microseconds=1)):
        trades = sim.trades_between(moment - timedelta(seconds=5), moment + timedelta(microseconds=1))
        assert sim.price_at(moment) == trades[-1].price


# Continuity and invariants -----------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_each_close_is_the_next_open_and_the_price_at_the_minute_end(symbol: str) -> None:
    sim = market(symbol)
    candles = sim.candles(datetime(2026, 3, 13, 22, tzinfo=UTC), datetime(2026, 3, 14, 2, tzinfo=UTC))
    for before, after in itertools.pairwise(candles):
        assert before.close == after.open
        assert sim.price_at(after.open_time - timedelta(microseconds=1)) == before.close
        assert sim.price_at(after.open_time) == after.open


@settings(max_examples=60, deadline=None)
@given(moment=moments, symbol=st.sampled_from(SYMBOLS))
def test_candles_keep_their_invariants_at_any_time(moment: datetime, symbol: str) -> None:
    sim = market(symbol)
    candles = sim.candles(minute_of(moment) - 2 * MINUTE, minute_of(moment) + 2 * MINUTE)
    assert len(candles) == 4
    for candle in candles:
        assert_sane_candle(candle, sim.spec)
    assert candles[1].close == candles[2].open
    containing = candles[2]
    assert containing.low <= sim.price_at(moment) <= containing.high
    assert sim.price_at(moment) % sim.spec.tick_size == 0


@settings(max_examples=40, deadline=None)
@given(moment=moments, symbol=st.sampled_from(SYMBOLS))
def test_the_forming_candle_grows_into_the_closed_one(moment: datetime, symbol: str) -> None:
    sim = market(symbol)
    open_time = minute_of(moment)
    (closed,) = sim.candles(open_time, open_time + MINUTE)
    forming = sim.forming_candle(moment)
    assert forming.open_time == open_time
    assert forming.open == closed.open
    assert closed.low <= forming.low <= forming.high <= closed.high
    assert forming.close == sim.price_at(moment)
    assert 0 < forming.volume <= closed.volume
    assert sim.forming_candle(open_time + MINUTE - timedelta(milliseconds=1)) == closed


@pytest.mark.parametrize("timeframe", list(AGGREGATED))
def test_aggregated_timeframes_are_the_aggregation_of_one_minute_candles(timeframe: str) -> None:
    sim = market("ETH/USDT")
    per_candle = AGGREGATED[timeframe]
    start = datetime(2026, 3, 12, tzinfo=UTC)
    end = start + timedelta(days=3)
    minutes = sim.candles(start, end)
    aggregated = sim.candles(start, end, timeframe)
    assert len(aggregated) == len(minutes) // per_candle
    for index, candle in enumerate(aggregated):
        group = minutes[index * per_candle : (index + 1) * per_candle]
        assert candle.open_time == group[0].open_time
        assert ohlcv(candle) == aggregate(group)


def test_aggregated_candles_start_on_their_own_boundaries() -> None:
    sim = market("BTC/USDT")
    candles = sim.candles(datetime(2026, 3, 14, 1, 1, tzinfo=UTC), datetime(2026, 3, 14, 13, 0, tzinfo=UTC), "4h")
    assert [candle.open_time.hour for candle in candles] == [4, 8, 12]  # open times in [start, end)


def test_the_forming_hour_is_the_closed_minutes_plus_the_forming_minute() -> None:
    sim = market("SOL/USDT")
    moment = NOON + timedelta(minutes=42, seconds=9, milliseconds=300)
    forming = sim.forming_candle(moment, "1h")
    closed_minutes = sim.candles(NOON, minute_of(moment))
    expected = aggregate([*closed_minutes, sim.forming_candle(moment)])
    assert forming.open_time == NOON
    assert ohlcv(forming) == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        market().price_at(datetime(2026, 3, 14, 12, 0))


# Order book, ticker, funding ---------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(moment=moments, symbol=st.sampled_from(SYMBOLS), depth=st.integers(min_value=1, max_value=50))
def test_the_order_book_is_sane(moment: datetime, symbol: str, depth: int) -> None:
    sim = market(symbol)
    spec = sim.spec
    book = sim.order_book_at(moment, depth)
    assert len(book.bids) == len(book.asks) == depth
    assert book.best_bid is not None and book.best_ask is not None
    assert book.best_bid < book.best_ask
    assert sim.price_at(moment) in (book.best_bid, book.best_ask)
    bid_prices, ask_prices = [level.price for level in book.bids], [level.price for level in book.asks]
    assert bid_prices == sorted(bid_prices, reverse=True) and len(set(bid_prices)) == depth
    assert ask_prices == sorted(ask_prices) and len(set(ask_prices)) == depth
    for side in (book.bids, book.asks):
        sizes = [level.quantity for level in side]
        assert sizes == sorted(sizes) and len(set(sizes)) == depth  # growing away from the mid
        for level in side:
            assert level.price > 0 and level.price % spec.tick_size == 0
            assert level.quantity >= spec.min_quantity and level.quantity % spec.lot_size == 0
    assert book == SimulatedMarket(spec).order_book_at(moment, depth)


def test_the_book_moves_a_few_times_a_second() -> None:
    sim = market("BTC/USDT")
    books = [sim.order_book_at(NOON + timedelta(milliseconds=250 * step), 5) for step in range(8)]
    assert len({book.bids for book in books}) > 1
    assert sim.order_book_at(NOON + timedelta(milliseconds=10), 5).bids == sim.order_book_at(NOON + timedelta(milliseconds=240), 5).bids


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
def test_the_ticker_24h_numbers_match_the_candles(symbol: str) -> None:
    sim = market(symbol)
    moment = NOON + timedelta(minutes=5, seconds=33, milliseconds=750)
    ticker = sim.ticker_at(moment)
    window = [*sim.candles(minute_of(moment) - timedelta(minutes=1439), minute_of(moment)), sim.forming_candle(moment)]
    assert len(window) == 1440
    open_, high, low, last, volume = aggregate(window)
    assert (ticker.open_24h, ticker.high_24h, ticker.low_24h, ticker.base_volume_24h) == (open_, high, low, volume)
    assert ticker.last == last == sim.price_at(moment)
    book = sim.order_book_at(moment, 1)
    assert (ticker.bid, ticker.ask) == (book.best_bid, book.best_ask)
    assert ticker.quote_volume_24h is not None
    assert low * volume <= ticker.quote_volume_24h <= high * volume
    assert ticker.timestamp == moment.replace(microsecond=750_000)


@pytest.mark.parametrize("symbol", ["BTC/USDT:USDT", "ETH/USDT:USDT"])
def test_perpetuals_have_a_small_funding_rate_paid_every_eight_hours(symbol: str) -> None:
    sim = market(symbol)
    rates = [sim.funding_rate_at(NOON + timedelta(hours=8 * period, minutes=1)) for period in range(30)]
    for rate in rates:
        assert Decimal("-0.001") < rate.rate < Decimal("0.001")
        assert rate.next_funding_time is not None
        assert rate.next_funding_time.hour % 8 == 0 and rate.next_funding_time.minute == 0
        assert timedelta(0) < rate.next_funding_time - rate.timestamp <= timedelta(hours=8)
    assert len({rate.rate for rate in rates}) > 5
    assert sim.funding_rate_at(NOON + timedelta(hours=1)) == sim.funding_rate_at(NOON + timedelta(hours=1))
    assert sim.funding_rate_at(NOON + timedelta(hours=1)).rate == sim.funding_rate_at(NOON + timedelta(hours=3, minutes=59)).rate


def test_spot_markets_have_no_funding_rate() -> None:
    with pytest.raises(ValueError, match="not a perpetual"):
        market("BTC/USDT").funding_rate_at(NOON)


@pytest.mark.parametrize(("perpetual", "spot"), [("BTC/USDT:USDT", "BTC/USDT"), ("ETH/USDT:USDT", "ETH/USDT")])
def test_perpetuals_track_their_spot_with_a_small_basis(perpetual: str, spot: str) -> None:
    perp_candles = market(perpetual).candles(NOON - timedelta(days=1), NOON)
    spot_candles = market(spot).candles(NOON - timedelta(days=1), NOON)
    basis = [(perp.close / base.close - 1) * 10_000 for perp, base in zip(perp_candles, spot_candles, strict=True)]
    assert all(Decimal(-10) < bps < Decimal(15) for bps in basis)
    assert statistics.mean(basis) > 0


# Realism and speed -------------------------------------------------------------------


def test_thirty_days_of_minutes_for_every_symbol_generate_quickly_and_stay_realistic() -> None:
    end = datetime(2026, 3, 1, tzinfo=UTC)
    start = end - timedelta(days=30)
    for symbol, spec in SIM_SYMBOLS.items():
        candles = SimulatedMarket(spec).candles(start, end)
        assert len(candles) == 30 * 1440, symbol
        ranges_bps = [(candle.high - candle.low) / candle.close * 10_000 for candle in candles]
        assert Decimal(2) < statistics.median(ranges_bps) < Decimal(30), symbol
        closes = [candle.close for candle in candles]
        assert spec.start_price / 2 < min(closes) <= max(closes) < spec.start_price * 2, symbol
        assert all(before.close == after.open for before, after in itertools.pairwise(candles)), symbol


def test_decades_of_daily_candles_never_explode_or_vanish() -> None:
    sim = market("SOL/USDT")
    daily = sim.candles(datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "1d")
    assert len(daily) == 731
    start_price = sim.spec.start_price
    assert all(start_price / 3 < candle.low <= candle.high < start_price * 3 for candle in daily)
