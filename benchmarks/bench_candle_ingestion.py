"""Candle ingestion: 1,000,000 1m candles through candles_upsert, again (idempotent), and a plain INSERT loop.

1,000 symbols x 1,000 minutes are generated up front (not timed) as Candle values with
Decimal prices, then stored one symbol at a time through `candles_upsert` (the first time
a range is seen it is COPYed straight into the partitions). Ingesting the same candles
again goes through the staging table and must change nothing. The reference is what a
naive writer does: one `INSERT` per row on a psycopg cursor, all in one transaction.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from benchmarks._support import candle_walk, progress

SYMBOLS = 1_000
MINUTES = 1_000
INSERT_LOOP_SYMBOLS = 20  # x MINUTES = 20,000 rows
TARGET_PER_SECOND = 100_000
# Spans a UTC midnight, so the rows land in two daily partitions of market_candle_1m.
START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SYMBOL_PREFIX = "BENCHC"
INSERT_SQL = "INSERT INTO market_candle (symbol_id, timeframe, open_time, open, high, low, close, volume) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"


def _symbols(count: int, first_index: int) -> list:
    from apps.exchanges.models import Symbol
    from apps.exchanges.selectors import builtin_exchange

    exchange = builtin_exchange("SIM")
    symbols = []
    for index in range(first_index, first_index + count):
        base = f"{SYMBOL_PREFIX}{index:04d}"
        symbols.append(
            Symbol(
                exchange=exchange,
                symbol=f"{base}/USDT",
                slug=f"{base}-USDT",
                venue_symbol=f"{base}USDT",
                base=base,
                quote="USDT",
                tick_size=Decimal("0.01"),
                lot_size=Decimal("0.0001"),
                min_quantity=Decimal("0.0001"),
                min_notional=Decimal("5"),
            )
        )
    return Symbol.objects.bulk_create(symbols)


def _generate(symbols: list, desc: str) -> list[tuple[object, list]]:
    rng = random.Random(20250101)
    times = [START + timedelta(minutes=m) for m in range(MINUTES)]
    return [(symbol, candle_walk(rng, times)) for symbol in progress(symbols, desc=desc, unit="symbol")]


def _ingest(batches: list[tuple[object, list]], desc: str) -> tuple[float, int, float]:
    """Wall seconds, rows written, and this process's CPU seconds (building and sending rows)."""
    from apps.market.services.candles import candles_upsert

    written = 0
    started, cpu = time.perf_counter(), time.process_time()
    with progress(total=sum(len(c) for _, c in batches), desc=desc, unit="candle", unit_scale=True) as bar:
        for symbol, candles in batches:
            written += candles_upsert(symbol=symbol, timeframe="1m", candles=candles)
            bar.update(len(candles))
    return time.perf_counter() - started, written, time.process_time() - cpu


def _insert_loop(batches: list[tuple[object, list]]) -> float:
    from django.db import connection, transaction

    from apps.core.partitions import ensure_partitions_cover

    ensure_partitions_cover("market_candle_1m", START, START + timedelta(minutes=MINUTES))
    connection.ensure_connection()
    started = time.perf_counter()
    bar = progress(total=sum(len(c) for _, c in batches), desc="INSERT loop", unit="row", unit_scale=True)
    with bar, transaction.atomic(), connection.connection.cursor() as cursor:
        for symbol, candles in batches:
            for c in candles:
                cursor.execute(INSERT_SQL, (symbol.pk, "1m", c.open_time, c.open, c.high, c.low, c.close, c.volume))
            bar.update(len(candles))
    return time.perf_counter() - started


def _settle() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) market_candle_1m")
    return time.perf_counter() - started


def _stored_rows(symbol_ids: list) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM market_candle WHERE timeframe = '1m' AND symbol_id = ANY(%s)", [symbol_ids])
        return int(cursor.fetchone()[0])


def _cleanup(symbol_ids: list) -> None:
    from django.db import connection, transaction

    from apps.exchanges.models import Symbol

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM market_candle WHERE timeframe = '1m' AND symbol_id = ANY(%s)", [symbol_ids])
        Symbol.objects.filter(pk__in=symbol_ids).delete()


def main() -> None:
    symbols = _symbols(SYMBOLS, 0)
    reference_symbols = _symbols(INSERT_LOOP_SYMBOLS, SYMBOLS)
    symbol_ids = [s.pk for s in symbols + reference_symbols]
    try:
        started = time.perf_counter()
        batches = _generate(symbols, "generating")
        reference = _generate(reference_symbols, "generating")
        total = sum(len(c) for _, c in batches)
        reference_total = sum(len(c) for _, c in reference)
        shape = f"{SYMBOLS:,} + {INSERT_LOOP_SYMBOLS} symbols x {MINUTES:,} minutes"
        print(f"   generated {total:,} + {reference_total:,} candles ({shape}) in {time.perf_counter() - started:.1f} s (not timed)")

        ingest_seconds, written, ingest_cpu = _ingest(batches, "candles_upsert")
        ingest_rate = total / ingest_seconds
        stored = _stored_rows(symbol_ids)
        print(f"   candles_upsert, new ranges (COPY): {total:,} in {ingest_seconds:.2f} s = {ingest_rate:,.0f}/s; returned {written:,}, stored {stored:,}")
        print(f"     of which {ingest_cpu:.2f} s CPU in this process (rows built and encoded for COPY); the rest is PostgreSQL")
        assert written == total == stored, (written, total, stored)

        settle_seconds = _settle()
        print(f"   VACUUM ANALYZE market_candle_1m: {settle_seconds:.1f} s (not timed; keeps autovacuum out of the next phases)")

        again_seconds, changed, again_cpu = _ingest(batches, "re-ingest")
        print(f"   candles_upsert, same candles again: {total:,} in {again_seconds:.2f} s = {total / again_seconds:,.0f}/s; {changed:,} rows changed")
        print(f"     of which {again_cpu:.2f} s CPU in this process")
        assert changed == 0, changed

        loop_seconds = _insert_loop(reference)
        loop_rate = reference_total / loop_seconds
        print(f"   plain INSERT per row, one transaction: {reference_total:,} in {loop_seconds:.2f} s = {loop_rate:,.0f} rows/s")
        assert _stored_rows(symbol_ids) == total + reference_total

        verdict = "met" if ingest_rate >= TARGET_PER_SECOND else "MISSED"
        print(
            f"candle ingestion: {total:,} candles in {ingest_seconds:.2f} s = {ingest_rate:,.0f} candles/s (target {TARGET_PER_SECOND:,}/s, {verdict}); "
            f"re-ingest: {again_seconds:.2f} s, {changed} changed; plain INSERT loop: {loop_rate:,.0f} rows/s; ratio {ingest_rate / loop_rate:.1f}x"
        )
    finally:
        _cleanup(symbol_ids)
