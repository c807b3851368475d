#!/usr/bin/env bash
# make loadtest: simulated traders and bots against the platform `make run` serves.
# USERS (200), SPAWN_RATE (20/s), DURATION (60s), HOST (http://127.0.0.1:8000).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-200}"
SPAWN_RATE="${SPAWN_RATE:-20}"
DURATION="${DURATION:-60s}"
HOST="${HOST:-http://127.0.0.1:8000}"
VENV=.local/loadtest-venv   # Locust lives here, not among the platform's dependencies
OUT=.local/loadtest

if ! curl -fsS -o /dev/null "$HOST/health/"; then
  echo "loadtest: nothing healthy answers at $HOST/health/; start the platform with make run first" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/locust" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "locust==2.47.0" "websocket-client==1.9.2"
fi
mkdir -p "$OUT"
.venv/bin/python manage.py loadtest_users --traders "$USERS" --bots "$(( USERS / 10 ))" --output "$OUT/users.json"
# Locust exits non-zero when any request failed; the report below says which and still prints every figure.
LOADTEST_USERS="$OUT/users.json" "$VENV/bin/locust" -f benchmarks/loadtest/locustfile.py --headless \
  --users "$USERS" --spawn-rate "$SPAWN_RATE" --run-time "$DURATION" --host "$HOST" \
  --csv "$OUT/result" --only-summary --loglevel WARNING || true
.venv/bin/python benchmarks/loadtest/report.py "$OUT/result_stats.csv" "$USERS"
