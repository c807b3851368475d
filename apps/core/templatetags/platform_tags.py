from __future__ import annotations

from django import forms, template
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def widget(field: forms.BoundField) -> SafeString:
    """Render a field's widget, marked invalid for assistive tech and CSS when it has errors."""
    attrs: dict[str, str | bool] = {"aria-invalid": "true", "aria-describedby": f"{field.auto_id}_errors"} if field.errors else {}
    return field.as_widget(attrs=attrs)


@register.filter
def make_list_of_words(value: str) -> list[str]:
    return value.split()
