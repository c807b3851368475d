from datetime import UTC, datetime, timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.core.partitions import PartitionPolicy, drop_expired_partitions, ensure_partitions, partitions_of

pytestmark = pytest.mark.django_db

POLICY = PartitionPolicy(table="audit_auditevent", interval="month", ahead=3, retention=timedelta(days=60))


def test_partitions_exist_for_this_month_and_the_months_ahead() -> None:
    ensure_partitions(POLICY)
    now = datetime.now(UTC)
    partitions = partitions_of("audit_auditevent")

    assert any(p.start <= now < p.end for p in partitions)
    assert max(p.end for p in partitions) > now + timedelta(days=85)


def test_ensuring_twice_creates_nothing_new() -> None:
    ensure_partitions(POLICY)
    assert ensure_partitions(POLICY) == []


def test_a_row_lands_in_its_months_partition() -> None:
    AuditEvent.objects.create(action="test.event", summary="hello")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audit_auditevent WHERE action = 'test.event'")
        (partition,) = cursor.fetchone()
    assert partition == f"audit_auditevent_p{datetime.now(UTC):%Y%m}"


def test_partitions_past_retention_are_dropped_and_recent_ones_kept() -> None:
    old_month = datetime(2020, 1, 15, tzinfo=UTC)
    ensure_partitions(PartitionPolicy("audit_auditevent", "month", ahead=0, retention=None), now=old_month)
    assert "audit_auditevent_p202001" in {p.name for p in partitions_of("audit_auditevent")}

    dropped = drop_expired_partitions(POLICY)

    names = {p.name for p in partitions_of("audit_auditevent")}
    assert "audit_auditevent_p202001" in dropped
    assert "audit_auditevent_p202001" not in names
    assert f"audit_auditevent_p{datetime.now(UTC):%Y%m}" in names
