"""manage.py ingest_candles --exchange SIM --symbol BTC/USDT --timeframe 1m --since 2026-11-01 [--until ...]"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.core.api.params import datetime_param
from apps.core.errors import ApplicationError
from apps.exchanges.selectors import exchange_get, symbol_get
from apps.market.services.ingestion import ingest_candles, plan_ingestion


class Command(BaseCommand):
    help = "Backfill candles from a venue, resuming after the last stored candle. Shows progress."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--exchange", required=True)
        parser.add_argument("--symbol", required=True, help="BTC/USDT or BTC-USDT")
        parser.add_argument("--timeframe", required=True, help="1m, 5m, 15m, 1h, 4h or 1d")
        parser.add_argument("--since", required=True, help="ISO date/time (UTC) or epoch ms")
        parser.add_argument("--until", default="", help="ISO date/time (UTC); default: the newest closed candle")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (for logs)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            exchange = exchange_get(code=options["exchange"])
            symbol = symbol_get(exchange=exchange, symbol=options["symbol"])
            since = datetime_param({"since": options["since"]}, "since")
            until = datetime_param({"until": options["until"]}, "until")
            assert since is not None
            plan = plan_ingestion(symbol=symbol, timeframe=options["timeframe"], since=since, until=until)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if plan.expected == 0:
            self.stdout.write(f"{symbol} {plan.timeframe}: already up to date until {plan.until:%Y-%m-%d %H:%M} UTC")
            return
        self.stdout.write(f"{symbol} {plan.timeframe}: fetching from {plan.start:%Y-%m-%d %H:%M} to {plan.until:%Y-%m-%d %H:%M} UTC")
        with tqdm(total=plan.expected, unit="candle", disable=options["no_progress"], file=self.stderr) as bar:
            try:

                def advance(count: int, last: datetime) -> None:
                    bar.update(count)
                    bar.set_postfix_str(f"{last:%Y-%m-%d %H:%M}")

                result = ingest_candles(plan=plan, progress=advance)
            except ApplicationError as exc:
                raise CommandError(f"{exc.message} (what was stored is kept; run the command again to resume)") from None
        self.stdout.write(self.style.SUCCESS(f"{result.fetched} candles fetched, {result.written} new or changed"))
