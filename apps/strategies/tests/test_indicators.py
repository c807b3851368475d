import math

import numpy as np
import pandas as pd
import pytest

from apps.strategies.domain import indicators as ind
from apps.strategies.tests.bars import random_walk

DATA = random_walk(300, seed=7)
CLOSE = DATA.close
NAN = math.nan


def assert_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=1e-10, atol=1e-9, equal_nan=True)


# -- plain-Python references ----------------------------------------------------------------------


def ref_sma(x, n):
    return [NAN if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ref_ema_full(x, alpha):
    out, y = [], None
    for v in x:
        y = v if y is None else (1 - alpha) * y + alpha * v
        out.append(y)
    return out


def ref_ema(x, n):
    full = ref_ema_full(x, 2 / (n + 1))
    return [NAN if i < n - 1 else v for i, v in enumerate(full)]


def ref_rsi(x, n):
    out = [NAN] * len(x)
    gains = [max(x[i] - x[i - 1], 0) for i in range(1, len(x))]
    losses = [max(x[i - 1] - x[i], 0) for i in range(1, len(x))]
    if len(gains) < n:
        return out
    g, lo = sum(gains[:n]) / n, sum(losses[:n]) / n
    for i in range(n, len(x)):
        if i > n:
            g = (g * (n - 1) + gains[i - 1]) / n
            lo = (lo * (n - 1) + losses[i - 1]) / n
        out[i] = 50.0 if g + lo == 0 else 100 * g / (g + lo)
    return out


def ref_tr(h, lo, c):
    return [h[0] - lo[0]] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]


def ref_atr(h, lo, c, n):
    tr = ref_tr(h, lo, c)
    out = [NAN] * len(c)
    a = sum(tr[1 : n + 1]) / n
    out[n] = a
    for i in range(n + 1, len(c)):
        a = (a * (n - 1) + tr[i]) / n
        out[i] = a
    return out


def ref_bollinger(x, n, k):
    mid, up, low = [], [], []
    for i in range(len(x)):
        if i < n - 1:
            mid.append(NAN), up.append(NAN), low.append(NAN)
            continue
        w = x[i - n + 1 : i + 1]
        m = sum(w) / n
        sd = math.sqrt(sum((v - m) ** 2 for v in w) / n)
        mid.append(m), up.append(m + k * sd), low.append(m - k * sd)
    return mid, up, low


# -- tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 10, 50])
def test_sma_matches_a_loop_and_pandas_with_nan_warm_up(n):
    out = ind.sma(CLOSE, n)
    assert_close(out, ref_sma(list(CLOSE), n))
    assert_close(out, pd.Series(CLOSE).rolling(n).mean())
    assert np.isnan(out[: n - 1]).all() and not np.isnan(out[n - 1 :]).any()


@pytest.mark.parametrize("n", [1, 3, 12, 26])
def test_ema_is_seeded_with_the_first_value_like_pandas_adjust_false(n):
    out = ind.ema(CLOSE, n)
    assert_close(out, ref_ema(list(CLOSE), n))
    expected = pd.Series(CLOSE).ewm(span=n, adjust=False).mean().to_numpy(copy=True)
    expected[: n - 1] = np.nan
    assert_close(out, expected)


def test_ema_on_a_tiny_series_by_hand():
    # alpha = 2 / (3 + 1) = 0.5: 10, 10.5 -> reported from index 2: 11.25, 12.125
    assert_close(ind.ema([10, 11, 12, 13], 3), [NAN, NAN, 11.25, 12.125])


@pytest.mark.parametrize("n", [2, 14])
def test_rsi_uses_wilders_smoothing(n):
    out = ind.rsi(CLOSE, n)
    assert_close(out, ref_rsi(list(CLOSE), n))
    assert np.isnan(out[:n]).all() and not np.isnan(out[n:]).any()


def test_rsi_by_hand_and_its_edge_cases():
    # changes +1, +1, -1, -6; n=2: first averages at index 2 are gain 1, loss 0 -> 100
    # index 3: gain (1 + 0) / 2 = 0.5, loss (0 + 1) / 2 = 0.5 -> 50; index 4: gain 0.25, loss 3.25 -> 7.142857
    assert_close(ind.rsi([100, 101, 102, 101, 95], 2), [NAN, NAN, 100, 50, 100 * 0.25 / 3.5])
    assert_close(ind.rsi([5, 5, 5, 5], 2), [NAN, NAN, 50, 50])


