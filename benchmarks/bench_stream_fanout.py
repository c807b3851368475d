"""Stream fan-out: 200 WebSocket clients on one symbol, 20 pushes/s for 10 s through the channel layer.

uvicorn serves the ASGI app from a subprocess. 200 clients, signed in with a session
cookie and sending a browser's Origin header, open /ws/market/SIM/BTC-USDT/ (the symbol
page's socket). This process then publishes as `manage.py stream_market` does:
`group_send` of {"type": "market.update", "payload": json} to the symbol's group, with the
HTML of a real push (SIM's ticker and 15-level order book rendered through the same
partials). Each payload carries a sequence number and its `time.time()` at publish; each
client records receipt time minus that (same machine, same clock).

Clients and publisher share one asyncio loop in this process; the loop's own lag is
measured alongside so a client-side bottleneck would show.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks._support import bench_user, live_server, percentile, progress, session_key_for, sim_symbol

CLIENTS = 200
RATE_HZ = 20
SECONDS = 10
MESSAGES = RATE_HZ * SECONDS
CONNECT_CONCURRENCY = 50
DRAIN_TIMEOUT = 10.0
TARGET_P99_MS = 100.0
EXCHANGE, SLUG = "SIM", "BTC-USDT"


@dataclass
class ClientStats:
    latencies_ms: list[float] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    closed_early: str | None = None


def _push_html(symbol: Any) -> str:
    """What the streamer sends to a symbol page: the ticker and the order book partials."""
    from django.template.loader import render_to_string

    from apps.exchanges.services import run_with_gateway
    from apps.market.live import book_to_dict, ticker_to_dict
    from apps.market.presentation import book_rows, ticker_view
    from apps.market.streaming import BOOK_DEPTH

    ticker = run_with_gateway(EXCHANGE, lambda gateway: gateway.fetch_ticker(symbol.symbol))
    book = run_with_gateway(EXCHANGE, lambda gateway: gateway.fetch_order_book(symbol.symbol, BOOK_DEPTH))
    return render_to_string("market/partials.html#symbol-ticker", {"symbol": symbol, "ticker": ticker_view(ticker_to_dict(ticker))}) + render_to_string(
        "market/partials.html#order-book", {"symbol": symbol, "book": book_rows(book_to_dict(book))}
    )


async def _read(ws: Any, stats: ClientStats) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in ws:
            received = time.time()
            data = json.loads(message)
            stats.latencies_ms.append((received - data["sent_at"]) * 1000)
            if data["seq"] in stats.seen:
                stats.duplicates += 1
            stats.seen.add(data["seq"])
    except ConnectionClosed as exc:
        stats.closed_early = f"{exc.rcvd.code if exc.rcvd else 'no close frame'}"


async def _loop_lag(stop: asyncio.Event, lags_ms: list[float], interval: float = 0.01) -> None:
    """How late the loop wakes a 10 ms sleeper: time the clients' messages wait to be read."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + interval
        await asyncio.sleep(interval)
        lags_ms.append((loop.time() - expected) * 1000)


async def _connect_all(port: int, session_key: str) -> tuple[list[Any], list[str]]:
    from websockets.asyncio.client import connect

    uri = f"ws://127.0.0.1:{port}/ws/market/{EXCHANGE}/{SLUG}/"
    headers = {"Cookie": f"sessionid={session_key}"}
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    bar = progress(total=CLIENTS, desc="connecting", unit="client")

    async def one() -> Any:
        async with gate:
            ws = await connect(uri, origin=f"http://127.0.0.1:{port}", additional_headers=headers, open_timeout=30)  # type: ignore[arg-type]
            bar.update(1)
            return ws

    with bar:
        results = await asyncio.gather(*(one() for _ in range(CLIENTS)), return_exceptions=True)
    sockets = [r for r in results if not isinstance(r, BaseException)]
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return sockets, errors


async def _publish(html: str) -> tuple[list[float], float]:
    """MESSAGES pushes at RATE_HZ on a fixed schedule; returns group_send durations (ms) and the span (s)."""
    from channels.layers import get_channel_layer

    from apps.market.groups import MARKET_EVENT_TYPE, symbol_group

    layer = get_channel_layer()
    assert layer is not None
    group = symbol_group(EXCHANGE, SLUG)
    loop = asyncio.get_running_loop()
    send_ms = []
    started = loop.time()
    for seq in progress(range(MESSAGES), desc="publishing", unit="msg"):
        delay = started + seq / RATE_HZ - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        before = time.perf_counter()
        payload = json.dumps({"html": html, "candle": None, "seq": seq, "sent_at": time.time()})
        await layer.group_send(group, {"type": MARKET_EVENT_TYPE, "payload": payload})
        send_ms.append((time.perf_counter() - before) * 1000)
    return send_ms, loop.time() - started


