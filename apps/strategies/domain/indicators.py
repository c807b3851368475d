"""Technical indicators, vectorised over whole series (numpy / pandas), causal by construction.

Every function takes array-likes of floats and returns float64 arrays of the same length.
Each value at index t depends only on inputs at indices <= t, so an indicator computed once
over a whole history and read up to t is what a live bot would have computed at t (the
no-look-ahead guarantee the strategy context relies on). Values that are not defined yet
(warm-up) are NaN; an input NaN makes every window containing it NaN (SMA, Bollinger).

Conventions (where platforms differ, the choice is stated):
- SMA(n): mean of the last n values; NaN for the first n-1.
- EMA(n): alpha = 2 / (n + 1), seeded with the first value and updated recursively, exactly
  like pandas `ewm(span=n, adjust=False)`; the first n-1 values are reported as NaN
  (warm-up, pandas' `min_periods=n`), the recursion itself still starts at the first value.
- RSI(n), Wilder: the first average gain/loss (at index n) is the simple mean of the first n
  changes, then `avg = (avg * (n - 1) + current) / n`. RSI = 100 * avg_gain / (avg_gain +
  avg_loss): 100 when there were no losses, 50 when the price did not move at all.
- MACD(fast, slow, signal): line = EMA(fast) - EMA(slow) (both seeded at the first value),
  signal = EMA(signal) of the line, histogram = line - signal. The line is NaN for the first
  slow-1 values, the signal and histogram for the first slow+signal-2.
- Bollinger(n, k): mid = SMA(n), upper/lower = mid +/- k * the POPULATION standard deviation
  (ddof=0) of the window, as TradingView, TA-Lib and most exchanges' charts do. The deviation
  is computed in two passes over each window (its mean first, then the mean squared distance
  from it), not from running sums, which lose digits when the window's values are close
  together: within 1e-9 of an exact computation, and 0 on a window of equal values.
- Every rolling statistic (SMA, Bollinger, highest/lowest) is exact on a window of equal
  values: the mean is that value and the deviation 0.
- True range: max(high - low, |high - previous close|, |low - previous close|); the first
  bar has no previous close, its true range is high - low.
- ATR(n), Wilder (TA-Lib's convention): the first value (at index n) is the mean of the true
  ranges of bars 1..n, then `atr = (atr * (n - 1) + tr) / n`.
- VWAP: cumulative sum(typical price * volume) / sum(volume), typical price = (h + l + c) / 3;
  with `session="D"` the sums restart at each UTC day. NaN while the session has no volume.
- highest / lowest(n): the max / min of the last n values, including the current one.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


def _as_float(values: ArrayLike) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _check_period(n: int, name: str = "period") -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be a positive integer, not {n!r}")


def sma(values: ArrayLike, n: int) -> FloatArray:
    """Simple moving average of the last n values (pandas' compensated rolling sum: no drift over long series).

    A window of equal values averages to that value exactly (a compensated running sum can be a
    unit in the last place off once large values have left the window).
    """
    _check_period(n)
    x = _as_float(values)
    out = pd.Series(x).rolling(n, min_periods=n).mean().to_numpy(dtype=np.float64, copy=True)
    constant = _constant_windows(x, n)
    out[constant] = x[constant]
    return out


def _constant_windows(x: FloatArray, n: int) -> npt.NDArray[np.bool_]:
    """Where the window ending at each index holds n equal values (False in the warm-up and around NaN).

    A window is constant when none of its n-1 steps changes the value: a running count of
    changes (NaN != NaN counts as one) tells it with one subtraction per window.
    """
    out = np.zeros(x.shape, dtype=bool)
    if x.size < n:
        return out
    changes = np.concatenate(([0], np.cumsum(x[1:] != x[:-1])))
    out[n - 1 :] = changes[n - 1 :] == changes[: x.size - n + 1]
    if n == 1:
        out &= ~np.isnan(x)
    return out


_CHUNK_VALUES = 1 << 20  # values per block of windows in the two-pass deviation (bounded memory)


def rolling_std(values: ArrayLike, n: int) -> FloatArray:
    """Population standard deviation (ddof=0) of the last n values, two passes per window; NaN for the first n-1.

    Each window's mean is taken first, then the mean of the squared distances from it, with the
    usual correction for the rounding of that mean (the mean of the distances, squared, is taken
    off). A window of equal values gives exactly 0; a window with a NaN gives NaN.
    """
    _check_period(n)
    x = _as_float(values)
    out = np.full(x.shape, np.nan)
    if x.size < n:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(x, n)
    step = max(1, _CHUNK_VALUES // n)
    for start in range(0, windows.shape[0], step):
        block = windows[start : start + step]
        mean = block.mean(axis=1)
        distance = block - mean[:, None]
        correction = distance.mean(axis=1)
        variance = (distance * distance).mean(axis=1) - correction * correction
        std = np.sqrt(np.maximum(variance, 0.0))
        std[block.max(axis=1) == block.min(axis=1)] = 0.0
        out[n - 1 + start : n - 1 + start + block.shape[0]] = std
    return out


def _ewm(values: FloatArray, alpha: float) -> FloatArray:
    """y0 = x0, y_t = (1 - alpha) * y_{t-1} + alpha * x_t (pandas ewm(adjust=False)); leading NaNs are kept."""
    return pd.Series(values).ewm(alpha=alpha, adjust=False).mean().to_numpy(dtype=np.float64, copy=True)


def ema(values: ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, alpha = 2 / (n + 1), seeded with the first value; NaN for the first n-1."""
    _check_period(n)
    x = _as_float(values)
    out = _ewm(x, 2.0 / (n + 1))
    out[: n - 1] = np.nan
    return out


def _wilder(values: FloatArray, n: int, first: int) -> FloatArray:
    """Wilder's smoothing of values[first:], seeded with the mean of values[first:first+n]; NaN before first+n-1."""
    out = np.full(values.shape, np.nan)
    seed_at = first + n - 1
    if values.size <= seed_at:
        return out
    tail = values[seed_at:].copy()
    tail[0] = values[first : seed_at + 1].mean()
    out[seed_at:] = _ewm(tail, 1.0 / n)
    return out


def rsi(close: ArrayLike, n: int = 14) -> FloatArray:
    """Relative strength index with Wilder's smoothing; NaN for the first n values."""
    _check_period(n)
    c = _as_float(close)
    change = np.diff(c, prepend=np.nan)
    gain = np.where(change > 0, change, 0.0)
    loss = np.where(change < 0, -change, 0.0)
    avg_gain = _wilder(gain, n, 1)
    avg_loss = _wilder(loss, n, 1)
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, 100.0 * avg_gain / total, 50.0)
    out[np.isnan(total)] = np.nan
    return out


