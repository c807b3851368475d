"""Exporting the filtered trail as CSV or JSON Lines, streamed in chain order at constant memory.

Rows are read in batches by (created_at, id) after the last row sent, each batch in its own
transaction acting for the exporting user, so a million rows never sit in memory and the
stream does not depend on the request's thread. The last line is a manifest: the filter, the
count, and the first and last hash, to check the export against the chain (each row carries
its month's position, previous hash and hash).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.filters import AuditFilter
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_list
from apps.core.rls import acting_for

BATCH_ROWS = 2_000
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
COLUMNS = (
    "id",
    "created_at",
    "action",
    "summary",
    "actor_kind",
    "actor_id",
    "actor_ref",
    "actor_name",
    "owner_id",
    "target_type",
    "target_id",
    "changes",
    "ip_address",
    "user_agent",
    "correlation_id",
    "seq",
    "prev_hash",
    "hash",
)
_FIELDS = ("id", "created_at", "action", "summary", "actor_kind", "actor_id", "actor_ref", "actor_name", "owner_id", "target_type", "target_id",
           "changes", "ip_address", "user_agent", "request_id", "seq", "prev_hash", "hash")  # fmt: skip


def event_record(event: AuditEvent) -> dict[str, Any]:
    """One event at full precision, as the API and the export give it."""
    return {
        "id": str(event.id),
        "created_at": event.created_at.isoformat(),
        "action": event.action,
        "summary": event.summary,
        "actor_kind": event.actor_kind,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_ref": event.actor_ref,
        "actor_name": event.actor_name,
        "owner_id": str(event.owner_id) if event.owner_id else None,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "changes": event.changes,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "correlation_id": event.request_id,
        "seq": event.seq,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _batches(actor: Any, filters: AuditFilter) -> Iterator[list[AuditEvent]]:
    after: tuple[datetime, Any] | None = None
    while True:
        with transaction.atomic(), acting_for(actor, staff=filters.everyone):
            events = audit_event_list(actor=actor, filters=filters).select_related(None).order_by("created_at", "id").only(*_FIELDS)
            if after is not None:
                events = events.filter(created_at__gte=after[0]).exclude(created_at=after[0], id__lte=after[1])
            batch = list(events[:BATCH_ROWS])
        if not batch:
            return
        yield batch
        after = (batch[-1].created_at, batch[-1].id)


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def export_lines(*, actor: Any, filters: AuditFilter, export_format: str) -> Iterator[str]:
    """The export, line by line; the manifest comes last (after a `#` in CSV)."""
    count, first_hash, last_hash = 0, "", ""
    if export_format == "csv":
        yield _csv_line(list(COLUMNS))
    for batch in _batches(actor, filters):
        chunk = []
        for event in batch:
            record = event_record(event)
            if export_format == "csv":
                chunk.append(_csv_line([json.dumps(value) if name == "changes" else ("" if value is None else value) for name, value in record.items()]))
            else:
                chunk.append(json.dumps(record, ensure_ascii=False) + "\n")
            # Every committed event is chained; only the exporter's own uncommitted ones are not.
            first_hash = first_hash or event.hash or ""
            last_hash = event.hash or last_hash
        count += len(batch)
        yield "".join(chunk)
    manifest = {
        "manifest": {
            "filter": filters.as_params(),
            "format": export_format,
            "count": count,
            "first_hash": first_hash,
            "last_hash": last_hash,
            "exported_at": timezone.now().isoformat(),
            "exported_by": str(actor.pk),
            "order": "created_at, id (oldest first)",
        }
    }
    yield ("# " if export_format == "csv" else "") + json.dumps(manifest, ensure_ascii=False) + "\n"


def export_filename(export_format: str) -> str:
    return f"audit-{timezone.now():%Y%m%d-%H%M%S}.{export_format}"
