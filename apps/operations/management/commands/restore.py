from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from apps.operations.backups import BackupError, backup_restore, restore_check


class Command(BaseCommand):
    help = "Restore a backup written by `manage.py backup` into the configured database, which must be empty."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The backup's .dump file (its .json manifest beside it).")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--accept-unreadable-credentials",
            action="store_true",
            help="Restore even though the backup's exchange credentials were encrypted with a key the platform no longer holds.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dump: Path = options["file"]
        accept = options["accept_unreadable_credentials"]
        database = connection.settings_dict["NAME"]
        try:
            manifest = restore_check(dump, accept_unreadable_credentials=accept)
        except BackupError as error:
            raise CommandError(error.message) from None
        if not options["yes"]:
            self._confirm(database, f"{dump.name} ({manifest.tables} tables, {manifest.rows} rows, taken {manifest.created_at})")
        bar = tqdm(total=manifest.tables, unit="table", desc="Restore", file=self.stderr, leave=False)
        try:
            counts = backup_restore(dump, accept_unreadable_credentials=accept, on_table=lambda _table: bar.update())
        except BackupError as error:
            raise CommandError(error.message) from None
        finally:
            bar.close()
        self.stdout.write(f"Restored {dump.name} into {database}: {len(counts)} tables, {sum(counts.values())} rows, every count as in the manifest")

    def _confirm(self, database: str, what: str) -> None:
        if not sys.stdin.isatty():
            raise CommandError("Not a terminal: pass --yes to restore without confirmation.")
        self.stdout.write(f"Restore {what} into database {database}?")
        answer = input(f"Type the database name ({database}) to go on: ").strip()
        if answer != database:
            raise CommandError("Not confirmed: nothing was restored.")
