"""Bars for backtests: from stored candles (one query into numpy arrays) or from CSV files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from apps.core.errors import ValidationError
from apps.exchanges.domain.timeframes import timeframe_seconds
from apps.exchanges.models import Symbol
from apps.market.selectors import candle_arrays
from apps.strategies.domain.data import OHLCV

MIN_BARS = 50


def stored_bars(*, symbol: Symbol, timeframe: str, start: datetime, end: datetime) -> OHLCV:
    """Closed candles with start <= open time < end, oldest first."""
    if start >= end:
        raise ValidationError.for_field("start", f"The start {start:%Y-%m-%d %H:%M} is not before the end {end:%Y-%m-%d %H:%M}.")
    arrays = candle_arrays(symbol_id=symbol.pk, timeframe=timeframe, start=start, end=end)
    if arrays.size < MIN_BARS:
        raise ValidationError(
            f"{symbol} has {arrays.size} stored {timeframe} candles between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}; "
            f"a backtest needs at least {MIN_BARS}. Ingest history first (manage.py ingest_candles) or widen the range.",
            code="not_enough_data",
            extra={"fields": {"start": ["Not enough data in this range."]}},
        )
    return OHLCV.from_arrays(*arrays)


def csv_bars(path: Path, timeframe: str | None = None) -> OHLCV:
    """A CSV of timestamp (or date), open, high, low, close, volume in any case. Rows must be sorted and gap-free."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ValidationError(f"no such file: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(f"{path} is not a readable CSV file: {exc}") from None
    except OSError as exc:  # a directory, no permission
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    if "timestamp" not in frame.columns and "date" in frame.columns:
        frame = frame.rename(columns={"date": "timestamp"})
    missing = [name for name in ("timestamp", "open", "high", "low", "close", "volume") if name not in frame.columns]
    if missing:
        raise ValidationError(f"{path}: missing column(s) {', '.join(missing)}; the header needs timestamp (or date), open, high, low, close, volume.")
    if len(frame) < MIN_BARS:
        raise ValidationError(f"{path} has {len(frame)} rows; a backtest needs at least {MIN_BARS}.")
    times = _parse_times(frame["timestamp"], path, frame.columns.get_loc("timestamp"))
    prices = {}
    for name in ("open", "high", "low", "close", "volume"):
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2
            raw = _raw_cell(path, frame.columns.get_loc(name), line - 2)
            raise ValidationError(f"{path}:{line}: {name} {raw!r} is not a number.")
        prices[name] = values.to_numpy(dtype=np.float64)
    step = np.diff(times)
    if (step <= 0).any():
        line = int((step <= 0).argmax()) + 3
        raise ValidationError(f"{path}:{line}: rows are not in increasing time order (or a timestamp repeats).")
    expected = timeframe_seconds(timeframe) * 1_000_000_000 if timeframe else int(np.median(step))
    if (step != expected).any():
        index = int((step != expected).argmax())
        raise ValidationError(
            f"{path}:{index + 3}: a gap: {pd.Timestamp(times[index], tz='UTC')} is followed by {pd.Timestamp(times[index + 1], tz='UTC')} "
            f"(expected one bar every {expected // 1_000_000_000} s). Fill or cut the gap first."
        )
    return OHLCV.from_arrays(times, prices["open"], prices["high"], prices["low"], prices["close"], prices["volume"])


def _raw_cell(path: Path, column: int, row: int) -> str:
    """A cell as written in the file (pandas reads "n/a" or "" as NaN, which would hide what was there)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return str(raw.iloc[row, column])


def _parse_times(column: pd.Series, path: Path, position: int) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column):
        missing = column.isna()
        if missing.any():  # an empty (or "n/a") cell in a column of epoch numbers
            line = int(missing.to_numpy().argmax()) + 2
            raise ValidationError(f"{path}:{line}: timestamp {_raw_cell(path, position, line - 2)!r} is not a date/time.")
        numbers = column.to_numpy(dtype=np.int64)
        unit = "ms" if numbers.max() > 10_000_000_000 else "s"
        try:
            parsed = pd.to_datetime(numbers, unit=unit, utc=True)
        except (ValueError, OverflowError):
            raise ValidationError(f"{path}: timestamps {numbers.min()}..{numbers.max()} are out of range for epoch seconds or milliseconds.") from None
    else:
        parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
        bad = parsed.isna()
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2
            raise ValidationError(f"{path}:{line}: timestamp {_raw_cell(path, position, line - 2)!r} is not a date/time.")
    index = pd.DatetimeIndex(parsed).tz_convert("UTC").tz_localize(None)
    return index.to_numpy(dtype="datetime64[ns]").astype(np.int64)
