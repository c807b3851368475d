"""Bot performance snapshots are range-partitioned by time, like candles and fills."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from apps.bots.models import BotPerformanceSnapshot
from apps.bots.tests.factories import BotFactory
from apps.core.partitions import ensure_partitions_cover

pytestmark = pytest.mark.django_db


def test_snapshots_are_partitioned_by_time_and_land_in_their_partition(sim) -> None:  # type: ignore[no-untyped-def]
    taken_at = datetime(2026, 5, 2, 9, 30, tzinfo=UTC)
    ensure_partitions_cover("bots_botperformancesnapshot", taken_at, taken_at)
    snapshot = BotPerformanceSnapshot.objects.create(bot=BotFactory(), taken_at=taken_at, equity=Decimal(1000), position=Decimal(0), realized_pnl=Decimal(0))

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef('bots_botperformancesnapshot'::regclass)")
        (key,) = cursor.fetchone()
        cursor.execute("SELECT tableoid::regclass::text FROM bots_botperformancesnapshot WHERE bot_id = %s AND taken_at = %s", [snapshot.bot_id, taken_at])
        (partition,) = cursor.fetchone()
    assert key == "RANGE (taken_at)"
    assert partition.startswith("bots_botperformancesnapshot_p202605")
