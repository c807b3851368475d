"""Recording audit events: who, whose trail, what, from where, in the month's partition."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record, diff_fields
from apps.core.logging import current_request_id
from apps.core.request_context import current_ip_address

pytestmark = pytest.mark.django_db


def test_an_event_records_the_actor_the_target_the_changes_and_where_it_came_from() -> None:
    trader = UserFactory()
    ip_token = current_ip_address.set("203.0.113.9")
    request_token = current_request_id.set("req-42")
    try:
        audit_record(actor=trader, action="settings.changed", summary="Time zone changed", target=trader, changes={"time_zone": ["UTC", "Europe/Paris"]})
    finally:
        current_ip_address.reset(ip_token)
        current_request_id.reset(request_token)

    event = AuditEvent.objects.get(action="settings.changed")
    assert event.actor_id == trader.pk and event.owner_id == trader.pk
    assert (event.target_type, event.target_id) == ("accounts.user", str(trader.pk))
    assert event.changes == {"time_zone": ["UTC", "Europe/Paris"]}
    assert event.ip_address == "203.0.113.9" and event.request_id == "req-42"


def test_a_system_event_about_a_user_lands_in_that_users_trail_without_an_actor() -> None:
    trader = UserFactory()

    audit_record(actor=None, action="reconciliation.adopted", summary="Order adopted from the venue", owner=trader)

    event = AuditEvent.objects.get(action="reconciliation.adopted")
    assert event.actor_id is None and event.owner_id == trader.pk
    assert event.request_id == "" and event.ip_address is None


def test_a_long_summary_is_cut_to_the_column_not_refused() -> None:
    audit_record(actor=UserFactory(), action="bot.log", summary="x" * 400)

    assert len(AuditEvent.objects.get(action="bot.log").summary) == 255


def test_events_are_stored_in_the_partition_of_their_month() -> None:
    audit_record(actor=UserFactory(), action="auth.login", summary="signed in")
    event = AuditEvent.objects.get(action="auth.login")

    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audit_auditevent WHERE id = %s", [event.id])
        partition = cursor.fetchone()[0]

    month = event.created_at.astimezone(UTC)
    assert partition != "audit_auditevent" and month.strftime("%Y") in partition and month.strftime("%m") in partition


def test_diff_fields_lists_only_what_changed_with_old_and_new_values() -> None:
    before = {"theme": "light", "time_zone": "UTC", "quote": "USDT"}
    after = {"theme": "dark", "time_zone": "UTC", "quote": "USDC"}

    assert diff_fields(before, after) == {"theme": ["light", "dark"], "quote": ["USDT", "USDC"]}


def test_signing_in_and_out_are_recorded(client) -> None:
    trader = UserFactory()

    client.force_login(trader)
    client.post("/accounts/logout/")

    actions = list(AuditEvent.objects.filter(owner=trader).order_by("created_at").values_list("action", flat=True))
    assert actions[:2] == ["auth.login", "auth.logout"]


def test_events_are_ordered_newest_first() -> None:
    trader = UserFactory()
    audit_record(actor=trader, action="a.first", summary="first")
    audit_record(actor=trader, action="a.second", summary="second")

    assert [event.action for event in AuditEvent.objects.filter(owner=trader)][:2] == ["a.second", "a.first"]
    assert AuditEvent.objects.filter(owner=trader, created_at__lte=datetime.now(UTC)).count() == 2
