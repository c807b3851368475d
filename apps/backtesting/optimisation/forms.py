"""The optimisation form: the backtest settings plus a range (min, max, step) per numeric parameter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from apps.backtesting.forms import BacktestForm
from apps.backtesting.models import OptimisationMethod
from apps.backtesting.optimisation.services import OBJECTIVES

NUMERIC = {"integer", "number"}


class OptimisationForm(BacktestForm):
    objective = forms.ChoiceField(choices=[(key, key.replace("_", " ").capitalize()) for key in OBJECTIVES], initial="sharpe")
    method = forms.ChoiceField(choices=OptimisationMethod.choices, initial=OptimisationMethod.GRID)
    max_runs = forms.IntegerField(min_value=1, max_value=2000, initial=100, label="Max runs")
    in_sample_fraction = forms.DecimalField(
        min_value=Decimal("0.1"), max_value=Decimal("0.95"), decimal_places=3, initial=Decimal("0.7"), label="In-sample share"
    )
    walk_forward_windows = forms.IntegerField(min_value=0, max_value=12, initial=0, label="Walk-forward windows", help_text="0: one out-of-sample part.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("fill_mode", "name"):
            self.fields.pop(name, None)


def range_rows(schema: dict[str, Any], data: Any = None) -> list[dict[str, Any]]:
    """One row per numeric parameter with its bounds and the submitted min/max/step."""
    rows = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") not in NUMERIC:
            continue
        values = {part: (data.get(f"r-{name}-{part}", "") if data is not None else "") for part in ("min", "max", "step")}
        rows.append({"name": name, "prop": prop, **values})
    return rows


def parse_space(schema: dict[str, Any], data: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """{name: {min, max, step}} for the rows filled in, and errors by parameter name."""
    space: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for row in range_rows(schema, data):
        raw = [row["min"].strip(), row["max"].strip(), row["step"].strip()]
        if not any(raw):
            continue
        if not raw[0] or not raw[1]:
            errors[row["name"]] = "give both min and max (and a step)"
            continue
        integer = row["prop"]["type"] == "integer"
        try:
            low, high = (int(raw[0]), int(raw[1])) if integer else (float(raw[0]), float(raw[1]))
            step = (int(raw[2]) if integer else float(raw[2])) if raw[2] else 1
        except ValueError:
            errors[row["name"]] = f"{'whole numbers' if integer else 'numbers'} please"
            continue
        space[row["name"]] = {"min": low, "max": high, "step": step}
    return space, errors
