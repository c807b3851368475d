"""Bot tasks (queue "bots"): they take ids, are idempotent, and never let one bot stop the worker.

- `process_closed_candles_task(symbol_id, timeframe, open_time)`: enqueued by `stream_market`
  when closed 1m candles complete a bucket of `timeframe`; runs every RUNNING bot on that symbol
  and timeframe through its unprocessed bars up to `open_time`. More than `CHUNK` bots: it runs
  the first chunk itself and hands the others to `process_bots_task`, so that every worker
  process shares one closed candle.
- `run_due_bots_task` (beat, every 60 s): the fallback; every running bot with an unprocessed
  stored bar gets a `process_closed_candles_task`.

Running the same task twice is harmless: a bar is processed once (see `apps.bots.runner`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import shared_task

from apps.bots import runner

logger = logging.getLogger(__name__)
QUEUE = "bots"
CHUNK = 50  # bots per task when a candle closes for many: small enough that the worker processes end together


def _when(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@shared_task(name="bots.process_closed_candles", queue=QUEUE, bind=True, acks_late=True, max_retries=5, soft_time_limit=240, time_limit=280)
def process_closed_candles_task(self: Any, symbol_id: str, timeframe: str, open_time: str) -> dict[str, int]:
    when = _when(open_time)
    bot_ids = runner.due_bot_ids(symbol_id=symbol_id, timeframe=timeframe, before=when)
    if not bot_ids:
        return runner.RunReport().as_dict()
    for start in range(CHUNK, len(bot_ids), CHUNK):
        process_bots_task.delay(symbol_id, timeframe, open_time, [str(pk) for pk in bot_ids[start : start + CHUNK]])
    report = runner.process_closed_candles(symbol_id=symbol_id, timeframe=timeframe, open_time=when, bot_ids=bot_ids[:CHUNK])
    if report.deferred:
        # database trouble on some bot: try again shortly (processed bars are skipped)
        raise self.retry(countdown=min(60, 2 ** (self.request.retries + 1)))
    return report.as_dict()


@shared_task(name="bots.process_bots", queue=QUEUE, bind=True, acks_late=True, max_retries=5, soft_time_limit=240, time_limit=280)
def process_bots_task(self: Any, symbol_id: str, timeframe: str, open_time: str, bot_ids: list[str]) -> dict[str, int]:
    """A chunk of the bots of one closed candle (see `process_closed_candles_task`)."""
    report = runner.process_closed_candles(symbol_id=symbol_id, timeframe=timeframe, open_time=_when(open_time), bot_ids=bot_ids)
    if report.deferred:
        raise self.retry(countdown=min(60, 2 ** (self.request.retries + 1)))
    return report.as_dict()


@shared_task(name="bots.process_bot", queue=QUEUE, acks_late=True, soft_time_limit=240, time_limit=280)
def process_bot_task(bot_id: str, open_time: str) -> dict[str, int]:
    return runner.bot_process_bar(bot_id=bot_id, open_time=_when(open_time)).as_dict()


@shared_task(name="bots.run_due_bots", queue=QUEUE, acks_late=True, soft_time_limit=50, time_limit=55)
def run_due_bots_task() -> int:
    """Enqueue the symbols and timeframes whose running bots have a stored bar left to process."""
    due = runner.due_bar_groups()
    for symbol_id, timeframe, newest in due:
        process_closed_candles_task.delay(str(symbol_id), timeframe, newest.isoformat())
    return len(due)


def enqueue_for_closed_candles(*, symbol_id: Any, first: datetime, last: datetime) -> int:
    """Called by `stream_market` after storing closed 1m candles first..last: one task per completed timeframe with running bots."""
    from apps.bots.models import Bot, BotStatus

    timeframes = set(Bot.objects.filter(symbol_id=symbol_id, status=BotStatus.RUNNING).values_list("timeframe", flat=True).distinct())
    if not timeframes:
        return 0
    done = runner.completed_buckets(first, last, timeframes)
    for timeframe, open_time in done.items():
        try:
            process_closed_candles_task.delay(str(symbol_id), timeframe, open_time.isoformat())
        except Exception:  # the broker is down: the beat fallback will catch up
            logger.exception("could not enqueue bots for %s %s", symbol_id, timeframe)
    return len(done)
