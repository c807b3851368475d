"""Candle timeframes: names, lengths, alignment of open times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14400,
    "1d": 86400,
}
TIMEFRAMES: tuple[str, ...] = tuple(TIMEFRAME_SECONDS)


class UnknownTimeframe(ValueError):
    pass


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise UnknownTimeframe(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}") from None


def timeframe_delta(timeframe: str) -> timedelta:
    return timedelta(seconds=timeframe_seconds(timeframe))


def align_open_time(moment: datetime, timeframe: str) -> datetime:
    """The open time of the candle that contains `moment`."""
    seconds = timeframe_seconds(timeframe)
    epoch = int(moment.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def last_closed_open_time(now: datetime, timeframe: str) -> datetime:
    """The open time of the most recent candle that has closed by `now`."""
    return align_open_time(now, timeframe) - timeframe_delta(timeframe)
