"""After-commit hooks that survive Redis trouble: logged and retried in the background, never raised.

A push to the owner's pages or a task enqueued after a commit talks to Redis. When Redis is
away the commit has happened all the same: the hook's failure must not turn into a failed
bar, request or bot decision. Hooks take ids and render or enqueue from the database when
they run, so running one again later is safe.

`retry_hooks_on_failure(connection)` makes every hook registered so far in the current
transaction behave so. It rewrites Django's pending-hook list (`connection.run_on_commit`,
a list of `(savepoint ids, func, robust)` since Django 4.2): a transaction's hooks are
registered by the services it calls, which know nothing of the caller's needs.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections

from apps.core.domain.backoff import backoff_delay

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 30.0
RETRY_ATTEMPTS = 10  # about four minutes in all: longer than a Redis restart


class HookRetrier:
    """One daemon thread per process that runs failed hooks again with backoff until they succeed or give up."""

    def __init__(self, *, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_CAP_SECONDS, attempts: int = RETRY_ATTEMPTS) -> None:
        self.base, self.cap, self.attempts = base, cap, attempts
        self._queue: list[tuple[float, int, int, Callable[[], Any]]] = []  # (due, tie-breaker, attempt, hook)
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = 0
        self.succeeded = 0
        self.abandoned = 0

    def schedule(self, hook: Callable[[], Any], attempt: int = 1) -> None:
        due = time.monotonic() + backoff_delay(attempt - 1, base=self.base, cap=self.cap)
        with self._wake:
            heapq.heappush(self._queue, (due, next(self._order), attempt, hook))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="after-commit-retry", daemon=True)
                self._thread.start()
            self._wake.notify()

    def pending(self) -> int:
        """Hooks waiting for a retry or being retried now."""
        with self._wake:
            return len(self._queue) + self._running

    def _next(self) -> tuple[int, Callable[[], Any]]:
        with self._wake:
            while True:
                if self._queue and self._queue[0][0] <= time.monotonic():
                    _, _, attempt, hook = heapq.heappop(self._queue)
                    self._running += 1
                    return attempt, hook
                self._wake.wait(timeout=(self._queue[0][0] - time.monotonic()) if self._queue else None)

    def _run(self) -> None:
        while True:
            attempt, hook = self._next()
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - the next attempt, or give up with a log line
                if attempt >= self.attempts:
                    self.abandoned += 1
                    logger.error("after-commit %s failed %d times; giving up: %s", _name(hook), attempt, exc)
                else:
                    logger.warning("after-commit %s failed again (attempt %d): %s", _name(hook), attempt, exc)
                    self.schedule(hook, attempt + 1)
            else:
                self.succeeded += 1
                logger.info("after-commit %s succeeded on retry %d", _name(hook), attempt)
            finally:
                connections.close_all()  # this thread's connections: a retry may come minutes later
                with self._wake:
                    self._running -= 1


retrier = HookRetrier()


def _name(hook: Callable[[], Any]) -> str:
    return getattr(hook, "__qualname__", repr(hook))


def retried_on_failure(hook: Callable[[], Any]) -> Callable[[], None]:
    """`hook`, which on failure logs and is run again later instead of raising."""

    if getattr(hook, "retried_on_failure", False):
        return hook

    def run() -> None:
        try:
            hook()
        except Exception as exc:  # noqa: BLE001 - the commit happened; only the hook waits for Redis
            logger.warning("after-commit %s failed (%s); retrying in the background", _name(hook), exc)
            retrier.schedule(hook)

    run.__qualname__ = _name(hook)
    run.retried_on_failure = True  # type: ignore[attr-defined]
    return run


def retry_hooks_on_failure(connection: Any) -> None:
    """Make every after-commit hook registered so far in `connection`'s transaction log and retry instead of raising."""
    connection.run_on_commit = [(savepoints, retried_on_failure(hook), robust) for savepoints, hook, robust in connection.run_on_commit]
