"""Component checks for /health/: each returns (ok, detail) and never raises.

Every check runs on a thread of its own against one deadline (`CHECK_TIMEOUT_SECONDS`), so
/health/ answers within it while a dependency hangs (PostgreSQL stopped or restarting makes
the connection pool wait; a paused Redis makes a client wait): a check that has not
answered by then is reported failing, "no answer within 1.5 s".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


CHECK_TIMEOUT_SECONDS = 1.5


def check_database() -> ComponentStatus:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
        return ComponentStatus("database", False, _one_line(exc))
    return ComponentStatus("database", True, "ok")


def check_redis() -> ComponentStatus:
    try:
        client = redis.Redis.from_url(settings.REDIS_CACHE_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001
        return ComponentStatus("redis", False, _one_line(exc))
    return ComponentStatus("redis", True, "ok")


def check_celery_workers(timeout: float = 1.0) -> ComponentStatus:
    from trading_platform.celery import app

    try:
        replies = app.control.ping(timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return ComponentStatus("celery", False, _one_line(exc))
    if not replies:
        return ComponentStatus("celery", False, "no worker answered")
    names = sorted(name for reply in replies for name in reply)
    return ComponentStatus("celery", True, f"{len(names)} worker(s): {', '.join(names)}")


def check_migrations() -> ComponentStatus:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # noqa: BLE001
        return ComponentStatus("migrations", False, _one_line(exc))
    if pending:
        return ComponentStatus("migrations", False, f"{len(pending)} pending")
    return ComponentStatus("migrations", True, "ok")


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


RegisteredCheck = Callable[[], ComponentStatus]
VenueStatuses = Callable[[], dict[str, dict[str, str]]]
_registered_checks: dict[str, RegisteredCheck] = {}
_stream_check: RegisteredCheck | None = None
_venue_statuses: VenueStatuses | None = None


def register_stream_check(check: RegisteredCheck) -> None:
    """The market stream's check (registered by the market app): it runs on its own, needs no database,
    and also decides the "live market data is delayed" banner."""
    global _stream_check
    _stream_check = check


def register_venue_statuses(statuses: VenueStatuses) -> None:
    """Each venue's last known status (registered by the exchanges app), reported beside the checks."""
    global _venue_statuses
    _venue_statuses = statuses


def check_stream() -> ComponentStatus:
    if _stream_check is None:
        return ComponentStatus("stream", False, "no stream check registered")
    try:
        return _stream_check()
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
        return ComponentStatus("stream", False, _one_line(exc))


def register_check(name: str, check: RegisteredCheck) -> None:
    """A check an app adds to /health/ (the audit chain's last verification, say); it runs once
    the database answers and the migrations are applied."""
    _registered_checks[name] = check


def _database_then_migrations(into: list[ComponentStatus]) -> None:
    database = check_database()
    into.append(database)
    migrations = check_migrations() if database.ok else ComponentStatus("migrations", False, "database unavailable")
    into.append(migrations)
    for name, check in _registered_checks.items():
        into.append(check() if migrations.ok else ComponentStatus(name, False, "migrations pending" if database.ok else "database unavailable"))


def _redis_then_celery(into: list[ComponentStatus]) -> None:
    redis_status = check_redis()
    into.append(redis_status)
    into.append(check_celery_workers(timeout=0.8) if redis_status.ok else ComponentStatus("celery", False, "broker unavailable"))


def _stream(into: list[ComponentStatus]) -> None:
    into.append(check_stream())


Chain = Callable[[list[ComponentStatus]], None]


def _run_in_thread(chain: Chain, into: list[ComponentStatus]) -> threading.Thread:
    def run() -> None:
        try:
            chain(into)
        finally:
            connections.close_all()  # this thread's connections (returned to the pool, if any)

    thread = threading.Thread(target=run, name="health-check", daemon=True)
    thread.start()
    return thread


def run_checks(timeout: float = CHECK_TIMEOUT_SECONDS) -> list[ComponentStatus]:
    """Database, Redis, Celery, migrations, the market stream and the registered checks, all answered within `timeout` seconds."""
    chains: list[tuple[tuple[str, ...], Chain]] = [
        (("database", "migrations", *_registered_checks), _database_then_migrations),
        (("redis", "celery"), _redis_then_celery),
        (("stream",), _stream),
    ]
    results: list[list[ComponentStatus]] = [[] for _ in chains]
    threads = [_run_in_thread(chain, into) for (_, chain), into in zip(chains, results, strict=True)]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    by_name = {status.name: status for done in results for status in list(done)}
    names = [name for chain_names, _ in chains for name in chain_names]
    order = ["database", "redis", "celery", "migrations", "stream", *_registered_checks]
    return [by_name.get(name) or ComponentStatus(name, False, f"no answer within {timeout:g} s") for name in sorted(names, key=order.index)]


def exchange_statuses() -> dict[str, dict[str, str]]:
    """Each enabled venue's last known status (operational, degraded, down) with its detail."""
    if _venue_statuses is None:
        return {}
    try:
        return _venue_statuses()
    except Exception as exc:  # noqa: BLE001
        return {"error": {"status": "unknown", "detail": _one_line(exc)}}


BANNER_CACHE_SECONDS = 5.0
_banner: tuple[float, list[str]] = (float("-inf"), [])
_banner_lock = threading.Lock()


def _degraded_now() -> list[str]:
    redis_status = check_redis()
    if not redis_status.ok:
        return ["Live updates are paused: the platform cannot reach Redis. Pages show what was true at their last load."]
    stream = check_stream()
    if not stream.ok:
        return [f"Live market data is delayed ({stream.detail}): prices, charts, paper fills and bots may lag until it recovers."]
    return []


def degraded_parts() -> list[str]:
    """What a user should know is not working, for the banner on every page (re-checked every few seconds per process)."""
    global _banner
    now = time.monotonic()
    with _banner_lock:
        if now - _banner[0] < BANNER_CACHE_SECONDS:
            return _banner[1]
        _banner = (now, _degraded_now())
        return _banner[1]
