"""Numbers as people read them, in one place: template filters, pushes, commands and messages.

CSV exports and the API keep full precision; these are for screens and sentences.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

MISSING = "–"
# Past this, digits would fill the screen: an annualised figure from a few hours of data can be 1e30 %.
HUGE = 1e9


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def plain_number(value: object) -> str:
    """An exact amount as people write it: 50000.000000000000000000 -> 50000, 0.0100 -> 0.01, -0 -> 0,
    never E notation; None -> ""; text that is not a number comes back as it is."""
    if value is None or value == "":
        return ""
    number = _decimal(value)
    if number is None:
        return str(value)
    if not number.is_finite():
        return str(number)
    # Not normalize(): it rounds to the context's 28 digits, and a NUMERIC(38, 18) column holds more.
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def money(value: object, places: int = 2) -> str:
    """A sum of money grouped by thousands at a fixed number of places: 1234.5 -> 1,234.50."""
    number = _decimal(value)
    if number is None or not number.is_finite():
        return MISSING
    rounded = number.quantize(Decimal(1).scaleb(-places))
    return f"{abs(rounded) if rounded == 0 else rounded:,}"  # never "-0.00"


def percent(fraction: object, places: int = 2) -> str:
    """A fraction as a percentage: 0.1234 -> 12.34 %; very large ones in scientific notation; a dash when missing."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float | Decimal):
        return MISSING
    value = float(fraction) * 100
    if not math.isfinite(value):
        return MISSING
    return f"{value:.3g} %" if abs(value) >= HUGE else f"{value:,.{places}f} %"


def rate_percent(rate: Decimal) -> str:
    """A fee or interest rate exactly, as a percentage: 0.0005 -> 0.05 %."""
    return f"{plain_number(rate * 100)} %"


def decimal_number(value: object, places: int = 2) -> str:
    """A ratio or statistic: 1.23456 -> 1.23, 12345.6 -> 12,345.60; very large in scientific notation; a dash when missing."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return MISSING
    number = float(value)
    if not math.isfinite(number):
        return MISSING
    return f"{number:.3g}" if abs(number) >= HUGE else f"{number:,.{places}f}"


def whole_number(value: object) -> str:
    """A count grouped by thousands: 12345 -> 12,345."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return MISSING
    return f"{int(value):,}"
