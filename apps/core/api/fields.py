"""Input and output fields every app's API uses: exact amounts, ASCII numbers and identifiers.

Venues accept only ASCII letters and digits in ids, and Python reads "١٢" as 12: a number or
an id written in other scripts is refused here rather than stored and refused later.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.core.domain.money import AMOUNT_WHOLE_DIGITS

# Amounts, prices and quantities sent to the API have at most AMOUNT_WHOLE_DIGITS digits
# before the point: the limit appears in the schema as the string's pattern.
AMOUNT_DECIMAL_PLACES = 18
AMOUNT_MAX_DIGITS = AMOUNT_WHOLE_DIGITS + AMOUNT_DECIMAL_PLACES


def _ascii_or_fail(field: serializers.Field, data: Any) -> None:
    if isinstance(data, str) and not data.isascii():
        field.fail("invalid")


class ExactDecimalField(serializers.DecimalField):
    """An exact amount in ASCII digits, kept as written: "0.001" stays 0.001 (DRF would pad it to 18 places, and messages would show the padding)."""

    def __init__(self, *, max_digits: int = AMOUNT_MAX_DIGITS, decimal_places: int = AMOUNT_DECIMAL_PLACES, **kwargs: Any) -> None:
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        _ascii_or_fail(self, data)
        return super().to_internal_value(data)

    def quantize(self, value: Decimal) -> Decimal:
        return value  # validate_precision has already refused more than max_digits / decimal_places


def decimal_input(**kwargs: Any) -> ExactDecimalField:
    """An optional exact amount below 10^15; send it as a string ("0.001") to keep it exact."""
    return ExactDecimalField(required=False, allow_null=True, **kwargs)


def decimal_output(**kwargs: Any) -> serializers.DecimalField:
    """An exact amount as a plain string without trailing zeros ("0.5", "60000")."""
    return serializers.DecimalField(max_digits=38, decimal_places=18, normalize_output=True, read_only=True, **kwargs)


class AsciiIntegerField(serializers.IntegerField):
    """A whole number in ASCII digits (DRF's field reads "١" as 1)."""

    def to_internal_value(self, data: Any) -> int:
        _ascii_or_fail(self, data)
        return int(super().to_internal_value(data))


class UpperChoiceField(serializers.ChoiceField):
    """A choice given in any case: "buy" and "BUY" are the same side."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


def identifier_field(*, max_length: int, **kwargs: Any) -> serializers.RegexField:
    """ASCII letters, digits, '-' and '_' (what every venue accepts in an id)."""
    return serializers.RegexField(
        rf"^[A-Za-z0-9_-]{{1,{max_length}}}$",
        max_length=max_length,
        error_messages={"invalid": f"Use 1-{max_length} ASCII letters, digits, '-' or '_'."},
        **kwargs,
    )
