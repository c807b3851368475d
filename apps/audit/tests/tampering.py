"""Rewriting history as someone with the owner's rights could: the hash chain must show it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def append_only_trigger_disabled() -> Iterator[None]:
    """What someone with the owner's rights could do to rewrite history: the chain must show it."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")
