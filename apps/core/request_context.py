"""Per-request values that services read without taking the request as an argument."""

from __future__ import annotations

from contextvars import ContextVar

current_ip_address: ContextVar[str | None] = ContextVar("current_ip_address", default=None)
