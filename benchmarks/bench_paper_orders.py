"""Paper order round trip through the API: authenticate, validate, risk, match, persist, push.

16 concurrent clients, each its own trader with an API key and a paper account on SIM,
alternate market buys and sells of BTC/USDT through POST /api/v1/orders/. The live
order book is kept fresh in Redis as `stream_market` would. Two servers are measured:
gunicorn's sync workers on the WSGI app (two per CPU: a worker waiting on PostgreSQL leaves
the CPU to another), as production serves the API, and uvicorn with one worker per CPU on the
ASGI app, as `make run` served everything before; with caddy on PATH also gunicorn behind
Caddy with `make run`'s Caddyfile, the URL `make run` serves now. Target: >= 200 orders/s
with p99 < 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from contextlib import ExitStack
from typing import Any

from benchmarks._support import behind_caddy, live_server, percentile, progress

CLIENTS = 16
ORDERS_PER_CLIENT = 125
WARMUP_PER_CLIENT = 5
TARGET_RATE = 200
TARGET_P99_MS = 100


def _traders() -> list[tuple[Any, str, Any]]:
    from apps.accounts.models import User
    from apps.accounts.services import api_key_create
    from apps.market.services.demo import sim_symbols_prepare
    from apps.portfolio.services import paper_account_create

    sim_symbols_prepare()
    from apps.exchanges.selectors import builtin_exchange

    sim = builtin_exchange("SIM")
    traders = []
    for index in range(CLIENTS):
        user = User.objects.create_user(f"bench-paper-{index}-{os.getpid()}@example.com", password=None)
        key = api_key_create(actor=user, name="benchmark", scopes=["read", "trade"]).plaintext
        account = paper_account_create(actor=user, exchange=sim, initial_balances={"USDT": "100000000", "BTC": "1000"})
        traders.append((user, key, account))
    return traders


def _keep_book_fresh(stop: threading.Event) -> None:
    """What stream_market does: the latest book and ticker in Redis a few times a second."""
    from apps.exchanges.models import Symbol
    from apps.exchanges.services import run_with_gateway
    from apps.market.live import book_to_dict, live_store, ticker_to_dict

    symbol = Symbol.objects.get(exchange__code="SIM", symbol="BTC/USDT")
    while not stop.is_set():
        book = run_with_gateway("SIM", lambda gateway: gateway.fetch_order_book("BTC/USDT", 50))
        ticker = run_with_gateway("SIM", lambda gateway: gateway.fetch_ticker("BTC/USDT"))
        live_store("book", "SIM", symbol.slug, book_to_dict(book))
        live_store("ticker", "SIM", symbol.slug, ticker_to_dict(ticker))
        stop.wait(0.5)


async def _client(url: str, key: str, account_id: str, count: int, latencies: list[float], errors: list[str], bar: Any) -> None:
    import aiohttp

    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for index in range(count):
            body = {"account": account_id, "symbol": "BTC/USDT", "side": "BUY" if index % 2 == 0 else "SELL", "order_type": "MARKET", "quantity": "0.001"}
            started = time.perf_counter()
            async with session.post(f"{url}/api/v1/orders/", data=json.dumps(body)) as response:
                payload = await response.json()
                elapsed = time.perf_counter() - started
            if response.status not in (200, 201) or payload.get("status") != "FILLED":
                errors.append(f"{response.status}: {str(payload)[:200]}")
            latencies.append(elapsed * 1000)
            if bar is not None:
                bar.update(1)


async def _run(url: str, traders: list[tuple[Any, str, Any]], per_client: int, show: bool) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    with progress(total=per_client * len(traders), desc="paper orders", unit="order", disable=not show) as bar:
        started = time.perf_counter()
        await asyncio.gather(*(_client(url, key, str(account.pk), per_client, latencies, errors, bar) for _, key, account in traders))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


def _measure(server: str, workers: int, traders: list[tuple[Any, str, Any]], *, proxied: bool = False) -> None:
    with live_server(f"bench-{server}-paper.log", workers=workers, server=server) as backend, ExitStack() as stack:
        live = stack.enter_context(behind_caddy(backend, "bench-caddy-paper.log")) if proxied else backend
        server = f"Caddy -> {server} (make run)" if proxied else server
        time.sleep(2)  # every worker up
        asyncio.run(_run(live.url, traders, WARMUP_PER_CLIENT, show=False))
        latencies, errors, elapsed = asyncio.run(_run(live.url, traders, ORDERS_PER_CLIENT, show=True))
    total = len(latencies)
    rate = total / elapsed
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    verdict_rate = "met" if rate >= TARGET_RATE else "MISSED"
    verdict_p99 = "met" if p99 < TARGET_P99_MS else "MISSED"
    print(
        f"paper orders via API, {server} with {workers} workers: {total} orders from {CLIENTS} concurrent clients in {elapsed:.2f} s "
        f"= {rate:,.0f} orders/s (target {TARGET_RATE}, {verdict_rate}); p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(target < {TARGET_P99_MS} ms, {verdict_p99}); {len(errors)} errors"
    )
    for error in errors[:5]:
        print(f"   error: {error}")


def main() -> None:
    traders = _traders()
    stop = threading.Event()
    refresher = threading.Thread(target=_keep_book_fresh, args=(stop,), daemon=True)
    refresher.start()
    cpus = os.cpu_count() or 2
    try:
        time.sleep(1)
        gunicorn_workers = int(os.environ.get("BENCH_GUNICORN_WORKERS", 2 * cpus))
        if shutil.which("caddy"):
            _measure("gunicorn", gunicorn_workers, traders, proxied=True)
        else:
            print("caddy is not on PATH: the make run layout (Caddy -> gunicorn) is not measured")
        _measure("gunicorn", gunicorn_workers, traders)
        _measure("uvicorn", cpus, traders)
    finally:
        stop.set()
        refresher.join(timeout=5)
