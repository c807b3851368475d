"""The backtest form, and the strategy-parameter form generated from a strategy's JSON schema.

The forms only parse what was typed (a whole number, a date); ranges and relations between
values are the services' to check, so the page, the API and the command refuse the same
things with the same words.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Case, IntegerField, Value, When
from django.urls import reverse
from django.utils import timezone

from apps.backtesting.models import FillMode
from apps.core.errors import ApplicationError
from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.models import Symbol

DEFAULT_DAYS = 7
DEFAULT_STRATEGY = "sma_cross"
DEFAULT_SYMBOL = ("SIM", "BTC/USDT")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
# Service errors about these fields are shown on the form's own fields.
FIELD_ALIASES = {"maker_fee": "fee", "taker_fee": "fee", "exchange": "symbol"}


def backtest_symbols() -> list[Symbol]:
    """Every active symbol of the enabled venues, SIM's first (it always has history to replay)."""
    symbols = (
        Symbol.objects.filter(active=True, exchange__enabled=True)
        .select_related("exchange")
        .annotate(sim_first=Case(When(exchange__code="SIM", then=Value(0)), default=Value(1), output_field=IntegerField()))
        .order_by("sim_first", "exchange__code", "symbol")
    )
    return list(symbols)


def symbol_label(symbol: Symbol) -> str:
    return f"{symbol.symbol} · {symbol.exchange.code}"


def default_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last DEFAULT_DAYS days, to the minute."""
    end = (now or timezone.now()).replace(second=0, microsecond=0)
    return end - timedelta(days=DEFAULT_DAYS), end


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_FORMAT)


class BacktestForm(forms.Form):
    strategy = forms.ChoiceField(choices=())
    symbol = forms.ChoiceField(choices=(), help_text="Backtests replay the candles stored for the symbol.")
    timeframe = forms.ChoiceField(choices=[(tf, tf) for tf in TIMEFRAMES], initial="1m")
    start = forms.DateTimeField(widget=DateTimeLocalInput(), help_text="Your time zone.")
    end = forms.DateTimeField(widget=DateTimeLocalInput())
    initial_capital = forms.DecimalField(
        max_digits=38, decimal_places=8, initial=Decimal("10000"), label="Initial capital", widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    fee = forms.DecimalField(
        max_digits=10,
        decimal_places=8,
        initial=Decimal("0.001"),
        label="Fee per fill",
        help_text="A fraction of the notional: 0.001 is 0.1 %.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    slippage_bps = forms.DecimalField(
        max_digits=8, decimal_places=3, initial=Decimal("0"), label="Slippage (bps)", widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    fill_mode = forms.ChoiceField(choices=FillMode.choices, initial=FillMode.NEXT_OPEN, label="Fill at")
    name = forms.CharField(max_length=120, required=False, label="Name (optional)")

    def __init__(self, *args: Any, strategies: list[dict[str, Any]], symbols: list[Symbol], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        strategy_field: Any = self.fields["strategy"]
        strategy_field.choices = [(s["name"], s["name"]) for s in strategies]
        strategy_field.widget.attrs.update(
            {"hx-get": reverse("backtesting:params"), "hx-trigger": "change", "hx-include": "this", "hx-target": "#strategy-params", "hx-swap": "outerHTML"}
        )
        groups: dict[str, list[tuple[str, str]]] = {}
        for symbol in symbols:
            groups.setdefault(symbol.exchange.name, []).append((str(symbol.pk), symbol_label(symbol)))
        symbol_field: Any = self.fields["symbol"]
        symbol_field.choices = list(groups.items())
        self.symbols = {str(symbol.pk): symbol for symbol in symbols}

    def clean_symbol(self) -> Symbol:
        return self.symbols[self.cleaned_data["symbol"]]

    @classmethod
    def initial_for(cls, *, strategies: list[dict[str, Any]], symbols: list[Symbol], strategy: str = "") -> dict[str, Any]:
        names = [s["name"] for s in strategies]
        default_symbol = next((s for s in symbols if (s.exchange.code, s.symbol) == DEFAULT_SYMBOL), symbols[0] if symbols else None)
        start, end = default_range()
        return {
            "strategy": strategy if strategy in names else (DEFAULT_STRATEGY if DEFAULT_STRATEGY in names else (names[0] if names else "")),
            "symbol": str(default_symbol.pk) if default_symbol else "",
            "start": start,
            "end": end,
        }


class ParameterField:
    """What the template needs to show one parameter: the bound field and its schema entry."""

    def __init__(self, field: forms.BoundField, schema: dict[str, Any]) -> None:
        self.field = field
        self.schema = schema


def _number_attrs(schema: dict[str, Any], step: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {"step": step, "placeholder": schema.get("default")}
    if "minimum" in schema:
        attrs["min"] = schema["minimum"]
    if "maximum" in schema:
        attrs["max"] = schema["maximum"]
    return attrs


def schema_field(name: str, schema: dict[str, Any]) -> forms.Field:
    """A form field for one JSON-schema property: a blank number means the default."""
    label = name.replace("_", " ").capitalize()
    kind = schema.get("type")
    default = schema.get("default")
    if schema.get("enum"):
        return forms.ChoiceField(label=label, choices=[(v, v) for v in schema["enum"]], initial=default)
    if kind == "boolean":
        return forms.BooleanField(label=label, required=False, initial=bool(default))
    if kind == "integer":
        return forms.IntegerField(label=label, required=False, initial=default, widget=forms.NumberInput(attrs=_number_attrs(schema, "1")))
    if kind == "number":
        return forms.FloatField(label=label, required=False, initial=default, widget=forms.NumberInput(attrs=_number_attrs(schema, "any")))
    return forms.CharField(label=label, required=False, initial=default)


class StrategyParamsForm(forms.Form):
    """One field per parameter of the strategy's JSON schema, prefixed `p-` so no name meets the main form's."""

    prefix = "p"

    def __init__(self, *args: Any, strategy: dict[str, Any] | None, **kwargs: Any) -> None:
        """`strategy` is an entry of `list_strategies()` (name, description, schema), or None before one is chosen."""
        super().__init__(*args, **kwargs)
        self.strategy = strategy
        self.schema: dict[str, Any] = strategy["schema"] if strategy else {"properties": {}}
        for name, prop in self.schema.get("properties", {}).items():
            self.fields[name] = schema_field(name, prop)

    @property
    def parameters(self) -> list[ParameterField]:
        return [ParameterField(self[name], prop) for name, prop in self.schema.get("properties", {}).items()]

    def params(self) -> dict[str, Any]:
        """The values given; the ones left blank take the strategy's defaults in the service."""
        return {name: value for name, value in self.cleaned_data.items() if value is not None and value != ""}


def apply_backtest_error(form: BacktestForm, params_form: StrategyParamsForm, error: ApplicationError) -> None:
    """A service error on the field it names (a parameter on the parameter form), and its whole message on top when that says more."""
    placed: set[str] = set()
    for name, messages in error.extra.get("fields", {}).items():
        target: forms.Form | None = None
        if name in params_form.fields:
            target = params_form
        elif FIELD_ALIASES.get(name, name) in form.fields:
            target, name = form, FIELD_ALIASES.get(name, name)
        if target is None:
            continue
        for message in messages:
            if message not in target.errors.get(name, []):
                target.add_error(name, message)
                placed.add(message)
    if not any(message in error.message for message in placed):
        form.add_error(None, error.message)
