"""Bars for tests: hand-written series and seeded random walks (on a 0.01 tick)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from apps.strategies.domain.data import OHLCV

START = np.datetime64("2024-01-01T00:00", "ns")


def bars(
    closes: Sequence[float],
    opens: Sequence[float] | None = None,
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
    *,
    minutes: int = 60,
    volume: Sequence[float] | None = None,
) -> OHLCV:
    """OHLCV from closes; opens default to the previous close, highs/lows to the bar's max/min of open and close."""
    c = np.asarray(closes, dtype=float)
    o = np.asarray(opens, dtype=float) if opens is not None else np.concatenate(([c[0]], c[:-1]))
    h = np.asarray(highs, dtype=float) if highs is not None else np.maximum(o, c)
    lo = np.asarray(lows, dtype=float) if lows is not None else np.minimum(o, c)
    t = START + np.arange(len(c)) * np.timedelta64(minutes, "m")
    return OHLCV.from_arrays(t, o, h, lo, c, np.ones(len(c)) if volume is None else volume)


def random_walk(n: int, seed: int, *, sigma: float = 0.004, minutes: int = 60, start: float = 100.0) -> OHLCV:
    rng = np.random.default_rng(seed)
    close = np.round(start * np.exp(np.cumsum(rng.normal(0, sigma, n))), 2)
    previous = np.concatenate(([start], close[:-1]))
    open_ = np.round(previous * np.exp(rng.normal(0, sigma / 4, n)), 2)
    high = np.round(np.maximum(open_, close) * (1 + np.abs(rng.normal(0, sigma / 2, n))), 2)
    low = np.round(np.minimum(open_, close) * (1 - np.abs(rng.normal(0, sigma / 2, n))), 2)
    t = START + np.arange(n) * np.timedelta64(minutes, "m")
    return OHLCV.from_arrays(t, open_, high, low, close, rng.uniform(1, 10, n))


def splice(first: OHLCV, second: OHLCV, t: int) -> OHLCV:
    """Bars 0..t of `first`, then bars t+1.. of `second` (same times): the same past, another future."""
    cols = {}
    for name in ("open", "high", "low", "close", "volume"):
        a, b = getattr(first, name), getattr(second, name)
        cols[name] = np.concatenate((a[: t + 1], b[t + 1 :]))
    return OHLCV(first.time.copy(), cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"])
