from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from celery import shared_task

from apps.core.errors import ApplicationError
from apps.exchanges.selectors import watched_symbols
from apps.market.services.ingestion import ingest_candles, plan_ingestion

logger = logging.getLogger(__name__)
BACKFILL_WINDOW = timedelta(days=1)


@shared_task(name="market.backfill_watched_symbols", soft_time_limit=240, time_limit=280)
def backfill_watched_symbols_task() -> dict[str, int]:
    """Fill any 1m gap of the last day for every watched symbol (the stream's safety net)."""
    since = datetime.now(UTC) - BACKFILL_WINDOW
    report: dict[str, int] = {}
    for symbol in watched_symbols():
        try:
            plan = plan_ingestion(symbol=symbol, timeframe="1m", since=since)
            if plan.expected:
                report[str(symbol)] = ingest_candles(plan=plan).written
        except ApplicationError as exc:
            logger.warning("backfill of %s failed: %s", symbol, exc.message)
    return report