async def _run(server: Any, session_key: str, html: str) -> dict[str, Any]:
    sockets, errors = await _connect_all(server.port, session_key)
    stats = [ClientStats() for _ in sockets]
    readers = [asyncio.create_task(_read(ws, s)) for ws, s in zip(sockets, stats, strict=True)]
    stop = asyncio.Event()
    lags_ms: list[float] = []
    lag_task = asyncio.create_task(_loop_lag(stop, lags_ms))
    await asyncio.sleep(0.5)  # let the last joins settle

    server_cpu, own_cpu = server.cpu_seconds(), time.process_time()
    send_ms, span = await _publish(html)
    expected = len(sockets) * MESSAGES
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while sum(len(s.seen) for s in stats) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    drained = time.monotonic() - (deadline - DRAIN_TIMEOUT)
    server_cpu, own_cpu = server.cpu_seconds() - server_cpu, time.process_time() - own_cpu

    stop.set()
    await lag_task
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return {
        "sockets": len(sockets),
        "errors": errors,
        "stats": stats,
        "send_ms": send_ms,
        "span": span,
        "drained": drained,
        "lags_ms": lags_ms,
        "server_cpu": server_cpu,
        "own_cpu": own_cpu,
    }


def main() -> None:
    from django.contrib.sessions.models import Session
    from django.db import close_old_connections

    from apps.exchanges.models import Symbol
    from apps.market.streaming import BOOK_DEPTH

    symbol, created_symbols = sim_symbol("BTC/USDT")
    assert symbol.slug == SLUG, symbol.slug
    user = bench_user("stream")
    session_key = session_key_for(user)
    try:
        html = _push_html(symbol)
        payload_size = len(json.dumps({"html": html, "candle": None, "seq": MESSAGES, "sent_at": time.time()}).encode())
        print(f"   push: {len(html.encode()):,} bytes of HTML (SIM ticker + {BOOK_DEPTH}-level book partials), {payload_size:,}-byte JSON payload")

        with live_server("bench-uvicorn-stream.log") as server:
            result = asyncio.run(_run(server, session_key, html))
        close_old_connections()

        stats: list[ClientStats] = result["stats"]
        connected = result["sockets"]
        expected = connected * MESSAGES
        received = sum(len(s.seen) for s in stats)
        duplicates = sum(s.duplicates for s in stats)
        latencies = [value for s in stats for value in s.latencies_ms] or [float("nan")]
        closed = [s.closed_early for s in stats if s.closed_early]
        p50, p99, worst = percentile(latencies, 50), percentile(latencies, 99), max(latencies)
        elapsed = result["drained"] + result["span"]
        print(f"   clients connected {connected}/{CLIENTS}" + (f"; connect errors: {result['errors'][:3]}" if result["errors"] else ""))
        print(
            f"   published {MESSAGES} pushes in {result['span']:.2f} s ({MESSAGES / result['span']:.1f}/s); "
            f"group_send p50 {percentile(result['send_ms'], 50):.1f} ms, max {max(result['send_ms']):.1f} ms"
        )
        print(
            f"   received {received:,}/{expected:,} ({expected - received:,} not received within {DRAIN_TIMEOUT:.0f} s of the last publish, "
            f"{duplicates} duplicated)" + (f"; {len(closed)} sockets closed early: {closed[:3]}" if closed else "")
        )
        print(
            f"   publish->receipt latency over {len(latencies):,} deliveries: p50 {p50:.1f} ms, p90 {percentile(latencies, 90):.1f} ms, "
            f"p99 {p99:.1f} ms, max {worst:.1f} ms, mean {statistics.fmean(latencies):.1f} ms"
        )
        per_delivery_us = result["server_cpu"] / max(received, 1) * 1e6
        print(
            f"   CPU while publishing and draining ({elapsed:.1f} s): server {result['server_cpu']:.1f} s "
            f"({result['server_cpu'] / elapsed:.0%} of a core; {per_delivery_us:.0f} us per delivery, so one server process "
            f"tops out near {1e6 / per_delivery_us:,.0f} deliveries/s against {connected * RATE_HZ:,}/s asked), "
            f"clients + publisher {result['own_cpu']:.1f} s ({result['own_cpu'] / elapsed:.0%}); "
            f"client loop lag p99 {percentile(result['lags_ms'], 99):.1f} ms, max {max(result['lags_ms']):.1f} ms"
        )
        verdict = "met" if p99 < TARGET_P99_MS else "MISSED"
        print(
            f"stream fan-out: {connected} clients, {MESSAGES} pushes at {RATE_HZ}/s, {payload_size:,} B each; "
            f"received {received:,}/{expected:,} ({expected - received} missing); latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms "
            f"(target p99 < {TARGET_P99_MS:.0f} ms, {verdict})"
        )
    finally:
        Session.objects.filter(session_key=session_key).delete()
        user.delete()
        Symbol.objects.filter(pk__in=created_symbols).delete()
