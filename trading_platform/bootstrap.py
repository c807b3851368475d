"""Shared start-up for manage.py, ASGI and Celery: settings errors are one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_SETTINGS_MODULE = "trading_platform.settings.local"


def set_default_settings() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS_MODULE)


def exit_on_configuration_error(start: Callable[[], T]) -> T:
    """Run `start`; a missing or malformed setting ends the process with one line."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        return start()
    except ImproperlyConfigured as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
