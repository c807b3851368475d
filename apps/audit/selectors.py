from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet

from apps.audit.filters import AuditFilter
from apps.audit.models import AuditEvent


def _actor_condition(text: str) -> Q:
    """An actor given as a user, key or bot id, an email, a system process name or a key's name."""
    try:
        as_id = uuid.UUID(text)
    except ValueError:
        return Q(actor_name__icontains=text)
    return Q(actor_id=as_id) | Q(actor_ref=str(as_id))


def audit_event_list(*, actor: Any, action_prefix: str = "", include_all_users: bool = False, filters: AuditFilter | None = None) -> QuerySet[AuditEvent]:
    """The actor's own trail; staff may ask for everyone's (or one user's)."""
    filters = filters or AuditFilter(action=action_prefix, everyone=include_all_users)
    events = AuditEvent.objects.select_related("actor", "owner").order_by("-created_at", "-id")
    if not (filters.everyone and actor.is_staff):
        events = events.filter(owner_id=actor.pk)
    if filters.owner:
        events = events.filter(owner_id=uuid.UUID(filters.owner))
    if filters.group:
        group = Q()
        for prefix in filters.group_prefixes:
            group |= Q(action__startswith=prefix)
        events = events.filter(group)
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type.lower())
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    if filters.actor_kind:
        events = events.filter(actor_kind=filters.actor_kind)
    if filters.actor:
        events = events.filter(_actor_condition(filters.actor))
    if filters.since is not None:
        events = events.filter(created_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(created_at__lt=filters.until)
    if filters.correlation:
        events = events.filter(request_id=filters.correlation)
    if filters.q:
        events = events.filter(summary__icontains=filters.q)
    return events
