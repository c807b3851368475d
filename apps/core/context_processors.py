from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core.navigation import MAIN_SECTIONS


def navigation(request: HttpRequest) -> dict[str, Any]:
    return {"main_sections": MAIN_SECTIONS}
