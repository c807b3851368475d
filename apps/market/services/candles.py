"""Writing candles: bulk, idempotent, partition-aware."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from psycopg import errors as pg_errors

from apps.core.partitions import ensure_partitions_cover
from apps.exchanges.domain.types import Candle
from apps.exchanges.models import Symbol
from apps.market.selectors import candle_newest_open_time

_COLUMNS = "symbol_id, timeframe, open_time, open, high, low, close, volume"


def candle_table(timeframe: str) -> str:
    return f"market_candle_{timeframe}"


def _rows(symbol: Symbol, timeframe: str, candles: Sequence[Candle]) -> list[tuple[object, ...]]:
    return [(symbol.pk, timeframe, c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in candles]


def _range_has_rows(symbol: Symbol, timeframe: str, first: datetime, last: datetime) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM market_candle WHERE symbol_id = %s AND timeframe = %s AND open_time BETWEEN %s AND %s)",
            [symbol.pk, timeframe, first, last],
        )
        return bool(cursor.fetchone()[0])


def _copy_into(table: str, rows: list[tuple[object, ...]]) -> None:
    # COPY goes around Django's cursor wrapper; translate driver errors the same way.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _upsert_through_stage(rows: list[tuple[object, ...]]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS candle_stage (symbol_id uuid, timeframe varchar(3), open_time timestamptz,"
            " open numeric, high numeric, low numeric, close numeric, volume numeric) ON COMMIT DELETE ROWS"
        )
    _copy_into("candle_stage", rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO market_candle ({_COLUMNS})
            SELECT DISTINCT ON (symbol_id, timeframe, open_time) {_COLUMNS} FROM candle_stage
            ON CONFLICT (symbol_id, timeframe, open_time) DO UPDATE
            SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume
            WHERE (market_candle.open, market_candle.high, market_candle.low, market_candle.close, market_candle.volume)
                IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)
            """
        )
        written = cursor.rowcount
        cursor.execute("TRUNCATE candle_stage")
    return written


def candles_upsert(*, symbol: Symbol, timeframe: str, candles: Sequence[Candle]) -> int:
    """Store candles once per (symbol, timeframe, open time). Returns rows inserted or changed.

    A range with nothing stored yet is COPYed straight into its partitions; otherwise the
    rows go through a staging table and an upsert that leaves identical rows untouched,
    so ingesting the same range twice changes nothing.
    """
    if not candles:
        return 0
    first = min(c.open_time for c in candles)
    last = max(c.open_time for c in candles)
    ensure_partitions_cover(candle_table(timeframe), first, last)
    rows = _rows(symbol, timeframe, candles)
    with transaction.atomic():
        if not _range_has_rows(symbol, timeframe, first, last) and len({c.open_time for c in candles}) == len(candles):
            try:
                with transaction.atomic():
                    _copy_into("market_candle", rows)
                return len(rows)
            except IntegrityError as exc:
                if not isinstance(exc.__cause__, pg_errors.UniqueViolation):
                    raise
                # another writer got there first: fall through to the upsert
        return _upsert_through_stage(rows)


def last_stored_open_time(*, symbol: Symbol, timeframe: str, since: datetime | None = None, until: datetime | None = None) -> datetime | None:
    """Where ingestion resumes: the newest stored open time (read by the market app's one candle reader)."""
    return candle_newest_open_time(symbol_id=symbol.pk, timeframe=timeframe, since=since, until=until)


def candles_rollup_from_1m(*, symbol: Symbol, timeframe: str, start: datetime, end: datetime) -> int:
    """Build (or refresh) `timeframe` candles from stored 1m candles whose bucket lies in [start, end).

    Only complete buckets are written: a bucket needs all of its minutes.
    """
    if timeframe == "1m":
        return 0
    from apps.exchanges.domain.timeframes import align_open_time, timeframe_seconds

    seconds = timeframe_seconds(timeframe)
    start = align_open_time(start, timeframe)
    ensure_partitions_cover(candle_table(timeframe), start, end)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO market_candle ({_COLUMNS})
            SELECT symbol_id, %(tf)s, bucket, opens[1], high, low, closes[1], volume FROM (
                SELECT symbol_id, date_bin(make_interval(secs => %(secs)s), open_time, TIMESTAMPTZ 'epoch') AS bucket,
                       array_agg(open ORDER BY open_time) AS opens, max(high) AS high, min(low) AS low,
                       array_agg(close ORDER BY open_time DESC) AS closes, sum(volume) AS volume, count(*) AS minutes
                FROM market_candle  -- through the parent: the 1m partitions are granted to no platform role
                WHERE timeframe = '1m' AND symbol_id = %(symbol)s AND open_time >= %(start)s AND open_time < %(end)s
                GROUP BY symbol_id, bucket
            ) buckets
            WHERE minutes = %(minutes)s
            ON CONFLICT (symbol_id, timeframe, open_time) DO UPDATE
            SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume
            WHERE (market_candle.open, market_candle.high, market_candle.low, market_candle.close, market_candle.volume)
                IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)
            """,
            {"tf": timeframe, "secs": seconds, "symbol": symbol.pk, "start": start, "end": end, "minutes": seconds // 60},
        )
        return cursor.rowcount
