"""Component checks for /health/: each returns (ok, detail) and never raises."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: str


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


def run_checks() -> list[ComponentStatus]:
    database = check_database()
    migrations = check_migrations() if database.ok else ComponentStatus("migrations", False, "database unavailable")
    redis_status = check_redis()
    celery = check_celery_workers() if redis_status.ok else ComponentStatus("celery", False, "broker unavailable")
    from apps.audit.health import check_audit_chain

    audit = (
        check_audit_chain()
        if database.ok and migrations.ok
        else ComponentStatus("audit", False, "migrations pending" if database.ok else "database unavailable")
    )
    return [database, redis_status, celery, migrations, audit]


def exchange_statuses() -> dict[str, dict[str, str]]:
    """Each enabled venue's last known status (operational, degraded, down) with its detail."""
    from apps.exchanges.models import Exchange

    try:
        return {
            code: {"status": status, "detail": detail}
            for code, status, detail in Exchange.objects.filter(enabled=True).values_list("code", "status", "status_detail")
        }
    except Exception as exc:  # noqa: BLE001
        return {"error": {"status": "unknown", "detail": _one_line(exc)}}
