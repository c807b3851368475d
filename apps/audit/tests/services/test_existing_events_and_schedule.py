"""Events written before the chain existed are chained by the migration; the daily verification is scheduled."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.db import connection

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent, AuditVerification
from apps.audit.tasks import audit_verify_task
from apps.audit.tests.tampering import append_only_trigger_disabled
from apps.audit.verification import audit_chain_verify
from apps.core.schedules import PLATFORM_SCHEDULES

pytestmark = pytest.mark.django_db


def test_the_migration_chains_the_events_written_before_it() -> None:
    trader = UserFactory()
    for number in range(3):
        AuditEvent.objects.create(actor=trader, owner=trader, action="settings.changed", summary=f"before the chain {number}", ip_address="203.0.113.9")
    assert not all(result.ok for result in audit_chain_verify())
    migration = importlib.import_module("apps.audit.migrations.0003_hash_chain")

    with append_only_trigger_disabled():
        migration.chain_existing_events(None, SimpleNamespace(connection=connection))

    chained = AuditEvent.objects.filter(owner=trader).order_by("seq")
    assert [event.summary for event in chained] == [f"before the chain {n}" for n in range(3)]
    assert all(event.hash and event.personal_digest for event in chained)
    assert all(result.ok for result in audit_chain_verify())


def test_the_verification_runs_daily_and_its_task_keeps_the_result() -> None:
    schedule = next(schedule for schedule in PLATFORM_SCHEDULES if schedule.task == "audit.verify_chain")
    assert schedule.every_seconds == 24 * 3600

    outcome = audit_verify_task()

    assert outcome["ok"] is True
    assert AuditVerification.objects.filter(ok=True).exists()