class MACD(NamedTuple):
    line: FloatArray
    signal: FloatArray
    histogram: FloatArray


def macd(close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> MACD:
    """MACD line, signal line and histogram (see the module docstring for the warm-up)."""
    for value, name in ((fast, "fast"), (slow, "slow"), (signal, "signal")):
        _check_period(value, name)
    if fast >= slow:
        raise ValueError("fast must be shorter than slow")
    c = _as_float(close)
    line = _ewm(c, 2.0 / (fast + 1)) - _ewm(c, 2.0 / (slow + 1))
    sig = _ewm(line, 2.0 / (signal + 1))
    hist = line - sig
    line[: slow - 1] = np.nan
    sig[: slow + signal - 2] = np.nan
    hist[: slow + signal - 2] = np.nan
    return MACD(line, sig, hist)


class Bands(NamedTuple):
    mid: FloatArray
    upper: FloatArray
    lower: FloatArray


def bollinger(close: ArrayLike, n: int = 20, k: float = 2.0) -> Bands:
    """Bollinger Bands: SMA(n) +/- k population standard deviations (ddof=0)."""
    _check_period(n)
    x = _as_float(close)
    mid = sma(x, n)
    std = rolling_std(x, n)
    return Bands(mid, mid + k * std, mid - k * std)


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> FloatArray:
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    previous = np.concatenate(([np.nan], c[:-1]))
    with np.errstate(invalid="ignore"):
        tr = np.fmax(h - lo, np.fmax(np.abs(h - previous), np.abs(lo - previous)))
    return tr


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> FloatArray:
    """Average true range with Wilder's smoothing; the first value at index n (TA-Lib)."""
    _check_period(n)
    return _wilder(true_range(high, low, close), n, 1)


def vwap(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    times: ArrayLike | None = None,
    session: Literal["D"] | None = None,
) -> FloatArray:
    """Volume-weighted average price of the typical price; cumulative, or restarted each UTC day (`session="D"`, needs `times`)."""
    typical = (_as_float(high) + _as_float(low) + _as_float(close)) / 3.0
    v = _as_float(volume)
    pv = typical * v
    if session is None:
        cum_pv = np.cumsum(pv)
        cum_v = np.cumsum(v)
    elif session == "D":
        if times is None:
            raise ValueError("a daily session reset needs the bars' times")
        day = np.asarray(times).astype("datetime64[D]")
        frame = pd.DataFrame({"pv": pv, "v": v, "day": day})
        grouped = frame.groupby("day", sort=False)
        cum_pv = grouped["pv"].cumsum().to_numpy(dtype=np.float64, copy=True)
        cum_v = grouped["v"].cumsum().to_numpy(dtype=np.float64, copy=True)
    else:
        raise ValueError("session must be None or 'D'")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cum_v > 0, cum_pv / cum_v, np.nan)


def highest(values: ArrayLike, n: int) -> FloatArray:
    """Max of the last n values (including the current one); NaN for the first n-1."""
    _check_period(n)
    return pd.Series(_as_float(values)).rolling(n, min_periods=n).max().to_numpy(dtype=np.float64, copy=True)


def lowest(values: ArrayLike, n: int) -> FloatArray:
    """Min of the last n values (including the current one); NaN for the first n-1."""
    _check_period(n)
    return pd.Series(_as_float(values)).rolling(n, min_periods=n).min().to_numpy(dtype=np.float64, copy=True)


def shift(values: ArrayLike, periods: int = 1) -> FloatArray:
    """The series delayed by `periods` bars (the value of t-periods at t); NaN where there is none."""
    x = _as_float(values)
    out = np.full(x.shape, np.nan)
    if periods <= 0:
        raise ValueError("only positive shifts (into the past) are causal")
    if periods < x.size:
        out[periods:] = x[:-periods]
    return out
