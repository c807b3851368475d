"""Bot tasks (queue "bots"): they take ids, are idempotent, and never let one bot stop the worker.

- `process_closed_candles_task(symbol_id, timeframe, open_time)`: enqueued by `stream_market`
  when closed 1m candles complete a bucket of `timeframe`; runs every RUNNING bot on that symbol
  and timeframe through its unprocessed bars up to `open_time`. More than `CHUNK` bots: it runs
  the first chunk itself and hands the others to `process_bots_task`, so that every worker
  process shares one closed candle.
- `run_due_bots_task` (beat, every 60 s): the fallback; every running bot with an unprocessed
  stored bar gets a `process_closed_candles_task`.
- `process_tick_task(symbol_id, price, quantity, time)`: a trade between closes for the running
  bots on the symbol whose strategy has `on_tick`; `stream_market` sends a symbol's latest trade
  at most once a second (`TickDispatcher`). Trades may be dropped, bars never are.

Running the same task twice is harmless: a bar is processed once (see `apps.bots.runner`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from celery import shared_task

from apps.bots import runner
from apps.core.domain.backoff import backoff_delay
from apps.core.rls import acting_for_owner_of
from apps.exchanges.domain.types import Trade
from apps.strategies.domain.base import Tick

logger = logging.getLogger(__name__)
QUEUE = "bots"
CHUNK = 50  # bots per task when a candle closes for many: small enough that the worker processes end together
TICK_SECONDS = 1.0  # a symbol's latest trade goes to its tick-driven bots at most this often
TICK_BOTS_REFRESH_SECONDS = 15.0  # how often the stream looks again for symbols with tick-driven bots


def _when(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@shared_task(name="bots.process_closed_candles", queue=QUEUE, bind=True, acks_late=True, max_retries=5, soft_time_limit=240, time_limit=280)
def process_closed_candles_task(self: Any, symbol_id: str, timeframe: str, open_time: str) -> dict[str, int]:
    when = _when(open_time)
    try:
        bot_ids = runner.due_bot_ids(symbol_id=symbol_id, timeframe=timeframe, before=when)
        if not bot_ids:
            return runner.RunReport().as_dict()
        for start in range(CHUNK, len(bot_ids), CHUNK):
            process_bots_task.delay(symbol_id, timeframe, open_time, [str(pk) for pk in bot_ids[start : start + CHUNK]])
        report = runner.process_closed_candles(symbol_id=symbol_id, timeframe=timeframe, open_time=when, bot_ids=bot_ids[:CHUNK])
    except runner.TRANSIENT_ERRORS as exc:  # the database or Redis away: the same task again shortly
        raise _retry_later(self, exc) from exc
    if report.deferred:
        # trouble on some bot: try again shortly (processed bars are skipped)
        raise _retry_later(self)
    return report.as_dict()


def _retry_later(task: Any, exc: Exception | None = None) -> Exception:
    """The task again after a backoff; if even that cannot be queued (Redis away), the beat fallback catches up."""
    countdown = backoff_delay(task.request.retries + 1, base=1.0, cap=60.0)
    if exc is not None:
        logger.warning("%s: temporary trouble (%s); retrying in %.1f s", task.name, exc, countdown)
    return task.retry(exc=exc, countdown=countdown)


@shared_task(name="bots.process_bots", queue=QUEUE, bind=True, acks_late=True, max_retries=5, soft_time_limit=240, time_limit=280)
def process_bots_task(self: Any, symbol_id: str, timeframe: str, open_time: str, bot_ids: list[str]) -> dict[str, int]:
    """A chunk of the bots of one closed candle (see `process_closed_candles_task`)."""
    try:
        report = runner.process_closed_candles(symbol_id=symbol_id, timeframe=timeframe, open_time=_when(open_time), bot_ids=bot_ids)
    except runner.TRANSIENT_ERRORS as exc:
        raise _retry_later(self, exc) from exc
    if report.deferred:
        raise _retry_later(self)
    return report.as_dict()


@shared_task(name="bots.process_bot", queue=QUEUE, acks_late=True, soft_time_limit=240, time_limit=280)
@acting_for_owner_of("bots.Bot", "bot_id", "owner_id")
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


@shared_task(name="bots.process_tick", queue=QUEUE, acks_late=True, soft_time_limit=50, time_limit=55)
def process_tick_task(symbol_id: str, price: str, quantity: str, at: str) -> dict[str, int]:
    """One trade for every running bot on the symbol whose strategy has `on_tick`."""
    tick = Tick(Decimal(price), Decimal(quantity), _when(at))
    report = {"bots": 0, "orders": 0, "skipped": 0}
    for bot_id in runner.ticking_bot_ids(symbol_id=symbol_id):
        placed = runner.bot_process_tick(bot_id=bot_id, tick=tick)
        report["bots"] += 1
        if placed is None:
            report["skipped"] += 1
        else:
            report["orders"] += placed
    return report


class TickDispatcher:
    """`stream_market`'s side of tick-driven bots: a symbol's latest trade is handed to them at
    most once every `interval` seconds, and only for symbols that have such bots (looked up again
    every `refresh` seconds)."""

    def __init__(self, interval: float = TICK_SECONDS, refresh: float = TICK_BOTS_REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.refresh = refresh
        self.clock = clock
        self._symbols: set[str] = set()
        self._looked_at = -math.inf
        self._sent: dict[str, float] = {}

    def offer(self, symbol_id: Any, trade: Trade) -> bool:
        """Enqueue `process_tick_task` for this trade if the symbol is due; True when enqueued."""
        now = self.clock()
        if now - self._looked_at >= self.refresh:
            self._symbols = {str(pk) for pk in runner.ticking_symbol_ids()}
            self._looked_at = now
        key = str(symbol_id)
        if key not in self._symbols or now - self._sent.get(key, -math.inf) < self.interval:
            return False
        self._sent[key] = now
        try:
            process_tick_task.delay(key, str(trade.price), str(trade.quantity), trade.timestamp.isoformat())
        except Exception:  # the broker is down: this trade is dropped, the next one is tried
            logger.exception("could not enqueue a trade for the bots of %s", key)
            return False
        return True
