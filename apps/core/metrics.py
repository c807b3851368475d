"""Every Prometheus metric the platform exports, in one place (the README lists them).

Each process records into its own values; `/metrics` serves them all. Under `make run` (and
with gunicorn or several workers anywhere) set `PROMETHEUS_MULTIPROC_DIR` to a folder the
processes share and empty it before they start: each process then writes its values there and
`/metrics` aggregates every live and past process of this run (prometheus-client's multiprocess
mode). Without it, `/metrics` shows the serving process alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
_TASK_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)

# HTTP (web) ------------------------------------------------------------------------------
http_requests_total = Counter("tp_http_requests_total", "HTTP requests served, by route template", ["method", "route", "status"])
http_request_duration_seconds = Histogram(
    "tp_http_request_duration_seconds", "HTTP request latency, by route template", ["method", "route"], buckets=_LATENCY_BUCKETS
)
http_request_db_seconds = Histogram(
    "tp_http_request_db_seconds", "Time one HTTP request spent in database queries, by route template", ["route"], buckets=_LATENCY_BUCKETS
)
db_queries_total = Counter("tp_db_queries_total", "Database queries run while serving HTTP requests", ["route"])

# WebSockets (web) ------------------------------------------------------------------------
websocket_connections = Gauge("tp_websocket_connections", "Open WebSocket connections, by kind (events, market)", ["kind"], multiprocess_mode="livesum")
websocket_pushes_total = Counter("tp_websocket_pushes_total", "Messages pushed to WebSocket groups, by kind", ["kind"])

# Orders ----------------------------------------------------------------------------------
order_placement_seconds = Histogram(
    "tp_order_placement_seconds",
    "Placing an order: a paper fill, or a live send until the venue's acknowledgement, by venue and mode",
    ["venue", "mode"],
    buckets=_LATENCY_BUCKETS,
)
reconciliation_discrepancies_total = Counter(
    "tp_reconciliation_discrepancies_total", "Differences reconciliation found between the venue and the ledger, by venue and kind", ["venue", "kind"]
)

# Celery (workers) ------------------------------------------------------------------------
celery_tasks_total = Counter("tp_celery_tasks_total", "Celery tasks finished, by task and outcome (succeeded, failed, retried)", ["task", "outcome"])
celery_task_duration_seconds = Histogram("tp_celery_task_duration_seconds", "Celery task run time, by task", ["task"], buckets=_TASK_BUCKETS)
celery_task_wait_seconds = Histogram(
    "tp_celery_task_wait_seconds", "Time a Celery task waited in its queue before it started, by task", ["task"], buckets=_LAG_BUCKETS
)

# Bots ------------------------------------------------------------------------------------
bot_decision_lag_seconds = Histogram("tp_bot_decision_lag_seconds", "From a candle's close to the bot's decision on it", buckets=_LAG_BUCKETS)
bot_decisions_total = Counter("tp_bot_decisions_total", "Bot decisions on closed candles, by outcome", ["outcome"])

# Market stream ---------------------------------------------------------------------------
stream_messages_total = Counter("tp_stream_messages_total", "Messages received by stream_market, by venue and kind", ["venue", "kind"])
stream_lag_seconds = Histogram("tp_stream_lag_seconds", "From the venue's timestamp to stream_market receiving it, by venue", ["venue"], buckets=_LAG_BUCKETS)
stream_reconnects_total = Counter("tp_stream_reconnects_total", "Times stream_market reopened a venue's stream, by venue", ["venue"])

# Celery queues, read from the broker when /metrics is scraped ---------------------------
CELERY_QUEUE_DEPTH = "tp_celery_queue_depth"


def celery_queue_names() -> list[str]:
    from django.conf import settings

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route}
    return sorted(routed | {"default"})


class CeleryQueueDepthCollector(Collector):
    """Tasks waiting in each Celery queue (the broker's list lengths), read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(CELERY_QUEUE_DEPTH, "Tasks waiting in each Celery queue", labels=["queue"])
        try:
            depths = _broker_queue_depths(celery_queue_names())
        except Exception:  # noqa: BLE001 - a broker outage must not break the scrape of everything else
            return
        for queue, depth in depths.items():
            family.add_metric([queue], depth)
        yield family


def _broker_queue_depths(queues: Iterable[str]) -> dict[str, int]:
    from trading_platform.celery import app

    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        return {queue: int(client.llen(queue)) for queue in queues}


def registry_for_scrape(*, include_queue_depths: bool = True) -> CollectorRegistry:
    """Every process's values under multiprocess mode, else this process's; plus the queue depths
    (the web's /metrics only: one scrape target reads the broker)."""
    if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    if include_queue_depths:
        registry.register(CeleryQueueDepthCollector())
    return registry


class _ProcessMetrics(Collector):
    """The default registry's metrics (this process's), without registering them twice."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exported_metric_names() -> set[str]:
    """The names a scrape can hold, with the sample suffixes histograms and counters add."""
    names = {CELERY_QUEUE_DEPTH}
    for metric in REGISTRY.collect():
        if not metric.name.startswith("tp_"):
            continue
        names.add(metric.name)
        if metric.type == "counter":
            names.add(f"{metric.name}_total")
        if metric.type == "histogram":
            names.update({f"{metric.name}_bucket", f"{metric.name}_sum", f"{metric.name}_count"})
    return names
