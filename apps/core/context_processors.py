from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core.navigation import MAIN_SECTIONS


def navigation(request: HttpRequest) -> dict[str, Any]:
    return {"main_sections": MAIN_SECTIONS}


def degraded(request: HttpRequest) -> dict[str, Any]:
    """The parts of the platform that are down or behind, for the banner of signed-in pages."""
    from apps.core.health import degraded_parts

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"degraded_parts": []}
    return {"degraded_parts": degraded_parts()}
