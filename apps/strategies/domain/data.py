"""Bars as columns: the float arrays strategies, indicators and the backtest engine share.

Prices are exact `Decimal`s in the database and in orders; a backtest or a strategy reads
them as float64 columns (vectorised maths), and a price that becomes an order or a fill is
turned back into a `Decimal` at that edge (`to_decimal`, the shortest decimal that reads back
as the same float: 100.01 stays 100.01).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from apps.orders.domain.model import Bar

FloatArray = npt.NDArray[np.float64]


class BarLike(Protocol):
    """Anything shaped like a bar: the orders domain's `Bar`, the exchanges domain's `Candle`."""

    @property
    def open_time(self) -> datetime: ...
    @property
    def open(self) -> Decimal: ...
    @property
    def high(self) -> Decimal: ...
    @property
    def low(self) -> Decimal: ...
    @property
    def close(self) -> Decimal: ...
    @property
    def volume(self) -> Decimal: ...


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_decimal(value: float) -> Decimal:
    """The shortest decimal that reads back as `value` (repr), so 100.01 is Decimal('100.01')."""
    return Decimal(repr(float(value)))


def to_datetime(value: np.datetime64 | int) -> datetime:
    """A UTC datetime from a datetime64[ns] (or integer nanoseconds since the epoch)."""
    ns = int(value.astype("datetime64[ns]").astype(np.int64)) if isinstance(value, np.datetime64) else int(value)
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)


@dataclass(frozen=True, slots=True, eq=False)
class OHLCV:
    """Bars keyed by open time (UTC, datetime64[ns]) with float64 prices and volumes, oldest first."""

    time: npt.NDArray[np.datetime64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        if self.time.dtype != np.dtype("datetime64[ns]"):
            object.__setattr__(self, "time", self.time.astype("datetime64[ns]"))
        n = len(self.time)
        for name in ("open", "high", "low", "close", "volume"):
            column = getattr(self, name)
            if column.ndim != 1 or len(column) != n:
                raise ValueError(f"column {name} must be one-dimensional with {n} values")
        if n > 1 and not bool(np.all(np.diff(self.time.astype(np.int64)) > 0)):
            raise ValueError("bar times must be strictly increasing")

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def from_arrays(
        cls,
        time: Any,
        open: Any,
        high: Any,
        low: Any,
        close: Any,
        volume: Any | None = None,
    ) -> OHLCV:
        t = np.asarray(time)
        if np.issubdtype(t.dtype, np.integer):
            t = t.astype("datetime64[ns]")
        elif t.dtype == object:
            t = np.array([np.datetime64(int(_utc(v).timestamp() * 1_000_000), "us") for v in t], dtype="datetime64[ns]")
        else:
            t = t.astype("datetime64[ns]")
        c = np.ascontiguousarray(close, dtype=np.float64)
        v = np.zeros_like(c) if volume is None else np.ascontiguousarray(volume, dtype=np.float64)
        return cls(
            t,
            np.ascontiguousarray(open, dtype=np.float64),
            np.ascontiguousarray(high, dtype=np.float64),
            np.ascontiguousarray(low, dtype=np.float64),
            c,
            v,
        )

    @classmethod
    def from_bars(cls, bars: Sequence[BarLike]) -> OHLCV:
        return cls.from_arrays(
            np.array([int(_utc(b.open_time).timestamp() * 1_000_000) for b in bars], dtype="datetime64[us]"),
            [float(b.open) for b in bars],
            [float(b.high) for b in bars],
            [float(b.low) for b in bars],
            [float(b.close) for b in bars],
            [float(b.volume) for b in bars],
        )

    def head(self, n: int) -> OHLCV:
        """The first n bars (views, no copy)."""
        return OHLCV(self.time[:n], self.open[:n], self.high[:n], self.low[:n], self.close[:n], self.volume[:n])

    def time_ns(self) -> npt.NDArray[np.int64]:
        return self.time.view(np.int64)

    def bar_seconds(self) -> float:
        """The bar length: the median gap between open times (60.0 for 1-minute bars)."""
        if len(self) < 2:
            return 0.0
        return float(np.median(np.diff(self.time_ns()))) / 1e9

    def datetime_at(self, i: int) -> datetime:
        ns = int(self.time.view(np.int64)[i])
        return EPOCH + timedelta(microseconds=ns // 1000)

    def bar(self, i: int) -> Bar:
        """Bar i as the orders domain's exact `Bar`."""
        return Bar(
            self.datetime_at(i),
            to_decimal(self.open[i]),
            to_decimal(self.high[i]),
            to_decimal(self.low[i]),
            to_decimal(self.close[i]),
            to_decimal(self.volume[i]),
        )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("bar times must be timezone-aware (UTC)")
    return moment.astimezone(UTC)
