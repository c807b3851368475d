"""Writing audit events. Called by every other service inside its transaction.

An event is inserted with its chain fields empty, beside its canonical form; the chain
trigger (migration 0004) chains it when the writer's transaction commits: it locks the month's
`AuditChainHead` row, hashes the canonical form around the head's hash and next position and
advances the head. The head is therefore the last lock a writer takes and is held only for its
commit; concurrent writers still form one chain, and an event that rolls back takes nothing.
"""

from __future__ import annotations

import secrets
from datetime import date
from functools import cache
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from apps.audit import context
from apps.audit.domain.chain import ChainedFields, canonical_parts, canonical_time, json_safe, personal_digest
from apps.audit.models import AuditEvent, AuditVerification
from apps.audit.verification import Progress, audit_chain_verify
from apps.core.partitions import period_start
from apps.core.rls import acting_for

# One statement: the event, and its canonical form around the two values only the chain's head
# knows (seq and prev_hash) for the chain trigger to hash at commit.
_INSERT_SQL = """
WITH pending AS (
    INSERT INTO audit_auditchainpending (event_id, created_at, before, middle, after) VALUES (%s, %s, %s, %s, %s)
)
INSERT INTO audit_auditevent ({columns}) VALUES ({values})
"""
_CHAIN_COLUMNS = {"seq", "prev_hash", "hash"}
_ERASE_SQL = (
    "UPDATE audit_auditevent SET ip_address = NULL, user_agent = NULL, personal_salt = NULL"
    " WHERE (actor_id = %s OR owner_id = %s) AND (ip_address IS NOT NULL OR user_agent IS NOT NULL OR personal_salt IS NOT NULL)"
)


def chain_month(moment: Any) -> date:
    """The month (its first day, UTC) whose chain an event written at `moment` joins."""
    return period_start(moment, "month").date()


@cache
def _stored_fields() -> tuple[Any, ...]:
    return tuple(field for field in AuditEvent._meta.concrete_fields if field.column and field.column not in _CHAIN_COLUMNS)


def _cast(field: Any) -> str:
    # Text, not varchar(n): a cast to varchar(n) would cut a value silently, an assignment refuses it.
    return "text" if isinstance(field, models.CharField) else str(field.db_type(connection))


@cache
def _insert_sql() -> str:
    columns = ", ".join(f'"{field.column}"' for field in _stored_fields())
    values = ", ".join(f"%s::{_cast(field)}" for field in _stored_fields())
    return _INSERT_SQL.format(columns=columns, values=values)


def _insert_for_chaining(cursor: Any, event: AuditEvent) -> None:
    before, middle, after = canonical_parts(chained_fields(event))
    values = [field.get_db_prep_save(field.pre_save(event, True), connection) for field in _stored_fields()]
    cursor.execute(_insert_sql(), [event.id, event.created_at, before, middle, after, *values])


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
    detail = context.actor_detail(actor)
    ip_address = context.client_address()
    user_agent = context.user_agent()
    salt = secrets.token_hex(16) if ip_address or user_agent else None
    event = AuditEvent(
        created_at=timezone.now(),
        actor_id=actor_id,
        owner_id=owner_id,
        actor_kind=detail.kind,
        actor_ref=detail.ref,
        actor_name=detail.name,
        action=action,
        summary=summary[:255],
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        changes=json_safe(changes or {}),
        ip_address=ip_address,
        user_agent=user_agent,
        personal_salt=salt,
        personal_digest=personal_digest(salt, ip_address, user_agent),
        request_id=context.correlation_id(),
    )
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        _insert_for_chaining(cursor, event)
    event._state.adding = False
    event._state.db = connection.alias
    return event


def chained_fields(event: AuditEvent) -> ChainedFields:
    return ChainedFields(
        id=str(event.id),
        created_at=canonical_time(event.created_at),
        seq=event.seq or 0,  # hashed by the chain trigger at commit, over the position the head gives it
        actor_id=str(event.actor_id) if event.actor_id else None,
        owner_id=str(event.owner_id) if event.owner_id else None,
        actor_kind=event.actor_kind,
        actor_ref=event.actor_ref,
        actor_name=event.actor_name,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        summary=event.summary,
        changes=event.changes,
        request_id=event.request_id,
        personal_digest=event.personal_digest,
    )


def diff_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{"field": [old, new]} for the fields whose value changed."""
    return {name: [before.get(name), after.get(name)] for name in after if before.get(name) != after.get(name)}


def audit_personal_data_erase(*, actor: Any | None, user_id: Any) -> int:
    """Erase the client addresses and user agents of a (deleted) user's events; the chain stays valid
    because each hash covers only the salted digest kept beside them. Returns how many events."""
    scope = acting_for(actor, staff=True) if actor is not None else acting_for("")
    with transaction.atomic(), scope, connection.cursor() as cursor:
        cursor.execute(_ERASE_SQL, [user_id, user_id])
        erased = int(cursor.rowcount)
        audit_record(
            actor=actor,
            action="audit.personal_data_erased",
            summary=f"Client addresses and user agents erased from {erased} event(s) of user {user_id}",
            changes={"user_id": str(user_id), "events": erased},
        )
    return erased


def audit_verification_run(*, month: date | None = None, progress: Progress | None = None) -> AuditVerification:
    """Verify and keep the result (the last one shows on /health/ and on staff's Audit page)."""
    started = timezone.now()
    results = audit_chain_verify(month=month, progress=progress)
    broken = next((result for result in results if not result.ok), None)
    checked = sum(result.events for result in results)
    if broken is None:
        message = f"{checked} event(s) in {len(results)} month(s) verified"
    else:
        where = f" at event {broken.broken_event_id}" if broken.broken_event_id else ""
        message = f"{broken.month:%Y-%m}: chain broken{where}: {broken.message}"
    verification = AuditVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        month=f"{month:%Y-%m}" if month else "",
        ok=broken is None,
        events_checked=checked,
        months_checked=len(results),
        broken_event_id=broken.broken_event_id if broken else "",
        message=message[:500],
    )
    audit_record(
        actor=None,
        action="audit.verified" if verification.ok else "audit.verification_failed",
        summary=message[:255],
        target=verification,
        changes={"events_checked": checked, "broken_event_id": verification.broken_event_id},
    )
    return verification
