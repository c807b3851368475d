"""The offline simulated exchange SIM: a seeded market that is a pure function of (seed, time).

Nothing here remembers anything between calls except caches: the candle for 12:34 is the
same whether it is generated as history at first start, streamed live, or recomputed after a
restart, and any minute can be computed without computing the minutes before it.

How the price path is built (all in exact integer "log units" of 1e-12, so no floating-point
sum can ever depend on the range that was asked for):

* Daily anchors: the log price at 00:00 UTC of day `d` is a mean-reverting (Ornstein-Uhlenbeck)
  value, written as a finite moving average of hashed daily innovations, so it needs no history:
  the price wanders like a random walk over days but returns to the reference price within weeks.
* Within a day: one step per second from a counter-based hash of (seed, second), a random walk
  pinned to the two anchors by a bridge. The first step of every minute is zero, so a candle's
  open equals the previous close.
* Perpetuals follow their spot path plus a small basis that moves hour by hour.

The whole day is always computed as one block (86 400 seconds), converted to ticks once, and
every candle, trade, price and book is read from that block: history and live agree by
construction. Floats appear only inside the vectorised maths; everything that leaves is Decimal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from apps.exchanges.domain.timeframes import timeframe_seconds
from apps.exchanges.domain.types import BookLevel, Candle, FundingRate, MarketType, OrderBook, Side, Ticker, Trade

IntArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECONDS_PER_DAY = 86_400
MINUTES_PER_DAY = 1_440
FUNDING_INTERVAL_SECONDS = 8 * 3_600
BOOK_SLOT_MS = 250  # the book changes four times a second

LOG_UNIT = 1e-12  # one integer step of the log price
BASIS_POINT_UNITS = 100_000_000  # 1 bp = 1e-4 in log units
_CENTRED_STD = math.sqrt(4 * (65_536**2 - 1) / 12)  # std of the sum of four 16-bit lanes, centred
_MOVING_SECONDS_PER_DAY = SECONDS_PER_DAY - MINUTES_PER_DAY  # the first second of each minute does not move
_MOVING_SECONDS_PER_HOUR = 3_600 - 60
_REVERSION_DAYS = 20.0  # the price forgets a shock within a few weeks
_ANCHOR_TAPS = 160  # phi ** 160 = e ** -8: the moving average is the OU process to 3e-4
_WEIGHT_BITS = 20
_BASIS_SWING_BPS = 3.0
_BOOK_LEVEL_GAP = 2e-5  # at most 0.2 bp between neighbouring book levels
_BOOK_LEVEL_SIZE_DIVISOR = 40  # the level nearest the touch holds about 1/40 of a typical minute's volume
_MAX_TRADES_PER_SECOND_INDEX = 1_024
_MAX_BOOK_DEPTH = 1_000

# Daytime activity (UTC): Asia morning, Europe, the US session, a quiet late evening.
_HOURLY_VOLUME = (
    0.85, 0.80, 0.80, 0.85, 0.85, 0.80, 0.80, 0.90, 1.00, 1.00, 1.00, 1.00,
    1.05, 1.20, 1.30, 1.35, 1.30, 1.20, 1.10, 1.00, 0.95, 0.90, 0.85, 0.85,
)  # fmt: skip
_WEEKEND_VOLUME = 0.7


class _Stream:
    """One independent hash stream per purpose: changing one never changes another."""

    STEP = 1
    ANCHOR = 2
    BASIS = 3
    VOLUME = 4
    TRADE_COUNT = 5
    TRADE_OFFSET = 6
    TRADE_SIZE = 7
    TRADE_SIDE = 8
    BOOK_TOUCH = 9
    BOOK_GAP_BID = 10
    BOOK_GAP_ASK = 11
    BOOK_SIZE_BID = 12
    BOOK_SIZE_ASK = 13
    FUNDING = 14


# Specs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimSymbolSpec:
    """One simulated market. `start_price` is the level the price starts from and reverts to."""

    symbol: str
    venue_symbol: str
    base: str
    quote: str
    market_type: MarketType
    start_price: Decimal
    annual_volatility: float
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    max_leverage: int
    seed: int
    trades_per_minute: int
    volume_1m: Decimal  # typical base volume of one minute
    price_seed: int | None = None  # a perpetual takes its spot's seed and so follows the same path
    basis_bps: float = 0.0  # a perpetual's mean premium over its spot
    spread_ticks: int = 1

    @property
    def path_seed(self) -> int:
        return self.seed if self.price_seed is None else self.price_seed

    @property
    def is_perpetual(self) -> bool:
        return self.market_type == MarketType.LINEAR_PERPETUAL


def _spot(base: str, *, price: str, volatility: float, tick: str, lot: str, seed: int, trades_per_minute: int, volume_1m: str) -> SimSymbolSpec:
    return SimSymbolSpec(
        symbol=f"{base}/USDT",
        venue_symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        market_type=MarketType.SPOT,
        start_price=Decimal(price),
        annual_volatility=volatility,
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_quantity=Decimal(lot),
        min_notional=Decimal("5"),
        max_leverage=1,
        seed=seed,
        trades_per_minute=trades_per_minute,
        volume_1m=Decimal(volume_1m),
    )


def _perpetual(
    spot: SimSymbolSpec,
    *,
    tick: str,
    lot: str,
    min_notional: str,
    max_leverage: int,
    seed: int,
    trades_per_minute: int,
    volume_1m: str,
    basis_bps: float,
) -> SimSymbolSpec:
    """A linear perpetual on `spot`: the same price path plus a small basis."""
    return SimSymbolSpec(
        symbol=f"{spot.symbol}:{spot.quote}",
        venue_symbol=f"{spot.venue_symbol}-PERP",
        base=spot.base,
        quote=spot.quote,
        market_type=MarketType.LINEAR_PERPETUAL,
        start_price=spot.start_price,
        annual_volatility=spot.annual_volatility,
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_quantity=Decimal(lot),
        min_notional=Decimal(min_notional),
        max_leverage=max_leverage,
        seed=seed,
        trades_per_minute=trades_per_minute,
        volume_1m=Decimal(volume_1m),
        price_seed=spot.path_seed,
        basis_bps=basis_bps,
    )


_BTC = _spot("BTC", price="60000", volatility=0.40, tick="0.01", lot="0.00001", seed=1_001, trades_per_minute=900, volume_1m="8")
_ETH = _spot("ETH", price="3000", volatility=0.50, tick="0.01", lot="0.0001", seed=1_002, trades_per_minute=600, volume_1m="120")
_SOL = _spot("SOL", price="150", volatility=0.70, tick="0.01", lot="0.001", seed=1_003, trades_per_minute=300, volume_1m="1500")
_BTC_PERP = _perpetual(_BTC, tick="0.1", lot="0.001", min_notional="100", max_leverage=125, seed=2_001, trades_per_minute=1_200, volume_1m="20", basis_bps=2.0)
_ETH_PERP = _perpetual(_ETH, tick="0.01", lot="0.001", min_notional="20", max_leverage=100, seed=2_002, trades_per_minute=900, volume_1m="300", basis_bps=1.5)

SIM_SYMBOLS: Mapping[str, SimSymbolSpec] = {spec.symbol: spec for spec in (_BTC, _ETH, _SOL, _BTC_PERP, _ETH_PERP)}


# Hashing: a counter-based generator, so any second can be drawn on its own ------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _mix64_array(z: UIntArray) -> UIntArray:
    """The splitmix64 finaliser, element-wise (uint64 arithmetic wraps, as it should)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    return z ^ (z >> np.uint64(31))


