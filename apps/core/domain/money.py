"""Decimal rounding to a venue's increments. Money never passes through float here."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation

# The largest amount, price or quantity a person or a bot may ask for (below 10^15): larger
# numbers are typing mistakes, and their products overflow the NUMERIC(38, 18) columns.
AMOUNT_WHOLE_DIGITS = 15
AMOUNT_LIMIT = Decimal(10) ** AMOUNT_WHOLE_DIGITS

ROUNDING_MODES = {"down": ROUND_DOWN, "up": ROUND_UP, "nearest": ROUND_HALF_EVEN}


def to_decimal(value: object) -> Decimal:
    """Exact conversion: strings and ints as written; floats through their shortest repr."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def round_to_step(value: Decimal, step: Decimal, mode: str = "nearest") -> Decimal:
    """Round `value` to a multiple of `step` (a tick or lot size), keeping the step's exponent."""
    if step <= 0:
        raise ValueError("step must be positive")
    units = (value / step).quantize(Decimal(1), rounding=ROUNDING_MODES[mode])
    return (units * step).quantize(step)


def is_multiple_of(value: Decimal, step: Decimal) -> bool:
    return value % step == 0
