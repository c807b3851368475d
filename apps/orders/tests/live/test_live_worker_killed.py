"""A worker process killed (SIGKILL) while its order request is on the wire: the order is neither
lost nor placed twice when sending resumes.

The send runs in a real child process, as the Celery task would, against the local Binance. The
venue places the order and holds back its answer; the child is killed while it waits. What it
committed before the request ("sent") is all that survives. A redelivered task waits while the
dead worker's send lock stands; reconciliation finds the order on the venue by our client id and
takes it in; the task, once the lock expires, finds it done. Nothing is placed twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

from apps.audit.models import AuditEvent
from apps.orders.models import Order
from apps.orders.services.live import live_accounts_reconcile, live_order_send
from tests.venues.server import RunningVenue, run_venue

from .conftest import LiveTrader, RetryRequested, make_live_trader, pointed_at, retry
from .test_live_crash_safety import LosingVenue

ROOT = Path(__file__).resolve().parents[4]
SEND_IN_A_CHILD = """
import django
django.setup()
from apps.orders.services.live import live_order_send

def retry(exc=None, countdown=None, **_):
    raise SystemExit(f"retry requested: {exc!r}")

live_order_send(order_id=ORDER_ID, retry=retry)
"""


@pytest.fixture
def venue() -> Iterator[tuple[RunningVenue, LosingVenue]]:
    losing = LosingVenue()
    with run_venue(losing.create_app) as running:
        yield running, losing


def _child(order_id: str, venue: RunningVenue) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="trading_platform.settings.test",
        DATABASE_NAME=str(connection.settings_dict["NAME"]),
        PYTHONPATH=str(ROOT),
        EXCHANGE_REST_BASE_URL=venue.rest_url,
        EXCHANGE_WS_BASE_URL=venue.ws_url,
    )
    code = SEND_IN_A_CHILD.replace("ORDER_ID", repr(order_id))
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_its_order_is_on_the_wire_neither_loses_nor_doubles_it(
    venue: tuple[RunningVenue, LosingVenue], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, losing = venue
    enqueued: list[tuple[object, ...]] = []
    # The child process below is the worker that takes the send task; no other worker may.
    monkeypatch.setattr("apps.orders.tasks.send_live_order_task.delay", lambda *args: enqueued.append(args))
    with pointed_at(running):
        trader: LiveTrader = make_live_trader(running)
        order = trader.submit("LIMIT")
        assert enqueued == [(str(order.pk),)]
        losing.lose = 1  # the venue takes the order, then never answers

        child = _child(str(order.pk), running)
        deadline = time.monotonic() + 60
        while not trader.venue_orders(order.client_order_id):  # the order has reached the venue
            assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
            assert time.monotonic() < deadline, "the child never placed the order"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL

        order.refresh_from_db()
        assert order.sent_at is not None and order.venue_order_id == "" and order.status == "NEW"  # only "sent" survived

        # The task, redelivered at once: the dead worker's send lock still stands, so it waits (a retry) and sends nothing.
        with pytest.raises(RetryRequested):
            live_order_send(order_id=str(order.pk), retry=retry)
        assert running.control.count("/api/v3/order") == 1

        counts = live_accounts_reconcile()  # the next reconciliation (every minute, and when a worker starts)
        order.refresh_from_db()
        (on_venue,) = trader.venue_orders(order.client_order_id)
        assert (order.status, order.venue_order_id) == ("OPEN", str(on_venue.order_id))
        assert counts.get("acknowledged") == 1

        cache.delete(f"orders:live-send:{order.pk}")  # the dead worker's lock expires
        assert live_order_send(order_id=str(order.pk), retry=retry) == "OPEN"  # the redelivered task now finds it done

    assert len(trader.venue_orders(order.client_order_id)) == 1  # one order on the venue, never two
    assert running.control.count("/api/v3/order") == 1  # the child's POST only: reconciliation found it among the open orders
    assert Order.objects.filter(account=trader.account).count() == 1
    assert AuditEvent.objects.filter(action="reconciliation.acknowledged", target_id=str(order.pk)).count() == 1
