"""Reads shared by every app."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from apps.core.errors import NotFoundError

M = TypeVar("M", bound=models.Model)


def get_or_not_found(queryset: models.QuerySet[M], message: str, extra: dict[str, Any] | None = None, **lookups: Any) -> M:
    """The one row matching `lookups`, or NotFoundError(message) — also for a malformed id."""
    try:
        return queryset.get(**lookups)
    except (queryset.model.DoesNotExist, DjangoValidationError, ValueError, TypeError):  # type: ignore[attr-defined]
        raise NotFoundError(message, extra=extra) from None
