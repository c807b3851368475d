"""Retention (7 years by default, applied by the partition task) and erasing a deleted user's personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditChainHead, AuditEvent
from apps.audit.services import audit_personal_data_erase, audit_record, chain_month
from apps.audit.tests.chaining import chain_now, stored
from apps.audit.verification import audit_chain_verify
from apps.core.partitions import drop_expired_partitions, ensure_partitions_cover, partition_name, partitions_of, policy_for
from apps.core.request_context import current_ip_address

pytestmark = pytest.mark.django_db
TABLE = "audit_auditevent"


def test_audit_events_are_kept_seven_years_by_default() -> None:
    assert settings.AUDIT_RETENTION_DAYS == 7 * 365 + 2
    assert policy_for(TABLE).retention == timedelta(days=settings.AUDIT_RETENTION_DAYS)


def _event_in(moment: datetime, user) -> AuditEvent:
    ensure_partitions_cover(TABLE, moment, moment)
    chain_now()  # the partition may be new
    with time_machine.travel(moment, tick=False):
        return stored(audit_record(actor=user, action="settings.changed", summary=f"at {moment:%Y-%m}"))


def test_the_partition_task_drops_months_past_retention_whole_and_keeps_their_chain_head() -> None:
    trader = UserFactory()
    old = datetime.now(UTC).replace(day=15) - timedelta(days=8 * 366)
    recent = datetime.now(UTC).replace(day=15) - timedelta(days=400)
    old_event, recent_event = _event_in(old, trader), _event_in(recent, trader)

    dropped = drop_expired_partitions(policy_for(TABLE))

    assert partition_name(TABLE, datetime(old.year, old.month, 1, tzinfo=UTC), "month") in dropped
    assert not AuditEvent.objects.filter(id=old_event.id).exists() and AuditEvent.objects.filter(id=recent_event.id).exists()
    head = AuditChainHead.objects.get(month=chain_month(old))
    assert (head.seq, head.hash) == (1, old_event.hash), "the dropped month's chain head is kept"
    results = audit_chain_verify()
    assert all(result.ok for result in results), [result.message for result in results]


def test_a_month_dropped_before_its_retention_ended_breaks_verification() -> None:
    trader = UserFactory()
    recent = datetime.now(UTC).replace(day=15) - timedelta(days=400)
    _event_in(recent, trader)
    name = partition_name(TABLE, datetime(recent.year, recent.month, 1, tzinfo=UTC), "month")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{name}"')

    broken = [result for result in audit_chain_verify() if not result.ok]

    assert broken and "missing" in broken[0].message and name in broken[0].message
    assert name not in {partition.name for partition in partitions_of(TABLE)}


def _event_from(address: str, user) -> AuditEvent:
    token = current_ip_address.set(address)
    try:
        return stored(audit_record(actor=user, action="auth.login", summary="signed in"))
    finally:
        current_ip_address.reset(token)


def test_erasing_a_users_client_addresses_keeps_the_chain_valid() -> None:
    leaving, staying = UserFactory(), UserFactory()
    first, kept = _event_from("203.0.113.9", leaving), _event_from("198.51.100.4", staying)

    erased = audit_personal_data_erase(actor=None, user_id=leaving.pk)

    assert erased == 1
    event = AuditEvent.objects.get(id=first.id)
    assert (event.ip_address, event.user_agent, event.personal_salt) == (None, None, None)
    assert event.personal_digest == first.personal_digest and event.hash == first.hash
    assert AuditEvent.objects.get(id=kept.id).ip_address == "198.51.100.4"
    assert AuditEvent.objects.filter(action="audit.personal_data_erased").exists()
    assert all(result.ok for result in audit_chain_verify())


def test_deleting_a_user_erases_their_personal_data_from_the_trail() -> None:
    leaving = UserFactory()
    event = _event_from("203.0.113.9", leaving)

    leaving.delete()

    stored = AuditEvent.objects.get(id=event.id)
    assert stored.ip_address is None and stored.summary == "signed in", "the event stays; only the personal data goes"
    assert all(result.ok for result in audit_chain_verify())
