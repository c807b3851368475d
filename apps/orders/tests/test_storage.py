"""How orders and fills are stored: fills partitioned by execution time, open orders behind partial indexes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from apps.core.partitions import ensure_partitions_cover
from apps.orders.tests.factories import FillFactory, OrderFactory

pytestmark = pytest.mark.django_db


def _one(sql: str, params: list[object] | None = None) -> tuple[object, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        row = cursor.fetchone()
    assert row is not None, sql
    return tuple(row)


def test_fills_are_range_partitioned_by_execution_time_and_land_in_their_months_partition() -> None:
    (key,) = _one("SELECT pg_get_partkeydef('orders_fill'::regclass)")
    assert key == "RANGE (executed_at)"

    executed_at = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    ensure_partitions_cover("orders_fill", executed_at, executed_at)
    fill = FillFactory(executed_at=executed_at)

    (partition,) = _one("SELECT tableoid::regclass::text FROM orders_fill WHERE id = %s", [fill.id])
    assert str(partition).startswith("orders_fill_p202603")


def _index_definition(name: str) -> str:
    (definition,) = _one("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
    return str(definition)


def test_the_open_orders_and_open_positions_are_behind_partial_indexes() -> None:
    by_account = _index_definition("orders_order_open_idx")
    by_symbol = _index_definition("orders_order_open_symbol_idx")
    positions = _index_definition("portfolio_position_open_idx")

    for definition in (by_account, by_symbol):
        assert "WHERE" in definition and "'OPEN'" in definition and "'PARTIALLY_FILLED'" in definition and "'NEW'" in definition
        assert "'FILLED'" not in definition.replace("'PARTIALLY_FILLED'", "")
    assert "(account_id, symbol_id)" in by_account and "(symbol_id)" in by_symbol
    assert "WHERE" in positions and "quantity" in positions


def test_the_planner_reads_a_symbols_open_orders_through_the_partial_index() -> None:
    order = OrderFactory()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would otherwise be scanned whole
        cursor.execute("EXPLAIN SELECT id FROM orders_order WHERE symbol_id = %s AND status IN ('NEW', 'OPEN', 'PARTIALLY_FILLED')", [order.symbol_id])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "orders_order_open_symbol_idx" in plan
