"""Re-computing the hash chains: every month's events in chain order, against the month's head.

A month fails at its first event whose position, previous hash, own hash or personal-data
digest is not what the chain says, or at its end when the chain stops short of the head
(events removed from the tail). A month whose partition is gone is fine only when it is past
retention (dropped whole by the partition task, its head kept).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.apps import audit_retention
from apps.audit.domain.chain import GENESIS_HASH, ChainedFields, event_hash, personal_digest
from apps.audit.models import AuditChainHead, AuditVerification
from apps.core.partitions import next_period, partition_name, partitions_of

TABLE = "audit_auditevent"
FETCH_ROWS = 20_000
_EVENTS_SQL = """
SELECT id::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), seq,
       actor_id::text, owner_id::text, actor_kind, actor_ref, actor_name, action, target_type, target_id,
       summary, changes::text, request_id, personal_digest, prev_hash, hash,
       personal_salt, host(ip_address), user_agent
FROM audit_auditevent WHERE created_at >= %s AND created_at < %s ORDER BY seq
"""


@dataclass(frozen=True)
class MonthResult:
    month: date
    ok: bool
    events: int
    broken_event_id: str = ""
    message: str = ""


Progress = Callable[[int], None]


def _month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _event_rows(start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
    """The month's events in chain order, fetched in batches through a server-side cursor."""
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor(name=f"audit_verify_{start:%Y%m}") as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(_EVENTS_SQL, [start, end])
        yield from cursor


def verify_month(month: date, head: AuditChainHead | None, progress: Progress | None = None) -> MonthResult:
    start = _month_start(month)
    end = next_period(start, "month")
    expected_seq, prev_hash, last_id, checked = 1, GENESIS_HASH, "", 0
    loads = json.loads
    for row in _event_rows(start, end):
        (event_id, created_at, seq, actor_id, owner_id, actor_kind, actor_ref, actor_name, action, target_type, target_id,
         summary, changes, request_id, digest, stored_prev, stored_hash, salt, ip_address, user_agent) = row  # fmt: skip
        if seq is None:  # sorted last: chained at commit, so never a committed event audit_record wrote
            return MonthResult(month, False, checked, event_id, "it is not in the chain (written without being chained)")
        if seq != expected_seq:
            reason = f"position {seq} where {expected_seq} was expected (events before it are missing)"
            return MonthResult(month, False, checked, event_id, reason)
        if stored_prev != prev_hash:
            return MonthResult(month, False, checked, event_id, "its previous hash does not match the event before it")
        fields = ChainedFields(event_id, created_at, seq, actor_id, owner_id, actor_kind, actor_ref, actor_name, action,
                               target_type, target_id, summary, loads(changes), request_id, digest)  # fmt: skip
        if event_hash(fields, prev_hash) != stored_hash:
            return MonthResult(month, False, checked, event_id, "its content does not match its hash (edited)")
        if salt is not None and personal_digest(salt, ip_address, user_agent) != digest:
            return MonthResult(month, False, checked, event_id, "its client address or user agent was changed")
        prev_hash, last_id = stored_hash, event_id
        expected_seq += 1
        checked += 1
        if progress is not None and checked % FETCH_ROWS == 0:
            progress(FETCH_ROWS)
    if progress is not None:
        progress(checked % FETCH_ROWS)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    if checked != head_seq or (checked and prev_hash != head_hash):
        reason = f"the chain ends at position {checked} but its head records {head_seq} (events removed from the end)"
        return MonthResult(month, False, checked, last_id, reason)
    return MonthResult(month, True, checked)


def _months_to_check(only: date | None) -> tuple[list[date], dict[date, AuditChainHead], set[date]]:
    heads = {head.month: head for head in AuditChainHead.objects.all()}
    with_partition = {partition.start.date() for partition in partitions_of(TABLE)}
    months = sorted(set(heads) | {month for month in with_partition if month <= timezone.now().date()})
    if only is not None:
        months = [month for month in months if month == only] or [only]
    return months, heads, with_partition


def audit_events_expected(only: date | None = None) -> int:
    """How many events the chains hold by their heads (for a progress bar's total)."""
    heads = AuditChainHead.objects.all() if only is None else AuditChainHead.objects.filter(month=only)
    return sum(head.seq for head in heads)


def audit_chain_verify(*, month: date | None = None, progress: Progress | None = None) -> list[MonthResult]:
    """Verify every month (or one); stops at the first broken month.

    Heads and events are read in one snapshot (REPEATABLE READ when this opens the transaction):
    events written meanwhile are neither half seen nor mistaken for a chain longer than its head."""
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _verify_months(month, progress)


def _verify_months(month: date | None, progress: Progress | None) -> list[MonthResult]:
    months, heads, with_partition = _months_to_check(month)
    cutoff = timezone.now() - audit_retention()
    results = []
    for each in months:
        if each not in with_partition:
            if next_period(_month_start(each), "month") <= cutoff:
                continue  # dropped whole past retention; its head is kept
            name = partition_name(TABLE, _month_start(each), "month")
            if each in heads:
                results.append(MonthResult(each, False, 0, "", f"the partition {name} holding {each:%Y-%m} is missing"))
                break
            continue
        result = verify_month(each, heads.get(each), progress)
        results.append(result)
        if not result.ok:
            break
    return results


def audit_verification_latest() -> AuditVerification | None:
    return AuditVerification.objects.order_by("-started_at").first()
