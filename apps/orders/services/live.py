"""Live execution through the venue's gateway (implemented with reconciliation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def live_order_send(*, order_id: str, retry: Callable[..., Any]) -> str:
    raise NotImplementedError("live execution arrives with reconciliation")


def live_order_cancel(*, order_id: str, retry: Callable[..., Any]) -> str:
    raise NotImplementedError("live execution arrives with reconciliation")


def live_accounts_reconcile() -> dict[str, int]:
    return {}