def _mix64_int(z: int) -> int:
    z &= _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def hash64(seed: int, stream: int, index: IntArray) -> UIntArray:
    """64 random bits for every non-negative counter in `index`, keyed by (seed, stream)."""
    key = _mix64_int(seed * _GOLDEN + stream)
    state = index.astype(np.uint64) * np.uint64(_GOLDEN) + np.uint64(key)
    return _mix64_array(state)


def _centred(bits: UIntArray) -> IntArray:
    """The sum of the four 16-bit lanes, centred: symmetric, nearly normal, exact integers."""
    lane = np.uint64(0xFFFF)
    total = (bits & lane) + ((bits >> np.uint64(16)) & lane) + ((bits >> np.uint64(32)) & lane) + (bits >> np.uint64(48))
    return total.astype(np.int64) - 131_070


def _modulo(bits: UIntArray, modulus: int) -> IntArray:
    return (bits % np.uint64(modulus)).astype(np.int64)


def _unit_interval(bits: UIntArray) -> npt.NDArray[np.float64]:
    """A uniform float in [0, 1) from the top 53 bits (exact)."""
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


# Time ---------------------------------------------------------------------------------------


def epoch_micros(moment: datetime) -> int:
    """Whole microseconds since the epoch, exact. Naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("the simulator needs timezone-aware datetimes (UTC)")
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_epoch_seconds(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def from_epoch_millis(millis: int) -> datetime:
    return EPOCH + timedelta(milliseconds=millis)


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _moving_seconds_elapsed() -> IntArray:
    """For each second of a day, how many moving steps have happened since midnight."""
    seconds = np.arange(SECONDS_PER_DAY, dtype=np.int64)
    return seconds - seconds // 60


_MOVING_SECONDS_ELAPSED = _moving_seconds_elapsed()


# Bars ---------------------------------------------------------------------------------------


class MinuteBars(NamedTuple):
    """OHLC in ticks and volume in lots, one entry per minute (or per candle once aggregated)."""

    open: IntArray
    high: IntArray
    low: IntArray
    close: IntArray
    volume: IntArray

    @property
    def size(self) -> int:
        return int(self.open.shape[0])


def _concatenate(parts: list[MinuteBars]) -> MinuteBars:
    return MinuteBars(*(np.concatenate([getattr(part, name) for part in parts]) for name in MinuteBars._fields))


def aggregate_bars(bars: MinuteBars, per_candle: int) -> MinuteBars:
    """Group consecutive minutes: open of the first, high max, low min, close of the last, volume sum."""
    count = bars.size // per_candle
    shape = (count, per_candle)
    return MinuteBars(
        open=bars.open[: count * per_candle].reshape(shape)[:, 0].copy(),
        high=bars.high[: count * per_candle].reshape(shape).max(axis=1),
        low=bars.low[: count * per_candle].reshape(shape).min(axis=1),
        close=bars.close[: count * per_candle].reshape(shape)[:, -1].copy(),
        volume=bars.volume[: count * per_candle].reshape(shape).sum(axis=1),
    )


class _MinuteTrades(NamedTuple):
    times_ms: IntArray
    prices: IntArray  # ticks
    lots: IntArray
    buys: BoolArray
    first_id: int  # the id of the minute's first trade; ids run on without gaps


# The market ---------------------------------------------------------------------------------


class SimulatedMarket:
    """Candles, trades, prices, tickers, books and funding of one simulated symbol."""

    def __init__(self, spec: SimSymbolSpec) -> None:
        if not 60 <= spec.trades_per_minute <= 60 * _MAX_TRADES_PER_SECOND_INDEX // 2:
            raise ValueError("a simulated market trades at least once and at most 512 times a second")
        self.spec = spec
        self.symbol = spec.symbol
        self._tick = float(spec.tick_size)
        self._log_reference = math.log(float(spec.start_price))
        second_sigma = spec.annual_volatility / math.sqrt(365.0 * _MOVING_SECONDS_PER_DAY)
        day_sigma = spec.annual_volatility / math.sqrt(365.0)
        self._step_scale = max(1, round(second_sigma / LOG_UNIT / _CENTRED_STD))
        self._anchor_scale = max(1, round(day_sigma / LOG_UNIT / _CENTRED_STD))
        phi = math.exp(-1.0 / _REVERSION_DAYS)
        self._anchor_weights = np.array([round(phi**lag * (1 << _WEIGHT_BITS)) for lag in range(_ANCHOR_TAPS + 1)], dtype=np.int64)
        per_second = max(1, round(spec.trades_per_minute / 60))
        self._trade_count_span = 2 * per_second - 1  # 1 .. 2n-1 trades a second, n on average
        self._typical_lots = float(spec.volume_1m / spec.lot_size)
        self._volume_floor_lots = 60 * self._trade_count_span  # every trade gets at least one lot
        self._expected_range = 1.6 * second_sigma * math.sqrt(59.0)
        self._min_lots = max(1, int(spec.min_quantity / spec.lot_size))
        self._book_unit_lots = max(self._min_lots, round(self._typical_lots / _BOOK_LEVEL_SIZE_DIVISOR))
        self._anchor = lru_cache(maxsize=256)(self._compute_anchor)
        self._day_ticks = lru_cache(maxsize=4)(self._compute_day_ticks)
        self._day_bars = lru_cache(maxsize=64)(self._compute_day_bars)
        self._minute_trades = lru_cache(maxsize=8)(self._compute_minute_trades)

    def __repr__(self) -> str:
        return f"SimulatedMarket({self.symbol!r})"

    # Conversions ------------------------------------------------------------------------

    def price_from_ticks(self, ticks: int) -> Decimal:
        return Decimal(ticks) * self.spec.tick_size

    def quantity_from_lots(self, lots: int) -> Decimal:
        return Decimal(lots) * self.spec.lot_size

    # The price path ---------------------------------------------------------------------

    def _compute_anchor(self, day: int) -> int:
        """The log price (units, relative to the reference) at 00:00 UTC of `day`."""
        days = np.arange(day - _ANCHOR_TAPS, day + 1, dtype=np.int64)[::-1].copy()  # newest first, like the weights
        innovations = _centred(hash64(self.spec.path_seed, _Stream.ANCHOR, days))
        weighted = int(np.dot(innovations, self._anchor_weights))  # exact: < 2**45
        return (weighted * self._anchor_scale) >> _WEIGHT_BITS

    def _day_log_path(self, day: int) -> IntArray:
        """One log price per second of `day`, pinned to the day's two anchors."""
        seconds = day * SECONDS_PER_DAY + np.arange(SECONDS_PER_DAY, dtype=np.int64)
        steps = _centred(hash64(self.spec.path_seed, _Stream.STEP, seconds)) * self._step_scale
        steps[::60] = 0  # the first second of each minute repeats the previous close
        walk = np.cumsum(steps)
        start, end = self._anchor(day), self._anchor(day + 1)
        gap = int(walk[-1]) - (end - start)
        return start + walk - (_MOVING_SECONDS_ELAPSED * gap) // _MOVING_SECONDS_PER_DAY

    def _day_basis(self, day: int) -> IntArray:
        """A perpetual's premium over its spot, per second, moving from one hourly value to the next."""
        hours = day * 24 + np.arange(25, dtype=np.int64)
        swing = _unit_interval(hash64(self.spec.seed, _Stream.BASIS, hours)) * 2.0 - 1.0
        anchors = np.rint((self.spec.basis_bps + _BASIS_SWING_BPS * swing) * BASIS_POINT_UNITS).astype(np.int64)
        second_of_day = np.arange(SECONDS_PER_DAY, dtype=np.int64)
        hour = second_of_day // 3_600
        second_of_hour = second_of_day % 3_600
        moved = second_of_hour - second_of_hour // 60
        return anchors[hour] + ((anchors[hour + 1] - anchors[hour]) * moved) // _MOVING_SECONDS_PER_HOUR

    def _compute_day_ticks(self, day: int) -> IntArray:
        """The last trade price (in ticks) at every second of `day`: the block everything reads."""
        path = self._day_log_path(day)
        if self.spec.is_perpetual:
            path = path + self._day_basis(day)
        prices = np.exp(np.ascontiguousarray(self._log_reference + path.astype(np.float64) * LOG_UNIT))
        ticks = np.maximum(np.rint(prices / self._tick).astype(np.int64), 1)
        ticks.flags.writeable = False  # shared by every reader of this day
        return ticks

    def _compute_day_bars(self, day: int) -> MinuteBars:
        by_minute = self._day_ticks(day).reshape(MINUTES_PER_DAY, 60)
        high = by_minute.max(axis=1)
        low = by_minute.min(axis=1)
        close = by_minute[:, -1].copy()
        minutes = day * MINUTES_PER_DAY + np.arange(MINUTES_PER_DAY, dtype=np.int64)
        volume = self._minute_volumes(day, minutes, high, low, close)
        bars = MinuteBars(open=by_minute[:, 0].copy(), high=high, low=low, close=close, volume=volume)
        for column in bars:
            column.flags.writeable = False  # shared by every reader of this day
        return bars

    def _minute_volumes(self, day: int, minutes: IntArray, high: IntArray, low: IntArray, close: IntArray) -> IntArray:
        """Lots traded per minute: noise, time of day, weekends, and more volume when the price moves."""
        bits = hash64(self.spec.seed, _Stream.VOLUME, minutes)
        noise = 0.4 + 0.6 * (_unit_interval(bits) + _unit_interval(_mix64_array(bits)))
        hour_of_day = (minutes % MINUTES_PER_DAY) // 60
        season = np.array(_HOURLY_VOLUME)[hour_of_day]
        if (day + 3) % 7 >= 5:  # 1970-01-01 was a Thursday
            season = season * _WEEKEND_VOLUME
        relative_range = (high - low).astype(np.float64) / close.astype(np.float64)
        activity = np.clip(0.5 + 0.5 * relative_range / self._expected_range, 0.5, 3.0)
        lots = np.rint(self._typical_lots * noise * season * activity).astype(np.int64)
        return np.maximum(lots, self._volume_floor_lots)

    def _second_ticks(self, second: int, count: int = 1) -> IntArray:
        """Prices of `count` consecutive seconds from `second`, all inside one day."""
        day, offset = divmod(second, SECONDS_PER_DAY)
        return self._day_ticks(day)[offset : offset + count]

    def minute_bars(self, first_minute: int, end_minute: int) -> MinuteBars:
        """1-minute bars for minutes [first_minute, end_minute), vectorised, from whole-day blocks."""
        parts: list[MinuteBars] = []
        minute = first_minute
        while minute < end_minute:
            day, offset = divmod(minute, MINUTES_PER_DAY)
            stop = min(end_minute - day * MINUTES_PER_DAY, MINUTES_PER_DAY)
            bars = self._day_bars(day)
            parts.append(MinuteBars(*(column[offset:stop] for column in bars)))
            minute = day * MINUTES_PER_DAY + stop
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return MinuteBars(empty, empty, empty, empty, empty)
        return _concatenate(parts)

    # Candles ----------------------------------------------------------------------------

    def candles(self, start: datetime, end: datetime, timeframe: str = "1m") -> list[Candle]:
        """Complete candles with start <= open time < end, oldest first (future ones too: the caller decides)."""
        candle_seconds = timeframe_seconds(timeframe)
        per_candle = candle_seconds // 60
        candle_micros = candle_seconds * 1_000_000
        first = _ceil_div(epoch_micros(start), candle_micros)
        stop = _ceil_div(epoch_micros(end), candle_micros)
        if stop <= first:
            return []
        bars = aggregate_bars(self.minute_bars(first * per_candle, stop * per_candle), per_candle)
        return self._to_candles(bars, first * candle_seconds, candle_seconds)

    def _to_candles(self, bars: MinuteBars, first_open_second: int, candle_seconds: int) -> list[Candle]:
        tick, lot = self.spec.tick_size, self.spec.lot_size
        first_open = from_epoch_seconds(first_open_second)
        step = timedelta(seconds=candle_seconds)
        return [
            Candle(
                open_time=first_open + step * index,
                open=Decimal(o) * tick,
                high=Decimal(h) * tick,
                low=Decimal(lo) * tick,
                close=Decimal(c) * tick,
                volume=Decimal(v) * lot,
            )
            for index, (o, h, lo, c, v) in enumerate(
                zip(bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist(), bars.volume.tolist(), strict=True)
            )
        ]

    def forming_candle(self, moment: datetime, timeframe: str = "1m") -> Candle:
        """The candle that contains `moment`, built from the trades up to and including `moment`."""
        candle_seconds = timeframe_seconds(timeframe)
        millis = epoch_micros(moment) // 1_000
        second = millis // 1_000
        minute = second // 60
        open_second = second - second % candle_seconds
        closed = self.minute_bars(open_second // 60, minute)
        partial = self._forming_minute(millis)
        bars = _concatenate([closed, partial])
        whole = aggregate_bars(bars, bars.size)
        return self._to_candles(whole, open_second, candle_seconds)[0]

    def _forming_minute(self, millis: int) -> MinuteBars:
        """The current minute's bar from its trades up to `millis` (inclusive)."""
        second = millis // 1_000
        minute_start = second - second % 60
        ticks = self._second_ticks(minute_start, second - minute_start + 1)
        trades = self._minute_trades(minute_start // 60)
        lots = int(trades.lots[trades.times_ms <= millis].sum())

        def one(value: int) -> IntArray:
            return np.array([value], dtype=np.int64)

        return MinuteBars(one(int(ticks[0])), one(int(ticks.max())), one(int(ticks.min())), one(int(ticks[-1])), one(lots))

    # Prices and trades ------------------------------------------------------------------

    def price_at(self, moment: datetime) -> Decimal:
        """The last trade price at `moment`: every second opens with a trade at .000."""
        return self.price_from_ticks(self._ticks_at(moment))

    def _ticks_at(self, moment: datetime) -> int:
        return int(self._second_ticks(epoch_micros(moment) // 1_000_000)[0])

    def _compute_minute_trades(self, minute: int) -> _MinuteTrades:
        """Every trade of one minute: at least one per second at that second's price, lots summing to the volume."""
        first_second = minute * 60
        seconds = first_second + np.arange(60, dtype=np.int64)
        counts = 1 + _modulo(hash64(self.spec.seed, _Stream.TRADE_COUNT, seconds), self._trade_count_span)
        total = int(counts.sum())
        second_of_trade = np.repeat(np.arange(60, dtype=np.int64), counts)
        index_in_second = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        keys = (first_second + second_of_trade) * _MAX_TRADES_PER_SECOND_INDEX + index_in_second
        offsets = np.where(index_in_second == 0, 0, 1 + _modulo(hash64(self.spec.seed, _Stream.TRADE_OFFSET, keys), 999))
        order = np.argsort(second_of_trade * 1_000 + offsets, kind="stable")
        second_of_trade, offsets, index_in_second = second_of_trade[order], offsets[order], index_in_second[order]

        ticks = self._second_ticks(first_second, 60)
        prices = ticks[second_of_trade]
        positions = minute * 100_000 + np.arange(total, dtype=np.int64)
        buys = self._trade_sides(positions, ticks, second_of_trade, index_in_second)
        volume = int(self.minute_bars(minute, minute + 1).volume[0])
        lots = _split_lots(volume, hash64(self.spec.seed, _Stream.TRADE_SIZE, positions))
        times = (first_second + second_of_trade) * 1_000 + offsets
        return _MinuteTrades(times_ms=times, prices=prices, lots=lots, buys=buys, first_id=int(positions[0]))

    def _trade_sides(self, positions: IntArray, ticks: IntArray, second_of_trade: IntArray, index_in_second: IntArray) -> BoolArray:
        """The first trade of a second is a buy when the price rose, a sell when it fell; the rest are a coin toss."""
        coin = (hash64(self.spec.seed, _Stream.TRADE_SIDE, positions) & np.uint64(1)).astype(bool)
        move = np.diff(ticks, prepend=ticks[0])[second_of_trade]
        leading = index_in_second == 0
        return np.where(leading & (move > 0), True, np.where(leading & (move < 0), False, coin))

    def trades_between(self, start: datetime, end: datetime, limit: int | None = None) -> list[Trade]:
        """Trades with start <= timestamp < end, oldest first; only the first `limit` when given."""
        first_ms = _ceil_div(epoch_micros(start), 1_000)
        end_ms = _ceil_div(epoch_micros(end), 1_000)
        trades: list[Trade] = []
        for minute in range(first_ms // 60_000, _ceil_div(end_ms, 60_000)):
            trades.extend(self._trades_of_minute(minute, first_ms, end_ms))
            if limit is not None and len(trades) >= limit:
                return trades[:limit]
        return trades

    def latest_trades(self, end: datetime, limit: int) -> list[Trade]:
        """The last `limit` trades with timestamp < end, oldest first."""
        end_ms = _ceil_div(epoch_micros(end), 1_000)
        minute = (end_ms - 1) // 60_000
        batches: list[list[Trade]] = []
        found = 0
        while found < limit:
            batch = self._trades_of_minute(minute, minute * 60_000, end_ms)
            batches.append(batch)
            found += len(batch)
            minute -= 1
        trades = [trade for batch in reversed(batches) for trade in batch]
        return trades[len(trades) - limit :]

    def _trades_of_minute(self, minute: int, first_ms: int, end_ms: int) -> list[Trade]:
        batch = self._minute_trades(minute)
        chosen = np.flatnonzero((batch.times_ms >= first_ms) & (batch.times_ms < end_ms))
        tick, lot = self.spec.tick_size, self.spec.lot_size
        return [
            Trade(
                symbol=self.symbol,
                trade_id=str(batch.first_id + position),
                price=Decimal(price) * tick,
                quantity=Decimal(lots) * lot,
                side=Side.BUY if buy else Side.SELL,
                timestamp=from_epoch_millis(millis),
            )
            for position, millis, price, lots, buy in zip(
                chosen.tolist(),
                batch.times_ms[chosen].tolist(),
                batch.prices[chosen].tolist(),
                batch.lots[chosen].tolist(),
                batch.buys[chosen].tolist(),
                strict=True,
            )
        ]

    # Ticker, book, funding --------------------------------------------------------------

    def ticker_at(self, moment: datetime) -> Ticker:
        """Last price, touch, and rolling 24 h numbers from the 1 439 closed minutes plus the forming one."""
        millis = epoch_micros(moment) // 1_000
        minute = millis // 60_000
        bars = _concatenate([self.minute_bars(minute - MINUTES_PER_DAY + 1, minute), self._forming_minute(millis)])
        book = self.order_book_at(moment, depth=1)
        typical_ticks_x4 = int(((bars.open + bars.high + bars.low + bars.close) * bars.volume).sum())
        quote_volume = (Decimal(typical_ticks_x4) * self.spec.tick_size * self.spec.lot_size / 4).quantize(self.spec.tick_size)
        return Ticker(
            symbol=self.symbol,
            last=self.price_from_ticks(int(bars.close[-1])),
            bid=book.best_bid,
            ask=book.best_ask,
            open_24h=self.price_from_ticks(int(bars.open[0])),
            high_24h=self.price_from_ticks(int(bars.high.max())),
            low_24h=self.price_from_ticks(int(bars.low.min())),
            base_volume_24h=self.quantity_from_lots(int(bars.volume.sum())),
            quote_volume_24h=quote_volume,
            timestamp=from_epoch_millis(millis),
        )

    def order_book_at(self, moment: datetime, depth: int = 20) -> OrderBook:
        """Levels on the tick grid around the last price: the last trade sits at the bid or at the ask."""
        if not 1 <= depth <= _MAX_BOOK_DEPTH:
            raise ValueError(f"book depth must be between 1 and {_MAX_BOOK_DEPTH}")
        millis = epoch_micros(moment) // 1_000
        slot = millis // BOOK_SLOT_MS
        last = self._ticks_at(moment)
        at_bid = bool(hash64(self.spec.seed, _Stream.BOOK_TOUCH, np.array([slot], dtype=np.int64))[0] & np.uint64(1))
        spread = self.spec.spread_ticks
        best_bid, best_ask = (last, last + spread) if at_bid else (last - spread, last)
        max_gap = max(1, round(last * _BOOK_LEVEL_GAP))
        levels = np.arange(depth, dtype=np.int64)
        keys = slot * 4_096 + levels
        bid_prices = best_bid - self._level_offsets(_Stream.BOOK_GAP_BID, keys, max_gap)
        ask_prices = best_ask + self._level_offsets(_Stream.BOOK_GAP_ASK, keys, max_gap)
        bid_sizes = self._level_sizes(_Stream.BOOK_SIZE_BID, keys, levels)
        ask_sizes = self._level_sizes(_Stream.BOOK_SIZE_ASK, keys, levels)
        return OrderBook(
            symbol=self.symbol,
            bids=self._book_side(bid_prices, bid_sizes),
            asks=self._book_side(ask_prices, ask_sizes),
            timestamp=from_epoch_millis(millis),
        )

    def _level_offsets(self, stream: int, keys: IntArray, max_gap: int) -> IntArray:
        gaps = 1 + _modulo(hash64(self.spec.seed, stream, keys), max_gap)
        gaps[0] = 0
        return np.cumsum(gaps)

    def _level_sizes(self, stream: int, keys: IntArray, levels: IntArray) -> IntArray:
        """Strictly growing away from the touch: level i holds between (i+1) and (i+2) units."""
        unit = self._book_unit_lots
        return unit * (levels + 1) + _modulo(hash64(self.spec.seed, stream, keys), unit)

    def _book_side(self, prices: IntArray, sizes: IntArray) -> tuple[BookLevel, ...]:
        tick, lot = self.spec.tick_size, self.spec.lot_size
        return tuple(
            BookLevel(price=Decimal(price) * tick, quantity=Decimal(size) * lot)
            for price, size in zip(prices.tolist(), sizes.tolist(), strict=True)
            if price > 0
        )

    def funding_rate_at(self, moment: datetime) -> FundingRate:
        """The rate of the current 8-hour period, paid at its end: mostly a little positive, sometimes negative."""
        if not self.spec.is_perpetual:
            raise ValueError(f"{self.symbol} is not a perpetual: it has no funding rate")
        second = epoch_micros(moment) // 1_000_000
        period = second // FUNDING_INTERVAL_SECONDS
        bits = hash64(self.spec.seed, _Stream.FUNDING, np.array([period], dtype=np.int64))
        millionths = int(_modulo(bits, 241)[0]) - 40  # -0.004 % .. +0.02 %, 0.008 % on average
        return FundingRate(
            symbol=self.symbol,
            rate=Decimal(millionths).scaleb(-6),
            next_funding_time=from_epoch_seconds((period + 1) * FUNDING_INTERVAL_SECONDS),
            timestamp=moment.astimezone(UTC),
        )


def _split_lots(total: int, bits: UIntArray) -> IntArray:
    """Split `total` lots over the trades: at least one each, skewed towards small, summing exactly."""
    lane = np.uint64(0xFFFF)
    weights = 1 + (((bits & lane) * ((bits >> np.uint64(16)) & lane) * ((bits >> np.uint64(32)) & lane)) >> np.uint64(32)).astype(np.int64)
    count = int(weights.shape[0])
    spare = total - count
    lots = 1 + (spare * weights) // int(weights.sum())
    lots[int(np.argmax(weights))] += total - int(lots.sum())
    return lots


def simulated_markets(specs: Mapping[str, SimSymbolSpec] | None = None) -> dict[str, SimulatedMarket]:
    """One market per spec, keyed by symbol."""
    chosen = SIM_SYMBOLS if specs is None else specs
    return {symbol: SimulatedMarket(spec) for symbol, spec in chosen.items()}
