"""Rolling statistics on data with flat runs: exact on windows of equal values, within 1e-9 of an exact reference elsewhere.

The reference is TA-Lib's definition (BBANDS with the population deviation, SMA) computed
exactly: each window's mean and variance in rational arithmetic (`fractions.Fraction`, two
passes), the square root to 40 digits, and only then rounded to a float.
"""

from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

from apps.strategies.domain import indicators as ind
from apps.strategies.tests.bars import random_walk

TOLERANCE = 1e-9


def with_flat_runs(n: int, seed: int, start: float) -> np.ndarray:
    """A random walk on a 0.01 tick with runs of 5 to 60 equal closes (a halted or illiquid market)."""
    close = random_walk(n, seed, sigma=0.01, start=start).close.copy()
    rng = np.random.default_rng(seed)
    i = 30
    while i < n:
        length = int(rng.integers(5, 61))
        close[i : i + length] = close[i]
        i += length + int(rng.integers(10, 80))
    return close


def exact_mean_std(window: np.ndarray) -> tuple[float, float]:
    values = [Fraction(float(v)) for v in window]
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    with localcontext() as context:
        context.prec = 40
        std = (Decimal(variance.numerator) / Decimal(variance.denominator)).sqrt()
    return float(mean), float(std)


def reference(close: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.full(close.shape, np.nan)
    std = np.full(close.shape, np.nan)
    for i in range(n - 1, close.size):
        mean[i], std[i] = exact_mean_std(close[i - n + 1 : i + 1])
    return mean, std


def constant_windows(close: np.ndarray, n: int) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(close, n)
    out = np.zeros(close.shape, dtype=bool)
    out[n - 1 :] = windows.max(axis=1) == windows.min(axis=1)
    return out


@pytest.mark.parametrize(("seed", "start"), [(3, 100.0), (11, 30_000.0), (19, 0.05)])
@pytest.mark.parametrize("n", [5, 20, 40])
def test_bollinger_is_within_1e_9_of_the_exact_bands_and_has_no_width_on_flat_windows(seed, start, n):
    close = with_flat_runs(1500, seed, start)
    mean, std = reference(close, n)
    bands = ind.bollinger(close, n, 2.0)
    flat = constant_windows(close, n)
    assert flat.sum() > 50, "the data must hold flat windows"
    assert np.array_equal(bands.upper[flat], bands.lower[flat]), "no width on a window of equal values"
    assert np.array_equal(bands.mid[flat], close[flat])
    assert np.nanmax(np.abs(bands.mid - mean)) <= TOLERANCE
    assert np.nanmax(np.abs(bands.upper - (mean + 2 * std))) <= TOLERANCE
    assert np.nanmax(np.abs(bands.lower - (mean - 2 * std))) <= TOLERANCE
    assert np.array_equal(np.isnan(bands.upper), np.isnan(mean))


def test_forty_identical_closes_have_a_width_of_exactly_zero_after_moving_prices():
    close = np.concatenate((random_walk(200, 5, sigma=0.02, start=43_000.0).close, np.full(40, 43_123.45)))
    bands = ind.bollinger(close, 40, 2.0)
    assert bands.upper[-1] - bands.lower[-1] == 0.0
    assert bands.mid[-1] == 43_123.45
    assert ind.rolling_std(close, 40)[-1] == 0.0


@pytest.mark.parametrize("n", [3, 20])
def test_sma_and_highest_lowest_are_exact_on_flat_windows(n):
    close = with_flat_runs(800, 23, 30_000.0)
    flat = constant_windows(close, n)
    assert np.array_equal(ind.sma(close, n)[flat], close[flat])
    assert np.array_equal(ind.highest(close, n)[flat], close[flat])
    assert np.array_equal(ind.lowest(close, n)[flat], close[flat])
    mean, _ = reference(close, n)
    assert np.nanmax(np.abs(ind.sma(close, n) - mean)) <= TOLERANCE


def test_a_nan_spoils_only_the_windows_that_contain_it():
    close = with_flat_runs(200, 29, 100.0)
    close[100] = np.nan
    std = ind.rolling_std(close, 10)
    assert np.isnan(std[100:110]).all() and not np.isnan(std[110:]).any() and not np.isnan(std[9:100]).any()
