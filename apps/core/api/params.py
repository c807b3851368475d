"""Query parameters parsed with errors that name the parameter and the value."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter

from apps.core.api.fields import NOT_STRIPPED
from apps.core.errors import ValidationError

# A query parameter's text as the server reads it: stripped, and empty means absent.
_TEXT_SCHEMA = {"type": "string", "minLength": 1, "pattern": f"^{NOT_STRIPPED}(.*{NOT_STRIPPED})?$"}


def text_parameter(name: str, *, required: bool = False, max_length: int = 64, description: str = "", **kwargs: Any) -> OpenApiParameter:
    """A text query parameter for the schema: no blank value, no surrounding whitespace."""
    return OpenApiParameter(name, {**_TEXT_SCHEMA, "maxLength": max_length}, required=required, description=description, **kwargs)


def int_parameter(name: str, *, minimum: int, maximum: int, description: str = "") -> OpenApiParameter:
    """A whole-number query parameter with the range `int_param` enforces."""
    return OpenApiParameter(name, {"type": "integer", "minimum": minimum, "maximum": maximum}, description=description)


def required_param(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise ValidationError.for_field(name, f"The {name!r} parameter is required.")
    return str(value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Epoch numbers above this are milliseconds (10_000_000_000 seconds is the year 2286).
_EPOCH_SECONDS_MAX = 10_000_000_000


def datetime_param(params: Mapping[str, Any], name: str) -> datetime | None:
    """ISO 8601 (naive means UTC) or epoch seconds/milliseconds (ASCII digits), up to the year 9999."""
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        if raw.isascii() and raw.isdigit():
            number = int(raw)
            return _EPOCH + (timedelta(seconds=number) if number <= _EPOCH_SECONDS_MAX else timedelta(milliseconds=number))
        if not raw.isascii():
            raise ValueError(raw)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationError.for_field(name, f"{name} {raw!r} is not a date/time (use ISO 8601 or epoch milliseconds, up to the year 9999).") from None


def int_param(params: Mapping[str, Any], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        if not raw.isascii():
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise ValidationError.for_field(name, f"{name} must be a whole number, got {raw!r}.") from None
    if not minimum <= value <= maximum:
        raise ValidationError.for_field(name, f"{name} must be between {minimum} and {maximum}, got {value}.")
    return value


SYMBOL_PARAM = OpenApiParameter("symbol", str, description="BTC/USDT, BTC/USDT:USDT or a slug (BTC-USDT-PERP); exact match.")


def symbol_filter(queryset: QuerySet[Any], params: Mapping[str, Any]) -> QuerySet[Any]:
    symbol = params.get("symbol", "").strip()
    if not symbol:
        return queryset
    return queryset.filter(Q(symbol__symbol__iexact=symbol) | Q(symbol__slug__iexact=symbol))
