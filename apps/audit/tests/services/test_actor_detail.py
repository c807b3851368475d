"""Actor detail: which user, API key, bot or system process acted, from where, and what caused it."""

from __future__ import annotations

import pytest

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.audit.context import acting_as_bot, acting_as_system, system_actor_for_task
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.orders.tests.factories import sim_markets

pytestmark = pytest.mark.django_db


def test_a_signed_in_request_records_the_user_the_address_the_user_agent_and_the_request_id(client) -> None:
    trader = UserFactory()
    client.force_login(trader)

    response = client.patch(
        "/api/v1/risk-limits/",
        {"max_leverage": 3},
        content_type="application/json",
        headers={"User-Agent": "Firefox/140", "X-Request-ID": "req-0123456789"},
        REMOTE_ADDR="198.51.100.7",
    )

    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(owner=trader, action="risk_limits.changed")
    assert (event.actor_kind, event.actor_ref, event.actor_name) == ("user", str(trader.pk), trader.email)
    assert (event.ip_address, event.user_agent, event.correlation_id) == ("198.51.100.7", "Firefox/140", "req-0123456789")
    assert event.personal_digest and event.personal_salt


def test_a_request_signed_with_an_api_key_names_the_key(client) -> None:
    trader = UserFactory()
    created = api_key_create(actor=trader, name="grid bot", scopes=["read", "trade", "bots"])

    sim_markets()

    response = client.post(
        "/api/v1/accounts/",
        {"exchange": "SIM", "balances": {"USDT": "10000"}},
        content_type="application/json",
        headers={"Authorization": f"Api-Key {created.plaintext}"},
    )

    assert response.status_code == 201, response.content
    event = AuditEvent.objects.filter(owner=trader, actor_kind="api_key").latest("created_at")
    assert (event.actor_kind, event.actor_ref, event.actor_id) == ("api_key", str(created.api_key.pk), trader.pk)
    assert "grid bot" in event.actor_name and created.api_key.prefix in event.actor_name


def test_a_bot_and_a_system_process_are_named_as_the_actor() -> None:
    trader = UserFactory()

    class _Bot:
        pk = "0190c000-0000-7000-8000-000000000001"
        name = "Grid BTC"

    with acting_as_bot(_Bot(), correlation_id="bar-2026-12-04T10:00"):
        audit_record(actor=trader, action="order.submitted", summary="bot bought")
    with acting_as_system("reconciliation", correlation_id="task-1234"):
        audit_record(actor=None, owner=trader, action="reconciliation.adopted", summary="adopted")

    bot_event = AuditEvent.objects.get(action="order.submitted")
    system_event = AuditEvent.objects.get(action="reconciliation.adopted")
    assert (bot_event.actor_kind, bot_event.actor_ref, bot_event.actor_name) == ("bot", _Bot.pk, "Grid BTC")
    assert bot_event.correlation_id == "bar-2026-12-04T10:00"
    assert (system_event.actor_kind, system_event.actor_name, system_event.correlation_id) == ("system", "reconciliation", "task-1234")


def test_every_event_one_task_causes_carries_the_task_id() -> None:
    from celery.signals import task_postrun, task_prerun

    trader = UserFactory()

    class _Task:
        name = "orders.reconcile_live_accounts"

    task_prerun.send(sender=_Task, task_id="c0ffee00-task", task=_Task())
    try:
        audit_record(actor=None, owner=trader, action="reconciliation.synced", summary="one")
        audit_record(actor=None, owner=trader, action="reconciliation.synced", summary="two")
    finally:
        task_postrun.send(sender=_Task, task_id="c0ffee00-task", task=_Task())
    audit_record(actor=trader, action="settings.changed", summary="after")

    linked = AuditEvent.objects.filter(request_id="c0ffee00-task")
    assert linked.count() == 2 and {event.actor_name for event in linked} == {"reconciliation"}
    assert AuditEvent.objects.get(action="settings.changed").request_id == ""


@pytest.mark.parametrize(
    ("task", "actor"),
    [
        ("orders.reconcile_live_accounts", "reconciliation"),
        ("core.maintain_partitions", "scheduler"),
        ("market.backfill_watched_symbols", "stream"),
        ("risk.monitor", "risk_monitor"),
    ],
)
def test_tasks_act_as_their_system_process(task: str, actor: str) -> None:
    assert system_actor_for_task(task) == actor
