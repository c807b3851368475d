"""Celery task metrics from Celery's own signals: how long tasks wait in their queue, how long
they run, and how they end. Connected once, in every process (publishers stamp the send time,
workers observe)."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import signals
from prometheus_client import start_http_server

from apps.core.metrics import celery_task_duration_seconds, celery_task_wait_seconds, celery_tasks_total, registry_for_scrape

SENT_AT_HEADER = "tp_sent_at"
EXPORTER_PORT_VARIABLE = "METRICS_EXPORTER_PORT"
_started: dict[str, float] = {}


def stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


def observe_start(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    _started[task_id] = time.perf_counter()
    sent_at = getattr(task.request, SENT_AT_HEADER, None)
    if isinstance(sent_at, int | float):
        celery_task_wait_seconds.labels(task=task.name).observe(max(0.0, time.time() - sent_at))


def observe_end(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    started = _started.pop(task_id, None)
    if started is not None:
        celery_task_duration_seconds.labels(task=task.name).observe(time.perf_counter() - started)
    outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(state or "", "other")
    celery_tasks_total.labels(task=task.name, outcome=outcome).inc()


def start_exporter(**_: Any) -> None:
    """Worker and beat containers serve their own metrics on METRICS_EXPORTER_PORT (compose sets it)."""
    port = os.environ.get(EXPORTER_PORT_VARIABLE)
    if port:
        start_http_server(int(port), registry=registry_for_scrape(include_queue_depths=False))


def connect_task_metrics() -> None:
    signals.before_task_publish.connect(stamp_sent_at, dispatch_uid="core.metrics.sent_at", weak=False)
    signals.task_prerun.connect(observe_start, dispatch_uid="core.metrics.task_start", weak=False)
    signals.task_postrun.connect(observe_end, dispatch_uid="core.metrics.task_end", weak=False)
    signals.worker_init.connect(start_exporter, dispatch_uid="core.metrics.worker_exporter", weak=False)
    signals.beat_init.connect(start_exporter, dispatch_uid="core.metrics.beat_exporter", weak=False)
