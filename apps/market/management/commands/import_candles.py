"""manage.py import_candles FILE.csv --exchange SIM --symbol BTC/USDT --timeframe 1m"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.exchanges.selectors import exchange_get, symbol_get
from apps.market.services.ingestion import CsvImportError, import_candles_csv


class Command(BaseCommand):
    help = "Import candles from a CSV file (timestamp, open, high, low, close, volume). All rows or none."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--exchange", required=True)
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--timeframe", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        try:
            exchange = exchange_get(code=options["exchange"])
            symbol = symbol_get(exchange=exchange, symbol=options["symbol"])
            written = import_candles_csv(symbol=symbol, timeframe=options["timeframe"], text=text)
        except CsvImportError as exc:
            for error in exc.extra["errors"][:50]:
                self.stderr.write(f"{path}:{error['line']}: {error['message']}")
            raise CommandError(f"{len(exc.extra['errors'])} bad row(s) in {path}; nothing was imported") from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"{written} candles imported into {symbol} {options['timeframe']}"))
