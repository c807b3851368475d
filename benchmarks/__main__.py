"""python -m benchmarks [NAME ...]: run the benchmarks (all, or those named) and print figures.

The benchmarks get a database of their own, `tp_bench`, on the same PostgreSQL server
(dropped and created afresh, then migrated, so runs are comparable and dev or test data
is never touched) and Redis databases 12-15 (REDIS_DB_OFFSET=12). Both are emptied
again at the end.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time

BENCH_DATABASE = "tp_bench"
BENCH_REDIS_DB_OFFSET = "12"


def _benchmark_modules() -> list[str]:
    package_dir = os.path.dirname(__file__)
    return sorted(info.name for info in pkgutil.iter_modules([package_dir]) if info.name.startswith("bench_"))


def _bench_database_name() -> str:
    """The database the benchmarks may drop and create; settings are loaded, apps are not."""
    from django.conf import settings

    name = str(settings.DATABASES["default"]["NAME"])
    if name != BENCH_DATABASE and not name.startswith(f"{BENCH_DATABASE}_"):
        raise SystemExit(f"benchmarks drop and recreate their database; DATABASE_NAME must be {BENCH_DATABASE} (or {BENCH_DATABASE}_*), got {name!r}")
    return name


def _server_conninfo() -> str:
    """Connection string for the server's maintenance database `postgres`, from Django's settings."""
    from django.conf import settings
    from psycopg.conninfo import make_conninfo

    db = settings.DATABASES["default"]
    params = {key: str(db[setting]) for key, setting in (("host", "HOST"), ("port", "PORT"), ("user", "USER"), ("password", "PASSWORD")) if db.get(setting)}
    return make_conninfo(dbname="postgres", **params)


def _drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_server_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _create_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    _drop_database(name)  # left over from an interrupted run
    with psycopg.connect(_server_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _flush_bench_redis() -> None:
    """Empty the benchmarks' Redis databases (cache, channel layer, Celery broker and results)."""
    import redis
    from django.conf import settings

    if int(BENCH_REDIS_DB_OFFSET) != settings.REDIS_DB_OFFSET:
        return  # someone chose other databases; leave them alone
    for offset in range(4):
        from trading_platform.settings.env import redis_url_for_db

        client = redis.Redis.from_url(redis_url_for_db(settings.REDIS_URL, settings.REDIS_DB_OFFSET + offset))
        try:
            client.flushdb()
        finally:
            client.close()


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_platform.settings.test")
    os.environ.setdefault("DATABASE_NAME", BENCH_DATABASE)
    os.environ.setdefault("REDIS_DB_OFFSET", BENCH_REDIS_DB_OFFSET)
    available = _benchmark_modules()
    wanted = [f"bench_{name.removeprefix('bench_')}" for name in argv] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available) or 'none'}", file=sys.stderr)
        return 2
    if not wanted:
        print("no benchmarks are defined yet")
        return 0

    database = _bench_database_name()
    started = time.perf_counter()
    _create_database(database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        call_command("migrate", verbosity=0, interactive=False)
        _flush_bench_redis()
        print(f"== database {database} created and migrated ({time.perf_counter() - started:.1f} s)", flush=True)
        for name in wanted:
            load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
            print(f"== {name} (load average {load} on {os.cpu_count()} CPUs)", flush=True)
            started = time.perf_counter()
            importlib.import_module(f"benchmarks.{name}").main()
            print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    finally:
        connections.close_all()
        _flush_bench_redis()
        _drop_database(database)
        print(f"== database {database} dropped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
