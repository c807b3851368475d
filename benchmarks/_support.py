"""Shared pieces of the benchmarks: the live ASGI server, a signed-in user, percentiles.

Not a benchmark itself (the harness runs only `bench_*` modules).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT = 30.0


def progress(iterable: Any = None, **kwargs: Any) -> Any:
    """A tqdm bar on stderr that disappears when done (redrawn less often when stderr is a log)."""
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, leave=False, mininterval=0.1 if sys.stderr.isatty() else 2.0, **kwargs)


def candle_walk(rng: random.Random, times: Sequence[datetime]) -> list[Any]:
    """Consistent 1m Candle values along a random walk: 2-decimal prices, 4-decimal volumes."""
    from apps.exchanges.domain.types import Candle

    close = rng.randint(1_000, 5_000_000)  # cents
    candles = []
    for open_time in times:
        open_ = close
        close = max(100, open_ + rng.randint(-open_ // 500 - 1, open_ // 500 + 1))
        high = max(open_, close) + rng.randint(0, open_ // 1000 + 1)
        low = max(1, min(open_, close) - rng.randint(0, open_ // 1000 + 1))
        candles.append(
            Candle(
                open_time=open_time,
                open=Decimal(open_).scaleb(-2),
                high=Decimal(high).scaleb(-2),
                low=Decimal(low).scaleb(-2),
                close=Decimal(close).scaleb(-2),
                volume=Decimal(rng.randint(1, 50_000_000)).scaleb(-4),
            )
        )
    return candles


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_env() -> dict[str, str]:
    """The server sees the benchmarks' database and Redis databases, as this process does."""
    from django.conf import settings

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "trading_platform.settings.test"
    env["DATABASE_NAME"] = str(settings.DATABASES["default"]["NAME"])
    env["DATABASE_ROLE"] = "app"  # as in production: row-level security applies to every request
    env["REDIS_DB_OFFSET"] = str(settings.REDIS_DB_OFFSET)
    env["PYTHONPATH"] = str(ROOT)
    return env


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_command(server: str, port: int, workers: int) -> list[str]:
    """uvicorn serves HTTP and WebSockets (as `make run` does); gunicorn's sync workers serve
    plain HTTP through the WSGI app, as a production deployment puts the API behind it."""
    if server == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "trading_platform.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "trading_platform.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--ws-per-message-deflate",
        "false",
        "--lifespan",
        "off",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]


@contextmanager
def live_server(log_name: str, workers: int = 1, server: str = "uvicorn") -> Iterator[LiveServer]:
    """A web server (uvicorn by default, as conftest.py starts it, or gunicorn) on a free port.

    The server is stopped on exit. Its output goes to .local/<log_name>.
    """
    port = free_port()
    log_path = ROOT / ".local" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Under ASGI each request runs on a new thread, so connections come from a pool (see settings).
    env = {**_server_env(), "DATABASE_POOL": "true" if server == "uvicorn" else "false"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(_server_command(server, port, workers), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the benchmark web server exited early; see {log_path}")
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the benchmark web server did not listen within {SERVER_START_TIMEOUT:.0f} s; see {log_path}")
                time.sleep(0.1)
            yield LiveServer(url=f"http://127.0.0.1:{port}", port=port, pid=process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def behind_caddy(backend: LiveServer, log_name: str) -> Iterator[LiveServer]:
    """`backend` (gunicorn) behind Caddy on a free port, with `make run`'s Caddyfile: the URL `make run` serves.

    The LiveServer returned names the backend's pid, so its CPU time is the web server's."""
    caddy = shutil.which("caddy")
    if caddy is None:
        raise RuntimeError("caddy is not on PATH")
    port = free_port()
    env = {**os.environ, "WEB_PORT": str(port), "WEB_HTTP_PORT": str(backend.port), "WS_PORT": str(free_port())}
    env |= {"XDG_DATA_HOME": str(ROOT / ".local" / "caddy"), "XDG_CONFIG_HOME": str(ROOT / ".local" / "caddy")}
    command = [caddy, "run", "--config", "apps/core/embedded/Caddyfile", "--adapter", "caddyfile"]
    with open(ROOT / ".local" / log_name, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"caddy exited early; see .local/{log_name}")
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"caddy did not listen within {SERVER_START_TIMEOUT:.0f} s; see .local/{log_name}")
                time.sleep(0.1)
            yield LiveServer(url=f"http://127.0.0.1:{port}", port=port, pid=backend.pid)
        finally:
            process.terminate()
            process.wait(timeout=10)


def bench_user(label: str) -> Any:
    """A fresh active user for one benchmark; delete it when done."""
    from apps.accounts.models import User

    return User.objects.create_user(f"bench-{label}-{os.getpid()}@example.com", password=None, display_name=f"Benchmark {label}")


def session_key_for(user: Any) -> str:
    """A server-side session signed in as `user`, as a login would leave it; returns the cookie value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return session.session_key


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0-100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def sim_symbol(symbol: str = "BTC/USDT") -> tuple[Any, set[Any]]:
    """SIM's markets loaded into Symbol rows (as the demo does); returns the one asked for and the
    ids of the rows this call created, so the caller can remove them again."""
    from apps.exchanges.models import Symbol
    from apps.market.services.demo import sim_symbols_prepare

    before = set(Symbol.objects.filter(exchange__code="SIM").values_list("pk", flat=True))
    prepared = sim_symbols_prepare()
    created = {s.pk for s in prepared} - before
    chosen = next(s for s in prepared if s.symbol == symbol)
    return chosen, created
