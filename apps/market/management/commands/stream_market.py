"""Long-running live market process: `manage.py stream_market [--exchange SIM ...]`."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.audit.context import acting_as_system
from apps.exchanges.models import Exchange
from apps.market.streaming import MarketStreamer


class Command(BaseCommand):
    help = "Stream tickers, trades, candles and order books of watched symbols; store closed candles; push live updates."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--exchange", action="append", dest="exchanges", help="Only this exchange (repeatable). Default: all enabled.")
        parser.add_argument("--seconds", type=float, default=None, help="Stop after this many seconds (default: run until stopped).")

    def handle(self, *args: Any, **options: Any) -> None:
        codes = [code.upper() for code in options["exchanges"] or []]
        unknown = sorted(set(codes) - set(Exchange.objects.filter(enabled=True).values_list("code", flat=True)))
        if unknown:
            raise CommandError(f"unknown or disabled exchange(s): {', '.join(unknown)}")
        streamer = MarketStreamer(exchange_codes=codes or None)
        with acting_as_system("stream", correlation_id=f"stream-{uuid.uuid4().hex[:12]}"):
            asyncio.run(self._run(streamer, options["seconds"]))
        stats = streamer.stats
        self.stdout.write(
            f"stream_market stopped: {stats.messages} messages, {stats.pushes} pushes, {stats.candles_stored} candles stored, "
            f"{stats.gap_filled} gap-filled, {stats.reconnects} reconnects"
        )

    async def _run(self, streamer: MarketStreamer, seconds: float | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if seconds is not None:
            loop.call_later(seconds, stop.set)
        self.stdout.write("stream_market running; Ctrl-C to stop")
        await streamer.run(stop)
