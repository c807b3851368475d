"""VWAP against a plain-Python reference on seeded random bars spanning several UTC days.

The indicator's contract (its docstring): the volume-weighted average of the typical price
(high + low + close) / 3, cumulative over all bars, or restarted at each UTC day when
`session="D"` (a bar belongs to the UTC day of its open time); NaN while no volume has traded.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pytest

from apps.strategies.domain import indicators as ind
from apps.strategies.domain.data import OHLCV
from apps.strategies.tests.bars import random_walk

NAN = math.nan


def _bars_over_days(n: int, seed: int) -> OHLCV:
    """A seeded random walk whose bars start mid-afternoon and come at irregular intervals (7 to 90
    minutes apart), with some bars of zero volume, among them the first bars of a day."""
    walk = random_walk(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    gaps = rng.integers(7, 91, n).astype("timedelta64[m]")
    times = np.datetime64("2024-03-09T15:41", "ns") + np.cumsum(gaps).astype("timedelta64[ns]")
    volume = walk.volume.copy()
    volume[rng.random(n) < 0.1] = 0.0
    days = times.astype("datetime64[D]")
    first_of_day = np.flatnonzero(np.concatenate(([True], days[1:] != days[:-1])))
    volume[first_of_day[1]] = 0.0  # a day that opens without volume: no VWAP until something trades
    volume[first_of_day[1] + 1] = 0.0
    return OHLCV(times, walk.open, walk.high, walk.low, walk.close, volume)


def _utc_day(value: np.datetime64) -> date:
    """The UTC calendar day of a bar's open time (datetime64 of naive UTC), via the standard library."""
    seconds = int(np.datetime64(value, "s").astype(np.int64))
    return datetime.fromtimestamp(seconds, tz=UTC).date()


def ref_vwap(high, low, close, volume, times=None):
    """Typical price x volume summed bar by bar, both sums restarted at each new UTC day (when times are given)."""
    out = []
    cum_pv = cum_v = 0.0
    day = None
    for i in range(len(close)):
        if times is not None:
            bar_day = _utc_day(times[i])
            if bar_day != day:
                day, cum_pv, cum_v = bar_day, 0.0, 0.0
        typical = (float(high[i]) + float(low[i]) + float(close[i])) / 3.0
        cum_pv += typical * float(volume[i])
        cum_v += float(volume[i])
        out.append(cum_pv / cum_v if cum_v > 0 else NAN)
    return out


@pytest.mark.parametrize("seed", [3, 11, 42])
def test_a_daily_vwap_matches_the_reference_reset_at_each_utc_midnight(seed) -> None:
    data = _bars_over_days(200, seed)
    days = np.unique(data.time.astype("datetime64[D]"))
    assert len(days) >= 3  # the series spans at least three UTC days (and so at least two resets)

    actual = ind.vwap(data.high, data.low, data.close, data.volume, data.time, session="D")
    expected = ref_vwap(data.high, data.low, data.close, data.volume, data.time)

    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0, equal_nan=True)
    assert np.isnan(actual).any() and not np.isnan(actual).all()  # the zero-volume opening bars are NaN, the rest are not
    # The first bar with volume in each day is its own typical price: nothing of the day before is carried over.
    for day in days:
        in_day = np.flatnonzero((data.time.astype("datetime64[D]") == day) & (data.volume > 0))
        first = in_day[0]
        assert actual[first] == pytest.approx((data.high[first] + data.low[first] + data.close[first]) / 3, rel=1e-12)


@pytest.mark.parametrize("seed", [3, 42])
def test_without_a_session_the_vwap_runs_over_every_bar_and_never_resets(seed) -> None:
    data = _bars_over_days(200, seed)

    actual = ind.vwap(data.high, data.low, data.close, data.volume)

    np.testing.assert_allclose(actual, ref_vwap(data.high, data.low, data.close, data.volume), rtol=1e-12, atol=0, equal_nan=True)
    daily = ind.vwap(data.high, data.low, data.close, data.volume, data.time, session="D")
    assert not np.allclose(actual[-50:], daily[-50:], equal_nan=True)  # the reset matters on these bars


def test_day_boundaries_are_utc_midnights_whatever_the_bar_length() -> None:
    """Four-hour bars opening at 22:00, 02:00, ...: a bar belongs to the UTC day it opens in."""
    data = random_walk(30, seed=5, minutes=240)
    times = data.time + np.timedelta64(22, "h")

    actual = ind.vwap(data.high, data.low, data.close, data.volume, times, session="D")

    np.testing.assert_allclose(actual, ref_vwap(data.high, data.low, data.close, data.volume, times), rtol=1e-12, atol=0, equal_nan=True)
    typical = (data.high + data.low + data.close) / 3
    assert actual[1] == pytest.approx(typical[1], rel=1e-12)  # 02:00 the next day: a new day's first bar
    assert actual[0] == pytest.approx(typical[0], rel=1e-12)
