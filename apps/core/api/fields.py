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

# One character Python's str.strip() keeps (it also strips \x1c-\x1f and \x85, which JSON
# Schema's \s does not name), for patterns of text the server strips.
NOT_STRIPPED = r"[^\s\u001c-\u001f\u0085]"


def _ascii_or_fail(field: serializers.Field, data: Any) -> None:
    if isinstance(data, str) and not data.isascii():
        field.fail("invalid")


def decimal_pattern(*, whole_digits: int, decimal_places: int, signed: bool, positive: bool) -> str:
    """The JSON Schema pattern of the strings an ExactDecimalField accepts (plain notation)."""
    if positive:  # a non-zero digit before the point, or a fraction ending in one
        number = rf"(?:[1-9]\d{{0,{whole_digits - 1}}}(?:\.\d{{1,{decimal_places}}})?|0?\.\d{{0,{decimal_places - 1}}}[1-9])"
    else:
        number = rf"(?:\d{{1,{whole_digits}}}(?:\.\d{{1,{decimal_places}}})?|\.\d{{1,{decimal_places}}})"
    return f"^{'-?' if signed else ''}{number}$"


class ExactDecimalField(serializers.DecimalField):
    """An exact amount in ASCII digits, kept as written: "0.001" stays 0.001 (DRF would pad it to 18 places, and messages would show the padding).

    `positive` refuses zero and below; otherwise `min_value` bounds it as in DRF. The schema's
    pattern follows from the digits and the sign; `pattern` states it when a range is narrower."""

    default_error_messages = {"not_positive": "Must be greater than 0."}

    def __init__(
        self,
        *,
        max_digits: int = AMOUNT_MAX_DIGITS,
        decimal_places: int = AMOUNT_DECIMAL_PLACES,
        positive: bool = False,
        pattern: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.positive, self.pattern = positive, pattern
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        _ascii_or_fail(self, data)
        value = super().to_internal_value(data)
        if self.positive and value <= 0:
            self.fail("not_positive")
        return value

    def quantize(self, value: Decimal) -> Decimal:
        return value  # validate_precision has already refused more than max_digits / decimal_places

    def schema_pattern(self) -> str:
        if self.pattern is not None:
            return self.pattern
        signed = not self.positive and (self.min_value is None or self.min_value < 0)
        return decimal_pattern(whole_digits=self.max_whole_digits or 1, decimal_places=self.decimal_places or 0, signed=signed, positive=self.positive)


def decimal_input(**kwargs: Any) -> ExactDecimalField:
    """An optional exact amount below 10^15; send it as a string ("0.001") to keep it exact."""
    kwargs.setdefault("allow_null", True)
    return ExactDecimalField(required=False, **kwargs)


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
