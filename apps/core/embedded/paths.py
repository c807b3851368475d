"""Where the embedded services keep their data and sockets."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# A unix socket path must fit in sun_path (108 bytes on Linux); keep a margin.
_MAX_SOCKET_PATH = 100
EMBEDDED_DATABASE_NAME = "trading_platform"
EMBEDDED_DATABASE_USER = "postgres"
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


def embedded_database_url() -> str:
    socket_dir = str(postgres_socket_dir()).replace("/", "%2F")
    return f"postgres://{EMBEDDED_DATABASE_USER}@{socket_dir}:{EMBEDDED_POSTGRES_PORT}/{EMBEDDED_DATABASE_NAME}"


def embedded_redis_url() -> str:
    return f"unix://{redis_socket_path()}"
