"""Range partitions by time for tables that grow without bound.

Each partitioned table registers a policy; a daily task creates partitions ahead and
drops those past retention. There is no DEFAULT partition: a row outside every
partition is an error we want to see, not data silently parked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class PartitionPolicy:
    table: str
    interval: str  # "day", "month" or "year"
    ahead: int  # partitions to keep ready after the current one
    retention: timedelta | None  # drop partitions that end before now - retention


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


_POLICIES: dict[str, PartitionPolicy] = {}


def register_policy(policy: PartitionPolicy) -> None:
    if not _IDENTIFIER.match(policy.table):
        raise ValueError(f"not a table name: {policy.table!r}")
    if policy.interval not in {"day", "month", "year"}:
        raise ValueError(f"interval must be day, month or year, got {policy.interval!r}")
    _POLICIES[policy.table] = policy


def registered_policies() -> list[PartitionPolicy]:
    return list(_POLICIES.values())


def period_start(moment: datetime, interval: str) -> datetime:
    moment = moment.astimezone(UTC)
    if interval == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_period(start: datetime, interval: str) -> datetime:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "year":
        return start.replace(year=start.year + 1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def partition_name(table: str, start: datetime, interval: str) -> str:
    suffix = {"day": "%Y%m%d", "month": "%Y%m", "year": "%Y"}[interval]
    suffix = start.strftime(suffix)
    return f"{table}_p{suffix}"


def partitions_of(table: str) -> list[Partition]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s
            ORDER BY child.relname
            """,
            [table],
        )
        rows = cursor.fetchall()
    bound = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
    partitions = []
    for name, expression in rows:
        match = bound.search(expression or "")
        if match:
            partitions.append(Partition(name, _parse_bound(match.group(1)), _parse_bound(match.group(2))))
    return partitions


def _parse_bound(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace(" ", "T"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def ensure_partitions(policy: PartitionPolicy, now: datetime | None = None, behind: int = 0) -> list[str]:
    """Create the current partition, `policy.ahead` after it and `behind` before it."""
    now = now or datetime.now(UTC)
    start = period_start(now, policy.interval)
    for _ in range(behind):
        start = period_start(start - timedelta(days=1), policy.interval)
    existing = {p.name for p in partitions_of(policy.table)}
    created = []
    for _ in range(behind + 1 + policy.ahead):
        end = next_period(start, policy.interval)
        name = partition_name(policy.table, start, policy.interval)
        if name not in existing:
            _create_partition(policy.table, name, start, end)
            created.append(name)
        start = end
    return created


def _connected_role_owns(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    return bool(row and row[0])


def _create_partition(table: str, name: str, start: datetime, end: datetime) -> None:
    """As the tables' owner (migrations) directly; as any other role through the owner's
    `tp_partition_create`, the only DDL the application and system roles may run."""
    with transaction.atomic(), connection.cursor() as cursor:
        if _connected_role_owns(table):
            cursor.execute(f"CREATE TABLE IF NOT EXISTS \"{name}\" PARTITION OF \"{table}\" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")
        else:
            cursor.execute("SELECT tp_partition_create(%s, %s, %s, %s)", [table, name, start, end])


def _drop_partition(table: str, name: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if _connected_role_owns(table):
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
        else:
            cursor.execute("SELECT tp_partition_drop(%s)", [name])


def policy_for(table: str) -> PartitionPolicy:
    return _POLICIES[table]


def ensure_partitions_cover(table: str, first: datetime, last: datetime) -> list[str]:
    """Create every partition needed to hold rows from `first` to `last` (for backfills)."""
    policy = _POLICIES[table]
    created: list[str] = []
    start = period_start(first, policy.interval)
    existing = {p.name for p in partitions_of(table)}
    while start <= last:
        end = next_period(start, policy.interval)
        name = partition_name(table, start, policy.interval)
        if name not in existing:
            _create_partition(table, name, start, end)
            created.append(name)
            existing.add(name)
        start = end
    return created


def drop_expired_partitions(policy: PartitionPolicy, now: datetime | None = None) -> list[str]:
    if policy.retention is None:
        return []
    cutoff = (now or datetime.now(UTC)) - policy.retention
    dropped = []
    for partition in partitions_of(policy.table):
        if partition.end <= cutoff:
            _drop_partition(policy.table, partition.name)
            dropped.append(partition.name)
    return dropped


def maintain_all_partitions(now: datetime | None = None) -> dict[str, dict[str, list[str]]]:
    report = {}
    for policy in registered_policies():
        report[policy.table] = {
            "created": ensure_partitions(policy, now=now),
            "dropped": drop_expired_partitions(policy, now=now),
        }
    return report
