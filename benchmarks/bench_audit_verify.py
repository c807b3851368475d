"""audit_verify: re-compute the hash chain of 1,000,000 audit events (target: under 60 s), and
export them as JSON Lines at constant memory.

The events are one month's chain, hashed as the verifier re-computes them and loaded with
COPY (not timed). Timed: `verify_month()`, what audit_verify runs for each month, reading through a server-side
cursor; then the export generator over all of them, with the process's peak memory before and
after. A 10M-iteration empty Python loop is printed beside the figures as this machine's speed.
"""

from __future__ import annotations

import os
import resource
import secrets
import time
from datetime import UTC, datetime, timedelta

from benchmarks._support import bench_user, progress

EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "1000000"))
TARGET_SECONDS = 60.0
LOOP = 10_000_000


def _python_loop_seconds() -> float:
    started = time.perf_counter()
    for _ in range(LOOP):
        pass
    return time.perf_counter() - started


def _load_chain(user_id: str, end: datetime) -> tuple[datetime, datetime]:
    """EVENTS chained events ending at `end`, one per 100 µs, in the month of `end`; returns the span."""
    import json

    from django.db import connection

    from apps.audit.domain.chain import GENESIS_HASH, ChainedFields, canonical_time, event_hash, json_safe, personal_digest
    from apps.audit.services import chain_month
    from apps.core.domain.ids import uuid7

    start = end - timedelta(microseconds=100 * EVENTS)
    month_start = datetime(end.year, end.month, 1, tzinfo=UTC)
    start = max(start, month_start + timedelta(seconds=1))
    step = (end - start) / EVENTS
    columns = (
        "id, created_at, actor_id, owner_id, actor_kind, actor_ref, actor_name, action, target_type, target_id, summary, changes,"
        " ip_address, user_agent, personal_salt, personal_digest, request_id, seq, prev_hash, hash"
    )
    prev_hash = GENESIS_HASH
    with connection.cursor() as cursor, cursor.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
        for seq in progress(range(1, EVENTS + 1), desc="chaining", unit="event", unit_scale=True):
            created_at = start + step * seq
            changes = json_safe({"price": ["64000.1", f"{64000 + seq % 1000}.5"], "quantity": [None, "0.0100"]})
            salt = secrets.token_hex(16)
            digest = personal_digest(salt, "203.0.113.9", "bench/1.0")
            event_id = str(uuid7())
            fields = ChainedFields(
                event_id, canonical_time(created_at), seq, user_id, user_id, "user", user_id, "bench@example.com", "order.filled",
                "orders.order", event_id, f"benchmark fill {seq}", changes, f"req-{seq:012d}", digest,
            )  # fmt: skip
            event_hash_value = event_hash(fields, prev_hash)
            copy.write_row(
                (
                    event_id,
                    created_at,
                    user_id,
                    user_id,
                    "user",
                    user_id,
                    "bench@example.com",
                    "order.filled",
                    "orders.order",
                    event_id,
                    f"benchmark fill {seq}",
                    json.dumps(changes),
                    "203.0.113.9",
                    "bench/1.0",
                    salt,
                    digest,
                    f"req-{seq:012d}",
                    seq,
                    prev_hash,
                    event_hash_value,
                )
            )
            prev_hash = event_hash_value
        month = chain_month(end)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditchainhead (month, seq, hash, updated_at) VALUES (%s, %s, %s, now())"
            " ON CONFLICT (month) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
            [month, EVENTS, prev_hash],
        )
        cursor.execute("ANALYZE audit_auditevent")
    return start, end


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export_all(user) -> tuple[float, int, float, float]:  # type: ignore[no-untyped-def]
    from apps.audit.export import export_lines
    from apps.audit.filters import AuditFilter

    before = _peak_rss_mb()
    started = time.perf_counter()
    written = 0
    for chunk in export_lines(actor=user, filters=AuditFilter(action="order.filled"), export_format="jsonl"):
        written += len(chunk)
    return time.perf_counter() - started, written, before, _peak_rss_mb()


def main() -> None:
    from django.db import connection, transaction

    from apps.audit.services import chain_month
    from apps.audit.verification import _event_rows, verify_month

    user = bench_user("audit")
    month = chain_month(datetime.now(UTC))
    try:
        started = time.perf_counter()
        with transaction.atomic():
            _load_chain(str(user.pk), datetime.now(UTC) - timedelta(seconds=1))
        print(f"   chained and loaded {EVENTS:,} events in {time.perf_counter() - started:.1f} s (not timed)")

        from apps.audit.models import AuditChainHead

        bar = progress(total=EVENTS, desc="verifying", unit="event", unit_scale=True)
        started = time.perf_counter()
        with transaction.atomic():
            result = verify_month(month, AuditChainHead.objects.get(month=month), bar.update)
        seconds = time.perf_counter() - started
        bar.close()
        assert result.ok and result.events == EVENTS, result

        started = time.perf_counter()
        with transaction.atomic():
            fetched = sum(1 for _ in _event_rows(datetime(month.year, month.month, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)))
        print(f"   reading the {fetched:,} rows alone (no hashing): {time.perf_counter() - started:.1f} s")

        export_seconds, written, rss_before, rss_after = _export_all(user)
        loop_seconds = _python_loop_seconds()
        verdict = "met" if seconds < TARGET_SECONDS else "MISSED"
        print(
            f"   export as JSON Lines: {EVENTS:,} events, {written / 1e6:,.0f} MB in {export_seconds:.1f} s; "
            f"peak memory {rss_before:,.0f} MB before, {rss_after:,.0f} MB after"
        )
        print(
            f"audit_verify: {EVENTS:,} events in {seconds:.1f} s = {EVENTS / seconds:,.0f} events/s (target < {TARGET_SECONDS:.0f} s, {verdict}); "
            f"10M-iteration Python loop: {loop_seconds:.2f} s"
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
            cursor.execute("DELETE FROM audit_auditevent WHERE owner_id = %s", [user.pk])
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")
            cursor.execute("DELETE FROM audit_auditchainhead WHERE month = %s", [month])
        user.delete()