def test_macd_line_signal_and_histogram():
    result = ind.macd(CLOSE, 12, 26, 9)
    fast = ref_ema_full(list(CLOSE), 2 / 13)
    slow = ref_ema_full(list(CLOSE), 2 / 27)
    line = [f - s for f, s in zip(fast, slow, strict=True)]
    signal = ref_ema_full(line, 2 / 10)
    expected_line = [NAN if i < 25 else v for i, v in enumerate(line)]
    expected_signal = [NAN if i < 33 else v for i, v in enumerate(signal)]
    assert_close(result.line, expected_line)
    assert_close(result.signal, expected_signal)
    assert_close(result.histogram, [NAN if i < 33 else line[i] - signal[i] for i in range(len(line))])
    s = pd.Series(CLOSE)
    pandas_line = s.ewm(span=12, adjust=False).mean() - s.ewm(span=26, adjust=False).mean()
    assert_close(result.line[25:], pandas_line[25:])
    with pytest.raises(ValueError):
        ind.macd(CLOSE, 26, 12)


def test_bollinger_bands_use_the_population_standard_deviation():
    bands = ind.bollinger(CLOSE, 20, 2.0)
    mid, up, low = ref_bollinger(list(CLOSE), 20, 2.0)
    assert_close(bands.mid, mid)
    assert_close(bands.upper, up)
    assert_close(bands.lower, low)
    rolling = pd.Series(CLOSE).rolling(20)
    assert_close(bands.upper, rolling.mean() + 2 * rolling.std(ddof=0))
    # by hand: window 1, 2, 3 -> mean 2, population sd sqrt(2/3)
    b = ind.bollinger([1, 2, 3], 3, 1.0)
    assert b.upper[2] == pytest.approx(2 + math.sqrt(2 / 3)) and b.lower[2] == pytest.approx(2 - math.sqrt(2 / 3))


def test_true_range_and_atr_with_wilders_smoothing():
    h, lo, c = list(DATA.high), list(DATA.low), list(DATA.close)
    assert_close(ind.true_range(h, lo, c), ref_tr(h, lo, c))
    out = ind.atr(h, lo, c, 14)
    assert_close(out, ref_atr(h, lo, c, 14))
    assert np.isnan(out[:14]).all()
    # by hand, n=2: TR = [2, 4, 2] -> ATR at index 2 = mean(4, 2) = 3
    assert_close(ind.atr([101, 104, 104], [99, 100, 102], [100, 103, 103], 2), [NAN, NAN, 3.0])


def test_vwap_cumulative_and_reset_each_utc_day():
    times = np.array(["2024-01-01T22:00", "2024-01-01T23:00", "2024-01-02T00:00", "2024-01-02T01:00"], dtype="datetime64[ns]")
    high, low, close = [12, 12, 21, 30], [6, 9, 18, 24], [9, 12, 18, 27]  # typical prices 9, 11, 19, 27
    volume = [1, 3, 2, 0]
    assert_close(ind.vwap(high, low, close, volume), [9, (9 + 33) / 4, (9 + 33 + 38) / 6, (9 + 33 + 38) / 6])
    assert_close(ind.vwap(high, low, close, volume, times, session="D"), [9, 42 / 4, 19, 19])
    assert np.isnan(ind.vwap([1], [1], [1], [0]))[0]
    with pytest.raises(ValueError):
        ind.vwap(high, low, close, volume, session="D")


def test_highest_lowest_and_shift_look_only_backwards():
    x = [3, 1, 4, 1, 5, 9, 2]
    assert_close(ind.highest(x, 3), [NAN, NAN, 4, 4, 5, 9, 9])
    assert_close(ind.lowest(x, 3), [NAN, NAN, 1, 1, 1, 1, 2])
    assert_close(ind.shift(x, 2), [NAN, NAN, 3, 1, 4, 1, 5])
    with pytest.raises(ValueError):
        ind.shift(x, -1)


def test_an_input_nan_only_spoils_the_windows_that_contain_it():
    x = np.arange(10, dtype=float)
    x[4] = np.nan
    out = ind.sma(x, 3)
    assert np.isnan(out[4:7]).all() and out[7] == 6.0 and out[3] == 2.0


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_periods_must_be_positive_integers(bad):
    with pytest.raises(ValueError):
        ind.sma(CLOSE, bad)


def test_indicators_are_causal_changing_the_future_changes_no_past_value():
    other = CLOSE.copy()
    other[200:] = other[200:] * 1.5
    for fn in (lambda c: ind.sma(c, 20), lambda c: ind.ema(c, 20), lambda c: ind.rsi(c, 14), lambda c: ind.macd(c).signal, lambda c: ind.bollinger(c).upper):
        assert_close(fn(CLOSE)[:200], fn(other)[:200])
