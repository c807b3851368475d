"""Backups that restore: backup -> wipe -> restore gives back every table, row for row."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql
from psycopg.conninfo import make_conninfo

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.backtesting.tests.factories import seed_candles
from apps.exchanges.tests.factories import SymbolFactory
from apps.operations.backups import backups_list, backups_prune, iter_tables, manifest_read, table_sample

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT_TABLE_PREFIX = "public.audit_"


def _server(database: str = "postgres") -> psycopg.Connection[Any]:
    parts = connection.settings_dict
    conninfo = make_conninfo(host=parts["HOST"], port=str(parts["PORT"] or ""), user=parts["USER"], password=parts["PASSWORD"], dbname=database)
    return psycopg.connect(conninfo, autocommit=True)


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A new, empty database beside the test database: the 'wiped' server a restore goes into."""
    name = f"{connection.settings_dict['NAME']}_restored"
    with _server() as server:
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with _server() as server:
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _restore_in_a_new_process(dump: Path, database: str, *extra: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "trading_platform.settings.test", "DATABASE_NAME": database}
    return subprocess.run(
        [sys.executable, "manage.py", "restore", str(dump), *extra],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _some_of_everything() -> None:
    user = UserFactory()
    api_key_create(actor=user, name="bot")
    seed_candles(SymbolFactory(symbol="BTC/USDT"), count=120)


def _backup(directory: Path) -> Path:
    output = io.StringIO()
    call_command("backup", "--dir", str(directory), stdout=output, stderr=io.StringIO())
    assert output.getvalue().startswith("Backup written: ")
    (dump,) = backups_list(directory)
    return dump


def test_a_backup_restored_into_a_wiped_server_gives_back_every_table_row_for_row(tmp_path: Path, empty_database: str) -> None:
    _some_of_everything()
    source = str(connection.settings_dict["NAME"])

    dump = _backup(tmp_path)
    manifest = manifest_read(dump)
    restored = _restore_in_a_new_process(dump, empty_database, "--yes")

    assert restored.returncode == 0, restored.stderr
    assert "every count as in the manifest" in restored.stdout
    assert manifest.row_counts["public.accounts_user"] >= 1 and manifest.row_counts["public.accounts_apikey"] == 1
    assert sum(count for table, count in manifest.row_counts.items() if table.startswith("public.market_candle")) == 120
    tables = list(iter_tables(source))
    assert set(tables) == set(iter_tables(empty_database)) == set(manifest.row_counts)
    for table in tables:
        if table.startswith(AUDIT_TABLE_PREFIX):
            continue  # each side has written one event of its own since: compared below
        assert table_sample(empty_database, table, limit=20) == table_sample(source, table, limit=20), table
    restored_events = _audit_actions(empty_database)
    assert restored_events.count("ops.backup_restored") == 1 and "ops.backup_created" not in restored_events
    assert len(restored_events) == sum(count for table, count in manifest.row_counts.items() if table.startswith(AUDIT_TABLE_PREFIX)) + 1


def _audit_actions(database: str) -> list[str]:
    with _server(database) as reader:
        return [row[0] for row in reader.execute("SELECT action FROM audit_auditevent").fetchall()]


def test_the_manifest_names_the_key_and_the_files_are_private(tmp_path: Path) -> None:
    dump = _backup(tmp_path)

    manifest = json.loads(dump.with_suffix(".json").read_text())
    assert len(manifest["encryption_key_fingerprint"]) == 16
    assert settings.FIELD_ENCRYPTION_KEYS[0] not in dump.with_suffix(".json").read_text()
    assert dump.stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o777 == 0o700
    assert "ops.backup_created" in _audit_actions(str(connection.settings_dict["NAME"]))


def test_a_restore_refuses_a_database_that_is_not_empty(tmp_path: Path) -> None:
    dump = _backup(tmp_path)

    refused = _restore_in_a_new_process(dump, str(connection.settings_dict["NAME"]), "--yes")

    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].startswith("CommandError: Database ") or "is not empty" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_restore_refuses_a_backup_encrypted_with_a_key_the_platform_does_not_hold(tmp_path: Path, empty_database: str) -> None:
    dump = _backup(tmp_path)
    manifest_file = dump.with_suffix(".json")
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps({**manifest, "encryption_key_fingerprint": "0123456789abcdef"}))

    refused = _restore_in_a_new_process(dump, empty_database, "--yes")
    accepted = _restore_in_a_new_process(dump, empty_database, "--yes", "--accept-unreadable-credentials")

    assert refused.returncode != 0 and "key 0123456789abcdef" in refused.stderr and "Traceback" not in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_without_a_terminal_a_restore_asks_for_yes(tmp_path: Path, empty_database: str) -> None:
    dump = _backup(tmp_path)

    refused = _restore_in_a_new_process(dump, empty_database)

    assert refused.returncode != 0 and "pass --yes" in refused.stderr
    assert list(iter_tables(empty_database)) == []


def test_a_missing_backup_and_a_bad_keep_are_one_line_errors(tmp_path: Path) -> None:
    missing = _restore_in_a_new_process(tmp_path / "nothing.dump", str(connection.settings_dict["NAME"]), "--yes")

    assert missing.returncode != 0 and "No backup file at" in missing.stderr and "Traceback" not in missing.stderr
    with pytest.raises(CommandError, match="--keep must be at least 1"):
        call_command("backup", "--dir", str(tmp_path), "--keep", "0")


def test_pruning_keeps_the_newest_backups(tmp_path: Path) -> None:
    for _ in range(3):
        call_command("backup", "--dir", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())
    newest = backups_list(tmp_path)[0]

    removed = backups_prune(keep=1, directory=tmp_path)

    assert len(removed) == 2
    assert backups_list(tmp_path) == [newest]
    assert not any(dump.with_suffix(".json").exists() for dump in removed)


def test_the_scheduled_backup_keeps_the_newest_backup_keep(tmp_path: Path, settings: Any) -> None:
    from apps.core.schedules import PLATFORM_SCHEDULES
    from apps.operations.tasks import scheduled_backup_task

    settings.BACKUP_DIR = tmp_path
    settings.BACKUP_KEEP = 2

    results = [scheduled_backup_task() for _ in range(3)]

    assert [result["removed"] for result in results] == [0, 0, 1]
    assert len(backups_list(tmp_path)) == 2
    assert any(schedule.task == "operations.scheduled_backup" for schedule in PLATFORM_SCHEDULES)
