from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from apps.audit import presentation

register = template.Library()


@register.filter
def audit_changes(changes: Any) -> list[presentation.ChangeRow]:
    """An event's changes formatted for the reader (numbers, times in their zone)."""
    return presentation.change_rows(changes, timezone.get_current_timezone())


@register.filter
def audit_raw(changes: Any) -> str:
    return presentation.raw_changes(changes)


@register.filter
def audit_target_link(event: Any) -> str:
    return presentation.target_link(event)


@register.simple_tag
def audit_trail_url(target_type: str, target_id: Any) -> str:
    """Link to one object's audit trail: {% audit_trail_url "orders.order" order.id %}."""
    return presentation.trail_url(target_type, target_id)
