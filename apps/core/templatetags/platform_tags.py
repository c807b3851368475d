from __future__ import annotations

from django import forms, template
from django.utils.safestring import SafeString

from apps.core.domain import formatting

register = template.Library()


@register.filter
def widget(field: forms.BoundField) -> SafeString:
    """Render a field's widget, marked invalid for assistive tech and CSS when it has errors."""
    attrs: dict[str, str | bool] = {"aria-invalid": "true", "aria-describedby": f"{field.auto_id}_errors"} if field.errors else {}
    return field.as_widget(attrs=attrs)


@register.filter
def make_list_of_words(value: str) -> list[str]:
    return value.split()


@register.filter
def plain(value: object) -> str:
    """An amount as people write it: 50000.000000000000000000 -> 50000, 0.0100 -> 0.01, -0 -> 0, never E notation; None -> ""."""
    return formatting.plain_number(value)


@register.filter
def money(value: object, places: int = 2) -> str:
    """A sum of money grouped by thousands: 1234.5 -> 1,234.50."""
    return formatting.money(value, places)


@register.filter
def split_pairs(value: str) -> list[tuple[str, str]]:
    """'a:Label A b:Label B' -> [("a", "Label A"), ("b", "Label B")] (labels may contain spaces)."""
    pairs: list[tuple[str, str]] = []
    for token in value.split(" "):
        if ":" in token:
            key, _, label = token.partition(":")
            pairs.append((key, label))
        elif pairs:
            pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]} {token}")
    return pairs


@register.filter
def percent(value: object) -> str:
    """A fraction as a percentage with two decimals; a dash when missing."""
    return formatting.percent(value)
