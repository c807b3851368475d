"""The Celery side of live execution: tasks, retries, the beat schedule, start-up reconciliation.

The real worker (`celery_worker_process`) is started once per test session, from the session's
environment, before any test has started a local venue: it cannot be pointed at the venue a test
serves on a random port (the gateway reads the venue's URL from settings, i.e. the worker's
environment). So the worker test covers what needs no venue (task names, queue, the worker
running the service against the test database, idempotent skips), and the venue-dependent path
runs through the real task objects in-process with `apply()`, which executes the task and its
`self.retry` exactly as a worker would, minus the broker and the countdown.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from celery.signals import worker_ready
from django_celery_beat.models import PeriodicTask

from apps.core.schedules import PLATFORM_SCHEDULES, sync_periodic_tasks
from apps.orders import tasks
from apps.orders.models import Order
from apps.orders.tasks import cancel_live_order_task, reconcile_live_accounts_task, send_live_order_task
from trading_platform.celery import app

from .conftest import LiveTrader, make_live_trader, pointed_at


@pytest.mark.django_db
def test_the_send_task_retries_a_temporary_venue_error_and_places_the_order_once(live_trader: LiveTrader) -> None:
    order = live_trader.submit("LIMIT")
    live_trader.venue.control.fail_next(1, 503, path="/api/v3/order")

    result = send_live_order_task.apply(args=[str(order.pk)])

    assert result.successful(), result.traceback
    assert result.get() == "OPEN"
    # 503 on the first POST; the retry looked the client id up (GET: unknown), then placed it.
    assert live_trader.venue.control.count("/api/v3/order") == 3
    assert len(live_trader.venue_orders(order.client_order_id)) == 1

    assert cancel_live_order_task.apply(args=[str(order.pk)]).get() == "CANCELED"
    assert reconcile_live_accounts_task.apply().get()["accounts"] == 1
    order.refresh_from_db()
    assert (order.status, order.locked_amount) == ("CANCELED", 0)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_live_tasks_on_the_default_queue(celery_worker_process, binance_server) -> None:  # type: ignore[no-untyped-def]
    for name in ("orders.send_live_order", "orders.cancel_live_order", "orders.reconcile_live_accounts"):
        assert app.amqp.router.route({}, name)["queue"].name == "default"

    assert reconcile_live_accounts_task.delay().get(timeout=60) == {}  # no live account yet: nothing to ask a venue

    with pointed_at(binance_server):
        trader = make_live_trader(binance_server)
    done = Order.objects.create(
        account=trader.account,
        symbol=trader.btc,
        client_order_id="tp-done",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("0.01"),
        price=Decimal(1),
        status="CANCELED",
    )
    # The worker reads the committed row and, as for any redelivered message, does nothing more.
    assert send_live_order_task.delay(str(done.pk)).get(timeout=60) == "CANCELED"
    assert cancel_live_order_task.delay(str(done.pk)).get(timeout=60) == "CANCELED"
    assert binance_server.control.count("/api/v3/order") == 0


def test_reconciliation_is_scheduled_every_minute_on_the_default_queue() -> None:
    schedule = next(s for s in PLATFORM_SCHEDULES if s.task == "orders.reconcile_live_accounts")
    assert (schedule.every_seconds, schedule.queue) == (60, "default")


@pytest.mark.django_db
def test_the_beat_table_holds_the_reconciliation() -> None:
    sync_periodic_tasks()
    periodic = PeriodicTask.objects.get(task="orders.reconcile_live_accounts")
    assert (periodic.interval.every, periodic.interval.period, periodic.queue, periodic.enabled) == (60, "seconds", "default", True)


def test_a_starting_worker_queues_one_reconciliation(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    queued: list[dict[str, object]] = []
    monkeypatch.setattr(tasks.reconcile_live_accounts_task, "apply_async", lambda *args, **options: queued.append(options))

    worker_ready.send(sender=None)

    assert queued == [{"queue": "default"}]
