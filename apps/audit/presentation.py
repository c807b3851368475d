"""Audit values for people: numbers without trailing zeros (grouped by thousands), times in the
reader's zone, and a link to the object an event is about. The API and exports keep full precision."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from django.urls import NoReverseMatch, reverse

from apps.audit.models import AuditEvent
from apps.core.domain.formatting import plain_number

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class ChangeRow:
    field: str
    old: str
    new: str


def human_value(value: Any, zone: tzinfo) -> str:
    """One value of a change as a person reads it."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str):
        if _NUMBER.match(value):
            text = plain_number(value)
            whole, dot, fraction = text.partition(".")
            sign = "-" if whole.startswith("-") else ""
            return f"{sign}{int(whole.lstrip('-') or 0):,}{dot}{fraction}"
        if _ISO_TIME.match(value):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
            if moment.tzinfo is not None:
                return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def change_rows(changes: Any, zone: tzinfo) -> list[ChangeRow]:
    """{"field": [old, new]} as rows; any other shape as one row per key with its value."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for field, values in changes.items():
        if isinstance(values, list) and len(values) == 2:
            rows.append(ChangeRow(str(field), human_value(values[0], zone), human_value(values[1], zone)))
        else:
            rows.append(ChangeRow(str(field), "", human_value(values, zone)))
    return rows


def raw_changes(changes: Any) -> str:
    return json.dumps(changes, indent=2, ensure_ascii=False, sort_keys=True)


# Where an event's target lives on the site, by model label.
_TARGET_LINKS: dict[str, tuple[str, str]] = {"bots.bot": ("bots:detail", "bot_id")}


def target_link(event: AuditEvent) -> str:
    """The page of the object the event is about, or its own trail when it has no page of its own."""
    if not event.target_type or not event.target_id:
        return ""
    route = _TARGET_LINKS.get(event.target_type)
    if route is not None:
        try:
            return reverse(route[0], kwargs={route[1]: event.target_id})
        except NoReverseMatch:
            return ""
    return f"{reverse('audit:list')}?target_type={event.target_type}&target_id={event.target_id}"


def trail_url(target_type: str, target_id: Any) -> str:
    """The Audit page filtered to one object's trail (an order's, a bot's)."""
    return f"{reverse('audit:list')}?target_type={target_type}&target_id={target_id}"
