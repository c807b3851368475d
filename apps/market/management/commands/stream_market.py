"""Long-running live market process: `manage.py stream_market [--exchange SIM ...] [--shard K/N]`."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.audit.context import acting_as_system
from apps.exchanges.models import Exchange
from apps.market.sharding import LEASE_TTL_SECONDS, ShardError, ShardLease, lease_keep, shard_parse
from apps.market.streaming import MarketStreamer


class Command(BaseCommand):
    help = "Stream tickers, trades, candles and order books of watched symbols; store closed candles; push live updates."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--exchange", action="append", dest="exchanges", help="Only this exchange (repeatable). Default: all enabled.")
        parser.add_argument("--seconds", type=float, default=None, help="Stop after this many seconds (default: run until stopped).")
        parser.add_argument(
            "--shard",
            default="1/1",
            help="K/N: stream only the symbols of shard K of N (by a stable hash of exchange and symbol); one process per shard.",
        )
        parser.add_argument(
            "--lease-wait",
            type=float,
            default=LEASE_TTL_SECONDS + 1,
            help="Seconds to wait for the shard's lease when another process holds it (one that was killed lets go within that time).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            shard = shard_parse(options["shard"])
        except ShardError as exc:
            raise CommandError(str(exc)) from None
        codes = [code.upper() for code in options["exchanges"] or []]
        unknown = sorted(set(codes) - set(Exchange.objects.filter(enabled=True).values_list("code", flat=True)))
        if unknown:
            raise CommandError(f"unknown or disabled exchange(s): {', '.join(unknown)}")
        lease = ShardLease(shard)
        try:
            lease.acquire(wait_seconds=max(options["lease_wait"], 0.0))
        except ShardError as exc:
            raise CommandError(str(exc)) from None
        # live accounts' user-data streams are not split by symbol: the first shard follows them all
        streamer = MarketStreamer(exchange_codes=codes or None, shard=shard, user_data=shard.number == 1)
        try:
            with acting_as_system("stream", correlation_id=f"stream-{uuid.uuid4().hex[:12]}"):
                kept = asyncio.run(self._run(streamer, lease, options["seconds"]))
        finally:
            lease.release()
        stats = streamer.stats
        self.stdout.write(
            f"stream_market {shard.label} stopped: {stats.messages} messages, {stats.pushes} pushes, {stats.candles_stored} candles stored, "
            f"{stats.gap_filled} gap-filled, {stats.reconnects} reconnects"
        )
        if not kept:
            raise CommandError(f"lost the lease of shard {shard.label} to another process")

    async def _run(self, streamer: MarketStreamer, lease: ShardLease, seconds: float | None) -> bool:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if seconds is not None:
            loop.call_later(seconds, stop.set)
        self.stdout.write(f"stream_market running shard {streamer.shard.label}; Ctrl-C to stop")
        keeper = asyncio.create_task(lease_keep(lease, stop))
        await streamer.run(stop)
        return await keeper
