"""The offline demo market: SIM's symbols, watched, with history generated at first start."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction

from apps.audit.services import audit_record
from apps.exchanges.domain.timeframes import TIMEFRAMES, align_open_time
from apps.exchanges.models import Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.exchanges.services import run_with_gateway, symbols_sync
from apps.market.services.candles import candles_rollup_from_1m, candles_upsert, last_stored_open_time

PAGE = 1000


def sim_symbols_prepare() -> list[Symbol]:
    """Load SIM's markets and watch them all (the demo streams every one)."""
    exchange = builtin_exchange("SIM")
    symbols_sync(exchange=exchange)
    Symbol.objects.filter(exchange=exchange, active=True, watched=False).update(watched=True)
    return list(Symbol.objects.filter(exchange=exchange, active=True).select_related("exchange").order_by("symbol"))


def sim_history_seed(*, days: int | None = None, progress: Callable[[str, int], None] | None = None, now: datetime | None = None) -> int:
    """Generate and store SIM's 1m history (and every higher timeframe) up to the last closed minute.

    Symbols that already have history are only topped up, so running it again is cheap.
    """
    days = days or settings.SIM_HISTORY_DAYS
    now = now or datetime.now(UTC)
    newest_closed = align_open_time(now, "1m") - timedelta(minutes=1)
    written = 0
    for symbol in sim_symbols_prepare():
        stored = last_stored_open_time(symbol=symbol, timeframe="1m")
        start = stored + timedelta(minutes=1) if stored else newest_closed - timedelta(days=days) + timedelta(minutes=1)
        first = start
        while start <= newest_closed:
            page = run_with_gateway("SIM", _page(symbol.symbol, start))
            page = [c for c in page if c.open_time <= newest_closed]
            if not page:
                break
            written += candles_upsert(symbol=symbol, timeframe="1m", candles=page)
            start = page[-1].open_time + timedelta(minutes=1)
            if progress:
                progress(symbol.symbol, len(page))
        for timeframe in TIMEFRAMES[1:]:
            candles_rollup_from_1m(symbol=symbol, timeframe=timeframe, start=first - timedelta(days=1), end=newest_closed + timedelta(minutes=1))
    if written:
        with transaction.atomic():
            audit_record(actor=None, action="candles.sim_seeded", summary=f"SIM history: {written} 1m candles generated ({days} days)")
    return written


def _page(symbol: str, since: datetime):  # type: ignore[no-untyped-def]
    def call(gateway):  # type: ignore[no-untyped-def]
        return gateway.fetch_candles(symbol, "1m", since=since, limit=PAGE)

    return call
