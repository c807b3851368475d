"""One Redis client per URL and process, for quick calls on the request path (throttles, NUMSUB)."""

from __future__ import annotations

from functools import cache

import redis


@cache
def quick_redis_client(url: str) -> redis.Redis:
    """A client with one-second timeouts: a slow Redis must not hold a request for long."""
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
