"""Backfilling candles from a venue, and importing them from CSV files."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, ValidationError
from apps.exchanges.domain.timeframes import TIMEFRAMES, align_open_time, timeframe_delta
from apps.exchanges.domain.types import Candle
from apps.exchanges.errors import ExchangeErrorCode
from apps.exchanges.gateways.registry import gateway_for
from apps.exchanges.models import Exchange, Symbol
from apps.exchanges.services import exchange_record_outcome
from apps.market.services.candles import candles_upsert, last_stored_open_time

ProgressCallback = Callable[[int, datetime], None]


@dataclass(frozen=True)
class IngestionPlan:
    symbol: Symbol
    timeframe: str
    start: datetime  # first open time to fetch (resumes after what is stored)
    until: datetime  # last open time wanted
    expected: int  # candles between start and until


@dataclass(frozen=True)
class IngestionResult:
    fetched: int
    written: int
    first: datetime | None
    last: datetime | None


def validate_timeframe(exchange: Exchange, timeframe: str) -> None:
    supported = exchange.capabilities.get("timeframes", list(TIMEFRAMES))
    if timeframe not in supported:
        raise ValidationError(
            f"{exchange.code} has no {timeframe!r} candles; use one of {', '.join(supported)}.",
            code=ExchangeErrorCode.UNSUPPORTED_TIMEFRAME,
            extra={"fields": {"timeframe": [f"Unsupported timeframe {timeframe!r}."]}},
        )


def retention_horizon(timeframe: str, now: datetime) -> datetime | None:
    days = settings.CANDLE_RETENTION_DAYS.get(timeframe)
    return None if days is None else now - timedelta(days=days)


def plan_ingestion(*, symbol: Symbol, timeframe: str, since: datetime, until: datetime | None = None, now: datetime | None = None) -> IngestionPlan:
    now = now or datetime.now(UTC)
    validate_timeframe(symbol.exchange, timeframe)
    step = timeframe_delta(timeframe)
    newest_closed = align_open_time(now, timeframe) - step
    until = min(align_open_time(until, timeframe), newest_closed) if until else newest_closed
    since = align_open_time(since, timeframe)
    if since > until:
        raise ValidationError(
            f"--since {since:%Y-%m-%d %H:%M} is after --until {until:%Y-%m-%d %H:%M} (the newest closed {timeframe} candle).",
            extra={"fields": {"since": ["Start is after end."]}},
        )
    horizon = retention_horizon(timeframe, now)
    if horizon is not None and since < horizon:
        raise ValidationError(
            f"{timeframe} candles are kept {settings.CANDLE_RETENTION_DAYS[timeframe]} days (CANDLE_RETENTION_DAYS); "
            f"choose a start after {horizon:%Y-%m-%d %H:%M} UTC.",
            extra={"fields": {"since": ["Before the retention horizon."]}},
        )
    stored = last_stored_open_time(symbol=symbol, timeframe=timeframe, since=since, until=until)
    start = stored + step if stored is not None else since
    expected = max(0, int((until - start) / step) + 1) if start <= until else 0
    return IngestionPlan(symbol=symbol, timeframe=timeframe, start=start, until=until, expected=expected)


def ingest_candles(*, plan: IngestionPlan, actor: Any = None, progress: ProgressCallback | None = None) -> IngestionResult:
    """Page through the venue from `plan.start` to `plan.until`, storing each page as it arrives.

    One gateway (one connection, one rate limiter) serves every page; a failure keeps
    what was stored, so running the command again resumes after the last stored candle.
    """
    exchange = plan.symbol.exchange
    try:
        result = async_to_sync(_ingest_pages)(plan, progress)
    except ApplicationError as exc:
        exchange_record_outcome(exchange=exchange, error=exc)
        raise
    exchange_record_outcome(exchange=exchange, error=None)
    if result.fetched:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="candles.ingested",
                target=plan.symbol,
                summary=f"{plan.symbol} {plan.timeframe}: {result.fetched} candles fetched, {result.written} written",
                changes={"range": [None, [result.first.isoformat() if result.first else None, result.last.isoformat() if result.last else None]]},
            )
    return result


async def _ingest_pages(plan: IngestionPlan, progress: ProgressCallback | None) -> IngestionResult:
    exchange = plan.symbol.exchange
    page_limit = int(exchange.capabilities.get("candles_page_limit", 500))
    step = timeframe_delta(plan.timeframe)
    store = sync_to_async(candles_upsert, thread_sensitive=True)
    cursor = plan.start
    fetched = written = 0
    first: datetime | None = None
    last: datetime | None = None
    gateway = gateway_for(exchange.code)
    try:
        while cursor <= plan.until:
            page = await gateway.fetch_candles(plan.symbol.symbol, plan.timeframe, since=cursor, limit=page_limit)
            page = [c for c in page if cursor <= c.open_time <= plan.until]
            if not page:
                break
            written += await store(symbol=plan.symbol, timeframe=plan.timeframe, candles=page)
            fetched += len(page)
            first = first or page[0].open_time
            last = page[-1].open_time
            cursor = last + step
            if progress:
                progress(len(page), last)
    finally:
        await gateway.close()
    return IngestionResult(fetched=fetched, written=written, first=first, last=last)


# CSV import -------------------------------------------------------------------------

CSV_REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")
CSV_MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class CsvRowError:
    line: int
    message: str


class CsvImportError(ValidationError):
    default_code = "csv_invalid"


def _parse_timestamp(raw: str) -> datetime:
    text = raw.strip()
    if text.replace(".", "", 1).isdigit():
        number = float(text)
        seconds = number / 1000 if number > 10_000_000_000 else number  # epoch milliseconds or seconds
        return datetime.fromtimestamp(seconds, tz=UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_decimal(raw: str, column: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{column} {raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{column} {raw!r} is not a finite number")
    return value


def parse_candle_csv(lines: Iterable[str], timeframe: str) -> tuple[list[Candle], list[CsvRowError]]:
    """Every row checked; errors carry their line number (the header is line 1)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return [], [CsvRowError(1, "the file is empty")]
    columns = [name.strip().lower() for name in header]
    if "date" in columns and "timestamp" not in columns:
        columns[columns.index("date")] = "timestamp"
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if missing:
        return [], [CsvRowError(1, f"missing column(s) {', '.join(missing)}; the header must name {', '.join(CSV_REQUIRED)} (any case)")]
    index = {name: columns.index(name) for name in CSV_REQUIRED}
    candles: list[Candle] = []
    errors: list[CsvRowError] = []
    seen: dict[datetime, int] = {}
    for line_number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            if len(row) < len(columns):
                raise ValueError(f"expected {len(columns)} columns, found {len(row)}")
            open_time = _parse_timestamp(row[index["timestamp"]])
            if align_open_time(open_time, timeframe) != open_time:
                raise ValueError(f"timestamp {row[index['timestamp']]!r} is not the start of a {timeframe} candle")
            values = {name: _parse_decimal(row[index[name]], name) for name in ("open", "high", "low", "close", "volume")}
            if values["low"] <= 0 or values["volume"] < 0:
                raise ValueError("prices must be positive and volume not negative")
            if not (values["low"] <= min(values["open"], values["close"]) and values["high"] >= max(values["open"], values["close"])):
                raise ValueError("high/low do not contain open and close")
            if open_time in seen:
                raise ValueError(f"duplicate timestamp (also on line {seen[open_time]})")
        except ValueError as exc:
            errors.append(CsvRowError(line_number, str(exc)))
            continue
        seen[open_time] = line_number
        candles.append(Candle(open_time=open_time, **values))
    if not candles and not errors:
        errors.append(CsvRowError(2, "the file has a header but no rows"))
    candles.sort(key=lambda c: c.open_time)
    return candles, errors


def import_candles_csv(*, symbol: Symbol, timeframe: str, text: str, actor: Any = None) -> int:
    """All or nothing: any bad row aborts the import and names its line."""
    validate_timeframe(symbol.exchange, timeframe)
    candles, errors = parse_candle_csv(io.StringIO(text), timeframe)
    if errors:
        shown = "; ".join(f"line {e.line}: {e.message}" for e in errors[:CSV_MAX_ERRORS_SHOWN])
        more = f" (and {len(errors) - CSV_MAX_ERRORS_SHOWN} more)" if len(errors) > CSV_MAX_ERRORS_SHOWN else ""
        raise CsvImportError(
            f"{len(errors)} bad row(s), nothing imported: {shown}{more}",
            extra={"errors": [{"line": e.line, "message": e.message} for e in errors]},
        )
    with transaction.atomic():
        written = candles_upsert(symbol=symbol, timeframe=timeframe, candles=candles)
        audit_record(
            actor=actor,
            action="candles.imported",
            target=symbol,
            summary=f"{symbol} {timeframe}: {len(candles)} candles from CSV, {written} written",
        )
    return written
