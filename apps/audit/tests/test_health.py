"""/health/ shows the last verification of the audit chains."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.health import check_audit_chain
from apps.audit.models import AuditVerification

pytestmark = pytest.mark.django_db


def test_before_any_verification_the_trail_is_reported_as_not_verified_yet() -> None:
    status = check_audit_chain()

    assert status.ok and status.detail == "not verified yet"


def test_a_broken_chain_fails_the_check_naming_the_event() -> None:
    AuditVerification.objects.create(ok=False, message="2026-12: chain broken at event 0190abcd: edited", broken_event_id="0190abcd")

    status = check_audit_chain()

    assert not status.ok and "0190abcd" in status.detail


def test_a_verification_older_than_two_days_is_stale() -> None:
    AuditVerification.objects.create(ok=True, started_at=timezone.now() - timedelta(days=3), message="12 event(s) in 1 month(s) verified")

    assert not check_audit_chain().ok


def test_the_health_endpoint_lists_the_audit_line(client) -> None:
    AuditVerification.objects.create(ok=True, message="12 event(s) in 1 month(s) verified")

    body = client.get("/health/").json()

    assert body["components"]["audit"]["ok"] is True and "verified" in body["components"]["audit"]["detail"]
