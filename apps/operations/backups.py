"""Backups of the platform's PostgreSQL database, and their restore.

A backup is two files side by side: `<name>.dump`, PostgreSQL's custom format written by the
server's own `pg_dump` (the embedded wheel's binaries when the database is embedded), and
`<name>.json`, its manifest: when, which database, the fingerprint of the key that encrypts the
exchange credentials, and the row count of every table. The counts are taken in the snapshot the
dump reads (`pg_export_snapshot`), so they describe exactly what the file holds, however busy
the platform is while it runs.

A restore goes only into an empty database, and refuses a backup whose credentials were
encrypted with a key the platform no longer holds unless told to accept that.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql
from psycopg.conninfo import make_conninfo

from apps.audit.services import audit_record
from apps.core.embedded.postgres import binary_path
from apps.core.errors import ApplicationError

DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".json"
_PROGRESS_LINE = re.compile(r"(?:dumping contents of table|processing data for table) \"?([^\"]+)\"?")

ProgressCallback = Callable[[str], None]


class BackupError(ApplicationError):
    default_code = "backup_failed"


@dataclass(frozen=True)
class BackupManifest:
    created_at: str
    database: str
    server_version: str
    encryption_key_fingerprint: str
    row_counts: dict[str, int]

    @property
    def tables(self) -> int:
        return len(self.row_counts)

    @property
    def rows(self) -> int:
        return sum(self.row_counts.values())


@dataclass(frozen=True)
class Backup:
    dump: Path
    manifest: BackupManifest

    @property
    def manifest_path(self) -> Path:
        return manifest_path_for(self.dump)


def manifest_path_for(dump: Path) -> Path:
    return dump.with_suffix(MANIFEST_SUFFIX)


def key_fingerprint(key: str) -> str:
    """A short, one-way name for an encryption key: enough to tell two keys apart, useless to an attacker."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def current_key_fingerprints() -> list[str]:
    return [key_fingerprint(key) for key in settings.FIELD_ENCRYPTION_KEYS]


def backup_directory() -> Path:
    return Path(settings.BACKUP_DIR)


def postgres_tool(name: str) -> Path:
    """The embedded server's own binary when the database is embedded, else the one on PATH."""
    if not os.environ.get("DATABASE_URL"):
        return binary_path(name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client matching the server's version.")
    return Path(found)


def _connection_settings(database: str | None = None) -> dict[str, str]:
    settings_dict = connection.settings_dict
    return {
        "host": str(settings_dict.get("HOST") or ""),
        "port": str(settings_dict.get("PORT") or ""),
        "user": str(settings_dict.get("USER") or ""),
        "password": str(settings_dict.get("PASSWORD") or ""),
        "dbname": database or str(settings_dict["NAME"]),
    }


def _tool_environment(database: str | None = None) -> dict[str, str]:
    """libpq's environment for pg_dump and pg_restore: the password never appears in a process list."""
    parts = _connection_settings(database)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    for variable, key in (("PGHOST", "host"), ("PGPORT", "port"), ("PGUSER", "user"), ("PGPASSWORD", "password"), ("PGDATABASE", "dbname")):
        if parts[key]:
            environment[variable] = parts[key]
    return environment


def _connect(database: str | None = None) -> psycopg.Connection[Any]:
    parts = {key: value for key, value in _connection_settings(database).items() if value}
    return psycopg.connect(make_conninfo(**parts), autocommit=False)


def _user_tables(cursor: psycopg.Cursor[Any]) -> list[str]:
    """Every table that holds rows (partitions, not their parents), schema-qualified."""
    cursor.execute(
        """
        SELECT n.nspname || '.' || c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
        ORDER BY 1
        """
    )
    return [row[0] for row in cursor.fetchall()]


def row_counts(cursor: psycopg.Cursor[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in _user_tables(cursor):
        schema, table = name.split(".", 1)
        cursor.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
        counts[name] = int(cursor.fetchone()[0])  # type: ignore[index]
    return counts


def _run_with_progress(command: list[str], environment: dict[str, str], on_table: ProgressCallback | None) -> None:
    """Run pg_dump or pg_restore in verbose mode, reporting each table it reaches; fail with its own words."""
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    assert process.stderr is not None
    for line in process.stderr:
        match = _PROGRESS_LINE.search(line)
        if match and on_table is not None:
            on_table(match.group(1))
        elif "error" in line.lower():
            errors.append(line.strip())
    if process.wait() != 0:
        detail = errors[0] if errors else f"exit code {process.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {detail}")


def backup_create(*, directory: Path | None = None, on_table: ProgressCallback | None = None, on_start: Callable[[int], None] | None = None) -> Backup:
    """Dump the database into `directory` (default BACKUP_DIR) with its manifest."""
    target = directory or backup_directory()
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)  # a dump holds every user's rows: readable by the platform's user only
    stamp = datetime.now(tz=UTC)
    dump = target / f"trading-{stamp:%Y%m%d-%H%M%S-%f}{DUMP_SUFFIX}"
    with _connect() as reader, reader.cursor() as cursor:
        # The counts and the dump read one snapshot: the manifest describes exactly what the file holds.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version'), (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user)")
        snapshot, server_version, bypasses_row_security = cursor.fetchone()  # type: ignore[misc]
        counts = row_counts(cursor)
        if on_start is not None:
            on_start(len(counts))
        command = [str(postgres_tool("pg_dump")), "--format=custom", "--verbose", f"--snapshot={snapshot}", f"--file={dump}"]
        if not bypasses_row_security:
            # The system role (the scheduled backup's worker) sees every row through its policies, not by bypassing them.
            command.append("--enable-row-security")
        _run_with_progress(command, _tool_environment(), on_table)
    os.chmod(dump, 0o600)
    manifest = BackupManifest(
        created_at=stamp.isoformat(),
        database=str(connection.settings_dict["NAME"]),
        server_version=str(server_version),
        encryption_key_fingerprint=current_key_fingerprints()[0] if settings.FIELD_ENCRYPTION_KEYS else "",
        row_counts=counts,
    )
    manifest_path = manifest_path_for(dump)
    manifest_path.write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))
    os.chmod(manifest_path, 0o600)
    _record("ops.backup_created", f"Backup {dump.name}: {manifest.tables} tables, {manifest.rows} rows", {"file": dump.name})
    return Backup(dump=dump, manifest=manifest)


