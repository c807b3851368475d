"""Spreading the watched symbols across several `stream_market` processes (`--shard K/N`).

A symbol belongs to shard `1 + hash(exchange code, symbol) mod N`, with a hash that is the
same in every process and on every machine (SHA-256, not Python's salted `hash`), so the N
processes between them stream every symbol once. Each process holds a lease on its shard in
Redis, renewed while it runs: a second process started for the same shard is refused, and
so is one started with another N while any shard of the current layout is held (1/2 and 1/3
would stream some symbols twice). A process that is killed leaves its lease behind: the one
started in its place on the same host takes it at once when the holder's pid is gone (or is
its own: a restarted container's process has the same pid), and otherwise waits for it to
expire after `LEASE_TTL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from apps.core.redis_clients import quick_redis_client

logger = logging.getLogger(__name__)

LEASE_TTL_SECONDS = 15.0
LEASE_RENEW_SECONDS = 5.0
LEASE_KEY_PREFIX = "stream_market:shard:"
LAYOUT_KEY = "stream_market:shards"  # N of the shards currently held

# KEYS: the shard's lease, the layout. ARGV: our token, N, time to live in ms.
_ACQUIRE = """
local layout = redis.call('GET', KEYS[2])
if layout and layout ~= ARGV[2] then return {'layout', layout} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {'held', holder} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {'ok', ARGV[1]}
"""

# KEYS: the shard's lease. ARGV: the dead holder's token, ours, time to live in ms.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0
"""

# KEYS: the shard's lease, the layout. ARGV: our token, N, the lease key prefix.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
for k = 1, tonumber(ARGV[2]) do
  if redis.call('EXISTS', ARGV[3] .. k) == 1 then return 0 end
end
redis.call('DEL', KEYS[2])
return 1
"""


class ShardError(ValueError):
    """A `--shard` value that is not K/N with 1 <= K <= N, or a shard another process holds."""


@dataclass(frozen=True)
class Shard:
    number: int  # 1 .. count
    count: int

    @property
    def label(self) -> str:
        return f"{self.number}/{self.count}"

    def owns(self, exchange_code: str, symbol: str) -> bool:
        return shard_number(exchange_code, symbol, count=self.count) == self.number


ALL_SYMBOLS = Shard(number=1, count=1)


def shard_parse(text: str) -> Shard:
    """'2/3' -> Shard(2, 3); anything else is a ShardError with a one-line message."""
    number_text, slash, count_text = text.strip().partition("/")
    if not slash or not number_text.isdigit() or not count_text.isdigit():
        raise ShardError(f"--shard must be K/N, such as 1/2 (got {text!r})")
    number, count = int(number_text), int(count_text)
    if count < 1 or not 1 <= number <= count:
        raise ShardError(f"--shard K/N needs 1 <= K <= N (got {text!r})")
    return Shard(number=number, count=count)


def shard_number(exchange_code: str, symbol: str, *, count: int) -> int:
    """The shard (1 .. count) that streams `symbol` of `exchange_code`: the same in every process."""
    digest = hashlib.sha256(f"{exchange_code.upper()}:{symbol}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


@dataclass
class ShardLease:
    """This process's claim on one shard, in Redis, kept alive by `renew` and given back by `release`."""

    shard: Shard
    ttl_seconds: float = LEASE_TTL_SECONDS
    token: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")

    @property
    def key(self) -> str:
        return f"{LEASE_KEY_PREFIX}{self.shard.number}"

    def _client(self) -> Any:
        return quick_redis_client(settings.REDIS_CACHE_URL)

    def try_acquire(self) -> None:
        """Take (or extend) the lease; ShardError naming the holder when someone else has it."""
        outcome, value = self._client().eval(_ACQUIRE, 2, self.key, LAYOUT_KEY, self.token, self.shard.count, int(self.ttl_seconds * 1000))
        outcome, value = outcome.decode(), value.decode()
        if outcome == "layout":
            raise ShardError(f"shard {self.shard.label} refused: stream_market runs as {value} shards now; stop those first")
        if outcome == "held":
            raise ShardError(f"shard {self.shard.label} is held by another stream_market ({value})")

    def acquire(self, *, wait_seconds: float) -> None:
        """Take the lease, waiting up to `wait_seconds` for one a killed process left behind."""
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                self.try_acquire()
                return
            except ShardError:
                if self._take_over_from_a_dead_holder():
                    self.try_acquire()  # the layout key too
                    return
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.5)

    def _take_over_from_a_dead_holder(self) -> bool:
        """The holder ran on this host and its process is gone: take its lease without waiting for it to expire."""
        raw = self._client().get(self.key)
        if raw is None:
            return False
        holder = raw.decode()
        host, _, rest = holder.partition(":")
        pid_text = rest.partition(":")[0]
        if host != socket.gethostname() or not pid_text.isdigit() or _process_alive(int(pid_text)):
            return False
        taken = self._client().eval(_TAKE_OVER, 1, self.key, holder, self.token, int(self.ttl_seconds * 1000))
        if taken:
            logger.warning("took over shard %s from %s, whose process is gone", self.shard.label, holder)
        return bool(taken)

    renew = try_acquire

    def release(self) -> None:
        self._client().eval(_RELEASE, 2, self.key, LAYOUT_KEY, self.token, self.shard.count, LEASE_KEY_PREFIX)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():  # an earlier process of ours with the same pid (a restarted container)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def lease_keep(lease: ShardLease, stop: asyncio.Event, *, every: float = LEASE_RENEW_SECONDS) -> bool:
    """Renew `lease` until `stop`; on losing it, set `stop` (so two processes never stream one shard) and return False.

    A renewal that fails because Redis is briefly away is retried at the next tick; the lease
    lives `ttl_seconds`, three renewals' worth."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
            return True
        except TimeoutError:
            pass
        try:
            await asyncio.to_thread(lease.renew)
        except ShardError as exc:
            logger.error("%s; stopping", exc)
            stop.set()
            return False
        except Exception as exc:  # noqa: BLE001 -- Redis away: try again at the next tick
            logger.warning("could not renew the lease of shard %s: %s", lease.shard.label, exc)
    return True
