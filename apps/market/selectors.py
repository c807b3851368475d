"""Reading market data: stored candles (as ready-made JSON for charts) and the live state."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection

from apps.core.errors import ValidationError
from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.models import Symbol

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
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(json_agg(json_build_array(
                       (extract(epoch FROM open_time) * 1000)::bigint, open::text, high::text, low::text, close::text, volume::text
                   ) ORDER BY open_time), '[]'::json)::text
            FROM (
                SELECT open_time, open, high, low, close, volume FROM market_candle
                WHERE symbol_id = %(symbol)s AND timeframe = %(tf)s
                  AND open_time >= %(start)s AND open_time < %(end)s
                ORDER BY open_time DESC
                LIMIT %(limit)s
            ) newest
            """,
            {
                "symbol": symbol.pk,
                "tf": timeframe,
                "start": start or datetime(1970, 1, 1, tzinfo=UTC),
                "end": end or datetime(9999, 1, 1, tzinfo=UTC),
                "limit": limit,
            },
        )
        return str(cursor.fetchone()[0])


def candle_count(*, symbol: Symbol, timeframe: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM market_candle WHERE symbol_id = %s AND timeframe = %s", [symbol.pk, timeframe])
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
