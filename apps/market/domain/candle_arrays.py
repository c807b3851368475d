"""Stored candles as columns: what the one candle reader returns to bots and backtests."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class CandleArrays(NamedTuple):
    """Open times in nanoseconds since the epoch (UTC) and float prices, oldest first.

    The field order is `OHLCV.from_arrays`'s, so `OHLCV.from_arrays(*arrays)` builds a series.
    """

    open_time_ns: npt.NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @property
    def size(self) -> int:
        """How many candles."""
        return int(self.open_time_ns.shape[0])

    @classmethod
    def from_rows(cls, rows: list[tuple[int, float, float, float, float, float]]) -> CandleArrays:
        """Rows of (open time in ms, open, high, low, close, volume)."""
        if not rows:
            empty = np.empty(0)
            return cls(np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
        array = np.asarray(rows, dtype=np.float64)
        return cls(array[:, 0].astype(np.int64) * 1_000_000, array[:, 1], array[:, 2], array[:, 3], array[:, 4], array[:, 5])
