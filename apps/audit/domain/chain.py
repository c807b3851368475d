"""The hash chain of audit events, in pure Python (writers and the verifier share it).

An event's hash is SHA-256 over a canonical JSON of its fields and the previous event's
hash. The client address and user agent enter only through `personal_digest`, a salted
digest stored beside them, so erasing them later leaves every hash valid.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class ChainedFields:
    """What the hash covers, as plain values (ids as strings, the time in UTC)."""

    id: str
    created_at: str  # canonical_time() of the event's time
    seq: int
    actor_id: str | None
    owner_id: str | None
    actor_kind: str
    actor_ref: str
    actor_name: str
    action: str
    target_type: str
    target_id: str
    summary: str
    changes: Any
    request_id: str
    personal_digest: str


def canonical_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def json_safe(value: Any) -> Any:
    """Changes as JSON that reads back identically from the database: exact numbers and times
    as strings (a float would not survive jsonb unchanged in every case), tuples as lists."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (float, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, uuid.UUID)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    return str(value)


def canonical_json(fields: ChainedFields, prev_hash: str) -> str:
    document = {
        "id": fields.id,
        "created_at": fields.created_at,
        "seq": fields.seq,
        "actor_id": fields.actor_id,
        "owner_id": fields.owner_id,
        "actor_kind": fields.actor_kind,
        "actor_ref": fields.actor_ref,
        "actor_name": fields.actor_name,
        "action": fields.action,
        "target_type": fields.target_type,
        "target_id": fields.target_id,
        "summary": fields.summary,
        "changes": fields.changes,
        "request_id": fields.request_id,
        "personal_digest": fields.personal_digest,
        "prev_hash": prev_hash,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(fields: ChainedFields, prev_hash: str) -> str:
    return hashlib.sha256(canonical_json(fields, prev_hash).encode()).hexdigest()


def personal_digest(salt: str | None, ip_address: str | None, user_agent: str | None) -> str:
    """The salted digest of the personal fields; empty when there is nothing personal."""
    if salt is None or (ip_address is None and user_agent is None):
        return ""
    text = _SEPARATOR.join((salt, ip_address or "", user_agent or ""))
    return hashlib.sha256(text.encode()).hexdigest()
