"""Reads shared by every app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from apps.core.errors import NotFoundError
from apps.core.rows import rows_select

M = TypeVar("M", bound=models.Model)


def get_or_not_found(queryset: models.QuerySet[M], message: str, extra: dict[str, Any] | None = None, **lookups: Any) -> M:
    """The one row matching `lookups`, or NotFoundError(message) — also for a malformed id."""
    try:
        return queryset.get(**lookups)
    except (queryset.model.DoesNotExist, DjangoValidationError, ValueError, TypeError):  # type: ignore[attr-defined]
        raise NotFoundError(message, extra=extra) from None


def row_or_not_found(model: type[M], message: str, *, where: Mapping[str, Any], extra: dict[str, Any] | None = None) -> M:
    """The one row equal on every `where` field, read without the ORM's compile step (see
    apps.core.rows), or NotFoundError(message) — also for a malformed id."""
    try:
        found = rows_select(model, where=where)
    except (DjangoValidationError, ValueError, TypeError):
        found = []
    if len(found) != 1:
        raise NotFoundError(message, extra=extra)
    return found[0]