def manifest_read(dump: Path) -> BackupManifest:
    if not dump.is_file():
        raise BackupError(f"No backup file at {dump}.")
    manifest_path = manifest_path_for(dump)
    if not manifest_path.is_file():
        raise BackupError(f"The backup's manifest {manifest_path.name} is missing beside {dump.name}.")
    try:
        return BackupManifest(**json.loads(manifest_path.read_text()))
    except (ValueError, TypeError) as error:
        raise BackupError(f"The manifest {manifest_path.name} cannot be read: {error}.") from None


def _database_is_empty(database: str) -> int:
    with _connect(database) as target, target.cursor() as cursor:
        return len(_user_tables(cursor))


def restore_check(dump: Path, *, accept_unreadable_credentials: bool = False) -> BackupManifest:
    """Everything that must hold before a restore starts; raises naming what does not."""
    manifest = manifest_read(dump)
    fingerprint = manifest.encryption_key_fingerprint
    if fingerprint and fingerprint not in current_key_fingerprints() and not accept_unreadable_credentials:
        raise BackupError(
            f"The backup's exchange credentials were encrypted with key {fingerprint}, which FIELD_ENCRYPTION_KEYS does not hold: "
            "add that key (see rotate_encryption_keys) or pass --accept-unreadable-credentials to enter them again after the restore."
        )
    database = str(connection.settings_dict["NAME"])
    tables = _database_is_empty(database)
    if tables:
        raise BackupError(f"Database {database} is not empty ({tables} tables): restore into a new, empty database (DATABASE_NAME) or drop this one first.")
    return manifest


def backup_restore(
    dump: Path,
    *,
    accept_unreadable_credentials: bool = False,
    on_table: ProgressCallback | None = None,
) -> dict[str, int]:
    """Restore `dump` into the configured (empty) database; returns its row counts, checked against the manifest."""
    manifest = restore_check(dump, accept_unreadable_credentials=accept_unreadable_credentials)
    command = [
        str(postgres_tool("pg_restore")),
        "--verbose",
        "--exit-on-error",
        "--single-transaction",
        "--no-owner",
        f"--dbname={connection.settings_dict['NAME']}",
        str(dump),
    ]
    _run_with_progress(command, _tool_environment(), on_table)
    with _connect() as restored, restored.cursor() as cursor:
        counts = row_counts(cursor)
    missing = {table: expected for table, expected in manifest.row_counts.items() if counts.get(table) != expected}
    if missing:
        first = next(iter(missing))
        raise BackupError(f"The restored {first} has {counts.get(first, 0)} rows where the backup holds {missing[first]}.")
    connection.close()  # the restored tables are new objects: start a fresh session for the audit event
    _record("ops.backup_restored", f"Restored {dump.name}: {manifest.tables} tables, {manifest.rows} rows", {"file": dump.name})
    return counts


def backups_list(directory: Path | None = None) -> list[Path]:
    """Backups with a manifest, newest first."""
    folder = directory or backup_directory()
    if not folder.is_dir():
        return []
    return sorted((dump for dump in folder.glob(f"*{DUMP_SUFFIX}") if manifest_path_for(dump).is_file()), reverse=True)


def backups_prune(*, keep: int, directory: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups; returns the removed dumps."""
    removed = backups_list(directory)[keep:]
    for dump in removed:
        dump.unlink(missing_ok=True)
        manifest_path_for(dump).unlink(missing_ok=True)
    return removed


def table_sample(database: str, table: str, limit: int = 5) -> list[tuple[Any, ...]]:
    """The first rows of a table in a stable order, as text: for comparing a restore with its source."""
    schema, name = table.split(".", 1)
    with _connect(database) as reader, reader.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT t::text FROM {}.{} AS t ORDER BY t::text LIMIT %s").format(sql.Identifier(schema), sql.Identifier(name)),
            [limit],
        )
        return [tuple(row) for row in cursor.fetchall()]


def iter_tables(database: str) -> Iterator[str]:
    with _connect(database) as reader, reader.cursor() as cursor:
        yield from _user_tables(cursor)


def _record(action: str, summary: str, changes: dict[str, Any]) -> None:
    with transaction.atomic():
        audit_record(actor=None, action=action, summary=summary, changes=changes)
