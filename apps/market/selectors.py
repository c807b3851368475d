"""Reading market data: stored candles (as columns for bots and backtests, as ready-made JSON for
charts) and the live state. Bots, backtests, the API and the pages read stored candles only here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from apps.core.errors import ValidationError
from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.models import Symbol
from apps.market.domain.candle_arrays import CandleArrays

MAX_CANDLES_PER_REQUEST = 5000
DEFAULT_CANDLES_PER_REQUEST = 500


def candle_limit(raw: str | int | None) -> int:
    if raw in (None, ""):
        return DEFAULT_CANDLES_PER_REQUEST
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError.for_field("limit", f"limit must be a whole number, got {raw!r}.") from None
    if not 1 <= value <= MAX_CANDLES_PER_REQUEST:
        raise ValidationError.for_field("limit", f"limit must be between 1 and {MAX_CANDLES_PER_REQUEST}, got {value}.")
    return value


def check_timeframe(timeframe: str) -> str:
    if timeframe not in TIMEFRAMES:
        raise ValidationError.for_field("timeframe", f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}.")
    return timeframe


def candle_series_json(
    *, symbol: Symbol, timeframe: str, start: datetime | None = None, end: datetime | None = None, limit: int = DEFAULT_CANDLES_PER_REQUEST
) -> str:
    """The newest `limit` candles with start <= open time < end, oldest first, as a JSON array of
    [open_time_ms, "open", "high", "low", "close", "volume"]. Built by PostgreSQL in one query."""
    check_timeframe(timeframe)
    if start and end and start >= end:
        raise ValidationError.for_field("start", f"start {start.isoformat()} is not before end {end.isoformat()}.")
    where, params = _candle_range(symbol_id=symbol.pk, timeframe=timeframe, start=start, end=end, include_end=False)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT coalesce(json_agg(json_build_array(
                       (extract(epoch FROM open_time) * 1000)::bigint, open::text, high::text, low::text, close::text, volume::text
                   ) ORDER BY open_time), '[]'::json)::text
            FROM (
                SELECT open_time, open, high, low, close, volume FROM market_candle
                WHERE {where}
                ORDER BY open_time DESC
                LIMIT %(limit)s
            ) newest
            """,
            {**params, "limit": limit},
        )
        return str(cursor.fetchone()[0])


def _candle_range(*, symbol_id: Any, timeframe: str, start: datetime | None, end: datetime | None, include_end: bool) -> tuple[str, dict[str, Any]]:
    """The WHERE clause of every candle read: one symbol and timeframe, start <= open time < end (or <= end)."""
    clause = "symbol_id = %(symbol)s AND timeframe = %(tf)s"
    params: dict[str, Any] = {"symbol": symbol_id, "tf": timeframe}
    if start is not None:
        clause += " AND open_time >= %(start)s"
        params["start"] = start
    if end is not None:
        clause += " AND open_time <= %(end)s" if include_end else " AND open_time < %(end)s"
        params["end"] = end
    return clause, params


def candle_arrays(*, symbol_id: Any, timeframe: str, start: datetime, end: datetime, include_end: bool = False) -> CandleArrays:
    """Stored candles with start <= open time < end (<= end with `include_end`), oldest first, as float
    columns: how bots and backtests read history, so both see exactly the same bars."""
    where, params = _candle_range(symbol_id=symbol_id, timeframe=timeframe, start=start, end=end, include_end=include_end)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (extract(epoch FROM open_time) * 1000)::bigint, open::float8, high::float8, low::float8, close::float8, volume::float8"
            f" FROM market_candle WHERE {where} ORDER BY open_time",
            params,
        )
        return CandleArrays.from_rows(cursor.fetchall())


def candle_newest_open_time(*, symbol_id: Any, timeframe: str, since: datetime | None = None, until: datetime | None = None) -> datetime | None:
    """The open time of the newest stored candle, within [since, until] when given."""
    where, params = _candle_range(symbol_id=symbol_id, timeframe=timeframe, start=since, end=until, include_end=True)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(open_time) FROM market_candle WHERE {where}", params)
        value: datetime | None = cursor.fetchone()[0]
    return value


def candle_count(*, symbol_id: Any, timeframe: str, at_most: int | None = None) -> int:
    """How many candles are stored; with `at_most`, counting no further (cheap for long histories)."""
    where, params = _candle_range(symbol_id=symbol_id, timeframe=timeframe, start=None, end=None, include_end=False)
    with connection.cursor() as cursor:
        if at_most is None:
            cursor.execute(f"SELECT count(*) FROM market_candle WHERE {where}", params)
        else:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM market_candle WHERE {where} ORDER BY open_time DESC LIMIT %(limit)s) newest",
                {**params, "limit": at_most},
            )
        return int(cursor.fetchone()[0])


# Live state ----------------------------------------------------------------------------

MAX_BOOK_DEPTH = 100


def ticker_dicts(*, exchange_code: str, symbols: list[Symbol]) -> dict[str, dict[str, object]]:
    """Latest ticker per symbol slug: from the live stream, else one REST call (then kept briefly)."""
    from apps.exchanges.services import run_with_gateway
    from apps.market.live import live_read, live_store, ticker_to_dict

    slugs = [s.slug for s in symbols]
    live = live_read("ticker", exchange_code, slugs)
    result = {slug: entry.data for slug, entry in live.items() if entry.fresh}
    missing = [s for s in symbols if s.slug not in result]
    if missing:
        by_symbol = {s.symbol: s for s in missing}
        tickers = run_with_gateway(exchange_code, lambda gateway: gateway.fetch_tickers(list(by_symbol)))
        for ticker in tickers:
            symbol = by_symbol.get(ticker.symbol)
            if symbol is not None:
                data = ticker_to_dict(ticker)
                live_store("ticker", exchange_code, symbol.slug, data)
                result[symbol.slug] = data
    return result


def order_book_dict(*, symbol: Symbol, depth: int = 20) -> dict[str, object]:
    from apps.exchanges.services import run_with_gateway
    from apps.market.live import book_to_dict, live_read, live_store

    if not 1 <= depth <= MAX_BOOK_DEPTH:
        raise ValidationError.for_field("depth", f"depth must be between 1 and {MAX_BOOK_DEPTH}, got {depth}.")
    entry = live_read("book", symbol.exchange.code, [symbol.slug]).get(symbol.slug)
    if entry is not None and entry.fresh and len(entry.data["bids"]) >= depth:
        data = dict(entry.data)
    else:
        book = run_with_gateway(symbol.exchange.code, lambda gateway: gateway.fetch_order_book(symbol.symbol, max(depth, 20)))
        data = book_to_dict(book)
        live_store("book", symbol.exchange.code, symbol.slug, data)
    data["bids"] = data["bids"][:depth]
    data["asks"] = data["asks"][:depth]
    return data
