from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.operations.backups import BackupError, backup_create, backups_prune


class Command(BaseCommand):
    help = "Write a consistent PostgreSQL dump of the platform (custom format) with its manifest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=None, help="Folder for the backup (default BACKUP_DIR).")
        parser.add_argument("--keep", type=int, default=None, help="Afterwards keep only the newest N backups in that folder.")

    def handle(self, *args: Any, **options: Any) -> None:
        keep = options["keep"]
        if keep is not None and keep < 1:
            raise CommandError(f"--keep must be at least 1, got {keep}.")
        bar = tqdm(unit="table", desc="Backup", file=self.stderr, leave=False)
        try:
            backup = backup_create(directory=options["dir"], on_start=lambda total: setattr(bar, "total", total), on_table=lambda _table: bar.update())
        except BackupError as error:
            raise CommandError(error.message) from None
        finally:
            bar.close()
        manifest = backup.manifest
        self.stdout.write(
            f"Backup written: {backup.dump} ({manifest.tables} tables, {manifest.rows} rows, key {manifest.encryption_key_fingerprint or 'none'})"
        )
        if keep is not None:
            for dump in backups_prune(keep=keep, directory=backup.dump.parent):
                self.stdout.write(f"Removed the older backup {dump.name}")
