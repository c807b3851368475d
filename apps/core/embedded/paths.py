"""Where the embedded services keep their data and sockets."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import quote

from apps.core.db_roles import ROLE_NAMES

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# A unix socket path must fit in sun_path (108 bytes on Linux); keep a margin.
_MAX_SOCKET_PATH = 100
EMBEDDED_DATABASE_NAME = "trading_platform"
EMBEDDED_SUPERUSER = "postgres"
EMBEDDED_POSTGRES_PORT = 5432  # names the socket file only; no TCP listener is opened


def local_dir() -> Path:
    return Path(os.environ.get("TP_LOCAL_DIR", PROJECT_ROOT / ".local")).resolve()


def runtime_dir() -> Path:
    """Socket directory: inside `.local/` unless that path is too long for a socket."""
    preferred = local_dir() / "run"
    if len(str(preferred / "pg" / f".s.PGSQL.{EMBEDDED_POSTGRES_PORT}")) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(local_dir()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tp-{digest}"


def postgres_data_dir() -> Path:
    return local_dir() / "postgres"


def postgres_socket_dir() -> Path:
    return runtime_dir() / "pg"


def redis_data_dir() -> Path:
    return local_dir() / "redis"


def redis_socket_path() -> Path:
    return runtime_dir() / "redis.sock"


def secrets_dir() -> Path:
    return local_dir() / "secrets"


def postgres_password_file(login: str) -> Path:
    return secrets_dir() / f"postgres-{login}.password"


def postgres_password(login: str) -> str:
    """The login's generated password, created (0600, in a 0700 folder) on first use."""
    path = postgres_password_file(login)
    if path.exists():
        return path.read_text().strip()
    secrets_dir().mkdir(parents=True, exist_ok=True)
    secrets_dir().chmod(0o700)
    password = secrets.token_urlsafe(32)
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password)
    try:
        os.link(partial, path)  # atomic: the first process to get here wins, the others read its password
    except FileExistsError:
        pass
    finally:
        partial.unlink(missing_ok=True)
    return path.read_text().strip()


def embedded_login(role: str) -> str:
    """The PostgreSQL login for a platform role: `owner`, `app` or `system`."""
    try:
        return ROLE_NAMES[role]
    except KeyError:
        raise ValueError(f"DATABASE_ROLE must be one of {', '.join(sorted(ROLE_NAMES))}; got {role!r}") from None


def embedded_database_url(role: str = "owner") -> str:
    login = embedded_login(role)
    socket_dir = str(postgres_socket_dir()).replace("/", "%2F")
    password = quote(postgres_password(login), safe="")
    return f"postgres://{login}:{password}@{socket_dir}:{EMBEDDED_POSTGRES_PORT}/{EMBEDDED_DATABASE_NAME}"


def embedded_redis_url() -> str:
    return f"unix://{redis_socket_path()}"
