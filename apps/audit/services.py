"""Writing audit events. Called by every other service inside its transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.audit.models import AuditEvent
from apps.core.logging import current_request_id
from apps.core.request_context import current_ip_address
from apps.core.rows import rows_insert


def audit_record(
    *,
    actor: Any | None,
    action: str,
    summary: str,
    target: models.Model | None = None,
    owner: Any | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record one event. `owner` defaults to the actor: whose trail the event belongs to."""
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    owner_id = owner.pk if owner is not None else actor_id
    request_id = current_request_id.get()
    event = AuditEvent(
        actor_id=actor_id,
        owner_id=owner_id,
        action=action,
        summary=summary[:255],
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        changes=changes or {},
        ip_address=current_ip_address.get(),
        request_id="" if request_id == "-" else request_id,
    )
    rows_insert([event])
    return event


def diff_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{"field": [old, new]} for the fields whose value changed."""
    return {name: [before.get(name), after.get(name)] for name in after if before.get(name) != after.get(name)}
