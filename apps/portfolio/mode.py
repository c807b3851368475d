"""The paper/live switch in the header: a per-session choice; pages show only that mode's accounts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.portfolio.enums import AccountMode

SESSION_KEY = "trading_mode"


def current_mode(request: HttpRequest) -> str:
    mode = request.session.get(SESSION_KEY, AccountMode.PAPER) if hasattr(request, "session") else AccountMode.PAPER
    return mode if mode in AccountMode.values else AccountMode.PAPER


def trading_mode(request: HttpRequest) -> dict[str, Any]:
    """Context processor."""
    return {"trading_mode": current_mode(request)}
