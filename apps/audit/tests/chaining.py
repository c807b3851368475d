"""Chaining events before their transaction commits, for tests that never commit theirs."""

from __future__ import annotations

from django.db import connection

from apps.audit.models import AuditEvent


def chain_now() -> None:
    """Chain what this transaction wrote so far, then every later event at the end of its statement.

    SET CONSTRAINTS names the trigger of each partition that exists now: run it again after
    creating a partition."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS audit_chain_at_commit IMMEDIATE")


def stored(event: AuditEvent) -> AuditEvent:
    """The event as the database holds it (with its chain fields, once chained)."""
    return AuditEvent.objects.get(id=event.id, created_at=event.created_at)
