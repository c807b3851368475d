from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.exchanges.selectors import exchange_get, exchange_list
from apps.exchanges.services import symbols_sync


class Command(BaseCommand):
    help = "Load the venue's markets into Symbol rows (all enabled exchanges, or --exchange)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--exchange", action="append", dest="exchanges")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            exchanges = [exchange_get(code=code) for code in options["exchanges"]] if options["exchanges"] else list(exchange_list())
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        failures = []
        for exchange in exchanges:
            try:
                counts = symbols_sync(exchange=exchange)
            except ApplicationError as exc:
                failures.append(f"{exchange.code}: {exc.message}")
                self.stderr.write(f"{exchange.code}: {exc.message}")
                continue
            self.stdout.write(
                f"{exchange.code}: {counts['total']} markets ({counts['created']} new, {counts['updated']} updated, {counts['deactivated']} now inactive)"
            )
        if failures:
            raise CommandError(f"{len(failures)} exchange(s) could not be synced")
