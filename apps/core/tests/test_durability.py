"""A commit that confirms an order, a fill, a balance or a bot decision is on disk before anyone hears of it."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.embedded import paths

pytestmark = [pytest.mark.django_db]


def test_the_database_waits_for_the_write_ahead_log_to_reach_disk_before_a_commit_returns() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        (setting,) = cursor.fetchone()
        cursor.execute("SHOW fsync")
        (fsync,) = cursor.fetchone()

    assert setting == "on"
    assert fsync == "on"


def test_no_platform_role_turns_synchronous_commit_off_for_its_sessions() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname, rolconfig FROM pg_roles WHERE rolname = ANY(%s)", [list(paths.ROLE_NAMES.values())])
        configs = dict(cursor.fetchall())

    assert not any("synchronous_commit=off" in (config or []) for config in configs.values()), configs
