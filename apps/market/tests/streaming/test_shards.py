"""`stream_market --shard K/N`: every watched symbol streamed by exactly one of N processes, each holding its shard's lease."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.core.redis_clients import quick_redis_client
from apps.market.models import Candle
from apps.market.services.demo import sim_symbols_prepare
from apps.market.sharding import LAYOUT_KEY, LEASE_KEY_PREFIX, Shard, ShardError, ShardLease, lease_keep, shard_number, shard_parse
from apps.market.streaming import MarketStreamer


@pytest.fixture
def no_leases() -> Iterator[None]:
    """No shard is held before or after the test (leases live in the real Redis)."""

    def clear() -> None:
        client = quick_redis_client(settings.REDIS_CACHE_URL)
        client.delete(LAYOUT_KEY, *(f"{LEASE_KEY_PREFIX}{k}" for k in range(1, 9)))

    clear()
    yield
    clear()


def _another_process(shard: str) -> ShardLease:
    """A lease as a running process on this host holds it (this test's parent process stands in for it)."""
    return ShardLease(shard_parse(shard), token=f"{socket.gethostname()}:{os.getppid()}:{shard}")


# K/N -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/2", "--shard K/N needs 1 <= K <= N (got '3/2')"),
        ("0/2", "--shard K/N needs 1 <= K <= N (got '0/2')"),
        ("1/0", "--shard K/N needs 1 <= K <= N (got '1/0')"),
        ("2", "--shard must be K/N, such as 1/2 (got '2')"),
        ("a/b", "--shard must be K/N, such as 1/2 (got 'a/b')"),
        ("-1/2", "--shard must be K/N, such as 1/2 (got '-1/2')"),
    ],
)
def test_a_bad_shard_is_refused_with_one_line(text: str, message: str) -> None:
    with pytest.raises(ShardError) as caught:
        shard_parse(text)
    assert str(caught.value) == message


@pytest.mark.django_db
def test_the_command_refuses_a_bad_shard_before_streaming_anything(no_leases: None) -> None:
    with pytest.raises(CommandError, match=r"^--shard K/N needs 1 <= K <= N \(got '3/2'\)$"):
        call_command("stream_market", "--shard", "3/2", "--seconds", "0.1")


def test_each_symbol_belongs_to_exactly_one_shard_and_always_the_same() -> None:
    names = [f"{base}/USDT" for base in ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LTC", "AVAX", "LINK")]
    for count in (1, 2, 3, 5):
        shards = [Shard(number=k, count=count) for k in range(1, count + 1)]
        for code in ("BINANCE", "BYBIT", "OKX", "SIM"):
            for name in names:
                assert sum(shard.owns(code, name) for shard in shards) == 1
    # a stable hash, not Python's per-process salted one: these hold on every machine
    assert [shard_number("BINANCE", "BTC/USDT", count=4), shard_number("SIM", "BTC/USDT", count=2)] == [
        1 + int.from_bytes(hashlib.sha256(b"BINANCE:BTC/USDT").digest()[:8], "big") % 4,
        1,
    ]
    assert shard_parse("2/3") == Shard(number=2, count=3)


# Leases --------------------------------------------------------------------------------


def test_two_processes_never_hold_the_same_shard(no_leases: None) -> None:
    first, second = _another_process("1/2"), ShardLease(shard_parse("1/2"))
    first.acquire(wait_seconds=0)
    with pytest.raises(ShardError, match=r"^shard 1/2 is held by another stream_market \(.+\)$"):
        second.acquire(wait_seconds=0)
    ShardLease(shard_parse("2/2")).acquire(wait_seconds=0)  # the other shard is free
    first.release()
    second.acquire(wait_seconds=0)


def test_a_shard_of_another_layout_is_refused_while_the_current_one_runs(no_leases: None) -> None:
    running = _another_process("2/2")
    running.acquire(wait_seconds=0)
    with pytest.raises(ShardError, match=r"^shard 3/3 refused: stream_market runs as 2 shards now; stop those first$"):
        ShardLease(shard_parse("3/3")).acquire(wait_seconds=0)
    running.release()
    ShardLease(shard_parse("3/3")).acquire(wait_seconds=0)  # the last shard of 2 let go: a new layout may start


def test_a_lease_left_by_a_killed_process_is_taken_once_it_expires(no_leases: None) -> None:
    # never released, as after SIGKILL, by a process on another machine (whose pid this host cannot check)
    ShardLease(shard_parse("1/1"), ttl_seconds=0.5, token="elsewhere:1:killed").acquire(wait_seconds=0)
    ShardLease(shard_parse("1/1")).acquire(wait_seconds=3)


def test_a_lease_whose_holder_process_is_gone_is_taken_at_once(no_leases: None) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = ShardLease(shard_parse("2/2"), token=f"{socket.gethostname()}:{gone.pid}:killed")
    orphan.acquire(wait_seconds=0)  # as a process killed with SIGKILL leaves it, for 15 s
    _another_process("1/2").acquire(wait_seconds=0)

    started = time.monotonic()
    ShardLease(shard_parse("2/2")).acquire(wait_seconds=0)
    assert time.monotonic() - started < 1
    with pytest.raises(ShardError, match="is held by another stream_market"):
        ShardLease(shard_parse("1/2")).acquire(wait_seconds=0)  # its holder runs


def test_a_process_that_loses_its_lease_stops_streaming(no_leases: None) -> None:
    lease = ShardLease(shard_parse("1/2"))
    lease.acquire(wait_seconds=0)

    async def scenario() -> bool:
        stop = asyncio.Event()
        keeper = asyncio.create_task(lease_keep(lease, stop, every=0.05))
        await asyncio.sleep(0.1)
        # another process took the shard (say this one stalled past the lease's life)
        await asyncio.to_thread(quick_redis_client(settings.REDIS_CACHE_URL).set, lease.key, "elsewhere:1:x")
        kept = await asyncio.wait_for(keeper, timeout=2)
        assert stop.is_set()
        return kept

    assert async_to_sync(scenario)() is False


@pytest.mark.django_db
def test_the_command_refuses_a_shard_another_process_holds(no_leases: None) -> None:
    _another_process("2/2").acquire(wait_seconds=0)
    with pytest.raises(CommandError, match=r"^shard 2/2 is held by another stream_market"):
        call_command("stream_market", "--shard", "2/2", "--lease-wait", "0", "--seconds", "0.1")


# Two shards streaming ------------------------------------------------------------------


@pytest.mark.django_db
def test_two_shards_stream_every_watched_symbol_once() -> None:
    symbols = sim_symbols_prepare()
    shards = [MarketStreamer(exchange_codes=["SIM"], shard=shard_parse(f"{k}/2"), user_data=False) for k in (1, 2)]

    async def scenario() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(2.5, stop.set)
        await asyncio.gather(*(streamer.run(stop) for streamer in shards))

    async_to_sync(scenario)()

    served = [set(streamer.states) for streamer in shards]
    assert all(served), "each shard streams some symbols"
    assert served[0].isdisjoint(served[1])
    assert served[0] | served[1] == {f"SIM:{s.slug}" for s in symbols}
    assert all(streamer.stats.messages > 0 for streamer in shards)
    # every symbol's closed candles were stored, by its one shard
    assert all(Candle.objects.filter(symbol=symbol, timeframe="1m").exists() for symbol in symbols)
