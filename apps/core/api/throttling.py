"""API rate limits counted in Redis: one INCR per request in fixed windows.

DRF's own throttles keep every request's timestamp in a pickled list that is read and
written back through the cache on each call; at a bot's rate (1,200 a minute) that list
costs more than the request. A counter per window is one round trip. A fixed window lets
a client spend its allowance at the end of one window and again at the start of the next,
so the burst is at most twice the rate; the rate over any longer stretch holds.

Without Redis the throttles let requests through (and log it): an API that refuses every
request while its cache is down would stop bots from cancelling orders, which is worse
than a few minutes without a rate limit. Sign-in counts failures in the process instead
(apps/accounts/services/sign_in.py), because there a missing limit helps a guesser.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.conf import settings
from rest_framework import throttling
from rest_framework.request import Request

from apps.core.redis_clients import quick_redis_client

logger = logging.getLogger(__name__)


def count_in_window(key: str, window_seconds: int) -> tuple[int, float]:
    """(requests counted so far in the current window including this one, seconds until it ends)."""
    now = time.time()
    window = int(now // window_seconds)
    counter = f"throttle:{key}:{window}"
    pipe = quick_redis_client(settings.REDIS_CACHE_URL).pipeline(transaction=False)
    pipe.incr(counter)
    pipe.expire(counter, window_seconds + 1)
    count, _ = pipe.execute()
    return int(count), (window + 1) * window_seconds - now


class CountingThrottleMixin:
    """Replaces SimpleRateThrottle's history list with `count_in_window`."""

    rate: str | None
    num_requests: int
    duration: int

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]  # from the DRF class
        if key is None:
            return True
        try:
            count, self._seconds_left = count_in_window(key, int(self.duration))
        except redis.RedisError as exc:
            logger.warning("API throttle skipped: Redis is not answering (%s)", exc)
            return True
        return count <= self.num_requests

    def wait(self) -> float | None:
        return max(getattr(self, "_seconds_left", 0.0), 0.0)


class AnonRateThrottle(CountingThrottleMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(CountingThrottleMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(CountingThrottleMixin, throttling.ScopedRateThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        # As DRF's: the view names the scope, and the scope names the rate.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        num_requests, duration = self.parse_rate(self.rate)
        if num_requests is None or duration is None:
            return True
        self.num_requests, self.duration = num_requests, duration
        return super().allow_request(request, view)
