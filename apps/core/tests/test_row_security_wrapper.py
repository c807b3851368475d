"""The row-security wrapper stays on a connection opened inside another execute wrapper.

The request metrics time every query with `connection.execute_wrapper(...)`, which pops the
last wrapper when the request ends. A process's first connection is opened inside that block;
with persistent connections (gunicorn, Celery) every later request runs on it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from apps.core.rls import _apply_scope

pytestmark = pytest.mark.django_db(transaction=True)


def _passthrough(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    return execute(sql, params, many, context)


def _first_request_of_a_new_process() -> list[object]:
    """In a thread of its own: a connection wrapper that has never connected, as in a new worker."""
    try:
        with connection.execute_wrapper(_passthrough), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return list(connection.execute_wrappers)
    finally:
        connection.close()


def test_a_connection_opened_inside_a_timed_request_keeps_its_row_scope_after_it() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        wrappers = pool.submit(_first_request_of_a_new_process).result()

    assert wrappers == [_apply_scope]
