from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.audit.models import AuditEvent


def audit_event_list(*, actor: Any, action_prefix: str = "", include_all_users: bool = False) -> QuerySet[AuditEvent]:
    """The actor's own trail; staff may ask for everyone's."""
    events = AuditEvent.objects.select_related("actor").order_by("-created_at")
    if not (include_all_users and actor.is_staff):
        events = events.filter(owner_id=actor.pk)
    if action_prefix:
        events = events.filter(action__startswith=action_prefix)
    return events
