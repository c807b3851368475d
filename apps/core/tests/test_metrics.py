"""Metrics an operator can watch: by route template, with database time, from the web and the
real Celery worker alike (multiprocess mode, as under `make run`)."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from django.test import Client
from prometheus_client import generate_latest

from apps.accounts.tests.factories import StaffUserFactory, UserFactory
from apps.core.metrics import exported_metric_names, registry_for_scrape
from apps.core.tasks import ping_task

pytestmark = pytest.mark.django_db


def _scrape(client: Client) -> str:
    client.force_login(StaffUserFactory())
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_requests_are_counted_by_route_template_with_their_database_time(client: Client) -> None:
    client.force_login(UserFactory())
    for _ in range(2):
        assert client.get(f"/api/v1/orders/{uuid.uuid4()}/").status_code == 404

    text = _scrape(client)

    route = "/api/v1/orders/<uuid:order_id>/"
    assert _sample(text, "tp_http_requests_total", method="GET", route=route, status="404") == 2
    assert (_sample(text, "tp_http_request_duration_seconds_count", method="GET", route=route) or 0) >= 2
    assert (_sample(text, "tp_http_request_db_seconds_count", route=route) or 0) >= 2
    assert (_sample(text, "tp_db_queries_total", route=route) or 0) >= 2  # the session and the order lookup
    assert str(uuid.UUID(int=0))[:8] not in text


def test_the_queue_depths_are_read_from_the_broker(client: Client) -> None:
    text = _scrape(client)

    for queue in ("default", "market", "bots", "backtests"):
        assert _sample(text, "tp_celery_queue_depth", queue=queue) is not None


def test_a_task_run_by_the_real_worker_shows_in_the_scrape(celery_worker_process: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import _child_metrics_directory

    assert ping_task.delay().get(timeout=30) == "pong"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(_child_metrics_directory()))

    deadline = time.monotonic() + 10
    while True:
        text = generate_latest(registry_for_scrape()).decode()
        succeeded = _sample(text, "tp_celery_tasks_total", task="core.ping", outcome="succeeded")
        if succeeded or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert succeeded is not None and succeeded >= 1
    assert (_sample(text, "tp_celery_task_duration_seconds_count", task="core.ping") or 0) >= 1
    assert (_sample(text, "tp_celery_task_wait_seconds_count", task="core.ping") or 0) >= 1


def test_every_metric_follows_the_naming_conventions() -> None:
    names = exported_metric_names()

    assert {"tp_http_requests_total", "tp_order_placement_seconds_bucket", "tp_websocket_connections", "tp_stream_reconnects_total"} <= names
    for name in names:
        assert re.fullmatch(r"tp_[a-z0-9_]+", name), name
