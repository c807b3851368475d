"""Candles API: latency of GET /api/v1/candles/?...&limit=5000 through the real ASGI server.

20,000 1m candles are stored for SIM BTC/USDT (ending at the last closed minute), a user
with an API key is created, and uvicorn serves the app from a subprocess. One keep-alive
HTTP connection (http.client) sends 10 warm-up requests, then 200 timed ones, one after
another; each is timed from sending the request to having read the whole body. For
comparison the selector that builds the JSON (`candle_series_json`) is timed in-process.
"""

from __future__ import annotations

import http.client
import json
import random
import time
from datetime import UTC, datetime, timedelta

from benchmarks._support import LiveServer, bench_user, candle_walk, live_server, percentile, progress, sim_symbol

STORED_CANDLES = 20_000
LIMIT = 5_000
WARMUP = 10
REQUESTS = 200
TARGET_P50_MS = 50.0
PATH = f"/api/v1/candles/?exchange=SIM&symbol=BTC/USDT&timeframe=1m&limit={LIMIT}"
SMALL_PATH = "/api/v1/candles/?exchange=SIM&symbol=BTC/USDT&timeframe=1m&limit=1"


def _store_candles(symbol: object) -> float:
    from apps.exchanges.domain.timeframes import align_open_time
    from apps.market.services.candles import candles_upsert

    newest = align_open_time(datetime.now(UTC), "1m") - timedelta(minutes=1)
    times = [newest - timedelta(minutes=STORED_CANDLES - 1 - i) for i in range(STORED_CANDLES)]
    candles = candle_walk(random.Random(5000), times)
    started = time.perf_counter()
    written = candles_upsert(symbol=symbol, timeframe="1m", candles=candles)
    assert written == STORED_CANDLES, written
    return time.perf_counter() - started


def _summary(samples_ms: list[float]) -> str:
    return (
        f"p50 {percentile(samples_ms, 50):.1f} ms, p90 {percentile(samples_ms, 90):.1f} ms, "
        f"p99 {percentile(samples_ms, 99):.1f} ms, max {max(samples_ms):.1f} ms"
    )


def _time_selector(symbol: object) -> tuple[list[float], int]:
    from django.db import connection

    from apps.market.selectors import candle_series_json

    connection.ensure_connection()
    for _ in range(WARMUP):
        candle_series_json(symbol=symbol, timeframe="1m", limit=LIMIT)
    samples, size = [], 0
    for _ in progress(range(REQUESTS), desc="selector", unit="call"):
        started = time.perf_counter()
        series = candle_series_json(symbol=symbol, timeframe="1m", limit=LIMIT)
        samples.append((time.perf_counter() - started) * 1000)
        size = len(series)
    return samples, size


def _time_api(server: LiveServer, api_key: str, path: str) -> tuple[list[float], int, float]:
    """Latencies (ms), body size, and the server's CPU time per timed request (ms)."""
    headers = {"Authorization": f"Api-Key {api_key}", "Accept": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:

        def get() -> bytes:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
            if response.will_close:
                raise RuntimeError("the server closed the keep-alive connection")
            return body

        body = get()
        expected = int(path.rsplit("limit=", 1)[1])
        assert len(json.loads(body)["candles"]) == expected
        first_socket = conn.sock
        for _ in range(WARMUP - 1):
            get()
        samples = []
        server_cpu = server.cpu_seconds()
        for _ in progress(range(REQUESTS), desc=f"GET {path[-10:]}", unit="req"):
            started = time.perf_counter()
            body = get()
            samples.append((time.perf_counter() - started) * 1000)
        server_cpu_ms = (server.cpu_seconds() - server_cpu) / REQUESTS * 1000
        assert conn.sock is first_socket, "every request should reuse one connection"
        return samples, len(body), server_cpu_ms
    finally:
        conn.close()


def main() -> None:
    from django.db import connection

    from apps.accounts.services import api_key_create
    from apps.exchanges.models import Symbol

    symbol, created_symbols = sim_symbol("BTC/USDT")
    user = bench_user("api")
    try:
        store_seconds = _store_candles(symbol)
        print(f"   stored {STORED_CANDLES:,} 1m candles for SIM BTC/USDT in {store_seconds:.2f} s")
        api_key = api_key_create(actor=user, name="benchmark").plaintext

        selector_ms, series_size = _time_selector(symbol)
        print(f"   candle_series_json(limit={LIMIT}) in-process, {REQUESTS} calls: {_summary(selector_ms)}; {series_size:,} bytes of JSON")

        with live_server("bench-uvicorn-api.log") as server:
            api_ms, body_size, api_cpu_ms = _time_api(server, api_key, PATH)
            small_ms, _, small_cpu_ms = _time_api(server, api_key, SMALL_PATH)
        print(f"   GET {PATH} over one keep-alive connection, {REQUESTS} requests after {WARMUP} warm-up: {_summary(api_ms)}")
        print(f"     server process CPU {api_cpu_ms:.1f} ms per request (PostgreSQL's share is not in it)")
        print(f"   the same with limit=1 (fixed cost of a request: auth, lookups, middleware, ASGI): {_summary(small_ms)}")
        print(f"     server process CPU {small_cpu_ms:.1f} ms per request")

        p50 = percentile(api_ms, 50)
        verdict = "met" if p50 < TARGET_P50_MS else "MISSED"
        print(
            f"candles API: {LIMIT:,} candles/response, {body_size:,} bytes; {_summary(api_ms)} "
            f"(target p50 < {TARGET_P50_MS:.0f} ms, {verdict}); selector alone p50 {percentile(selector_ms, 50):.1f} ms"
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM market_candle WHERE symbol_id = %s", [symbol.pk])
        user.delete()
        Symbol.objects.filter(pk__in=created_symbols).delete()
