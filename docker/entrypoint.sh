#!/bin/sh
# Roles: web (sets up the database roles and migrates first), ws, worker, beat, flower, stream;
# anything else runs as given.
set -eu

wait_for_database() {
  python - <<'PY'
import sys, time
import django
django.setup()
from django.db import connection
for attempt in range(60):
    try:
        connection.ensure_connection()
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001
        print(f"waiting for the database: {exc}", file=sys.stderr)
        time.sleep(1)
sys.exit("database did not come up in 60 s")
PY
}

role="${1:-web}"
case "$role" in
  web)
    # The owner (DATABASE_OWNER_URL) sets up the tp_app / tp_system roles and migrates; the
    # server itself then connects with DATABASE_URL (tp_app).
    (
      export DATABASE_URL="${DATABASE_OWNER_URL:-$DATABASE_URL}"
      wait_for_database
      python manage.py db_roles
      python manage.py migrate --noinput
    )
    # Plain HTTP (pages, API, admin) on gunicorn's sync workers: measured faster than ASGI
    # for Django's sync views (see the README's benchmarks). WebSockets are the ws role.
    exec gunicorn trading_platform.wsgi:application \
      --bind 0.0.0.0:8000 --workers "${WEB_WORKERS:-4}" --access-logfile -
    ;;
  ws)
    wait_for_database
    # /ws/ only (the proxy routes it here); request threads share a connection pool.
    DATABASE_POOL=true exec uvicorn trading_platform.asgi:application --host 0.0.0.0 --port 8001 \
      --ws websockets-sansio --ws-per-message-deflate false --lifespan off --no-access-log
    ;;
  worker)
    wait_for_database
    # WORKER_QUEUES splits the work by queue (compose runs bots, backtests and alerts apart).
    exec celery -A trading_platform worker --queues "${WORKER_QUEUES:-default,market,bots,backtests,alerts}" \
      --concurrency "${WORKER_CONCURRENCY:-2}" --loglevel INFO
    ;;
  beat)
    wait_for_database
    exec celery -A trading_platform beat --loglevel INFO \
      --scheduler django_celery_beat.schedulers:DatabaseScheduler --pidfile=
    ;;
  stream)
    wait_for_database
    # STREAM_SHARD K/N: this process streams shard K of N (one process per shard, each holds its lease).
    exec python manage.py stream_market --shard "${STREAM_SHARD:-1/1}"
    ;;
  flower)
    exec celery -A trading_platform flower --address=0.0.0.0 --port=5555 \
      --basic-auth="${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH to user:password}"
    ;;
  *)
    exec "$@"
    ;;
esac
