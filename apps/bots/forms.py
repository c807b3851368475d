"""The bot form: its fixed fields, plus one field per strategy parameter built from the strategy's JSON schema."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.models import Symbol
from apps.portfolio.models import TradingAccount
from apps.strategies.domain.registry import list_strategies

PARAM_PREFIX = "param_"


def strategy_choices() -> list[tuple[str, str]]:
    return [(entry["name"], entry["name"]) for entry in list_strategies()]


def strategy_schema(name: str) -> dict[str, Any]:
    for entry in list_strategies():
        if entry["name"] == name:
            return dict(entry["schema"])
    return {"properties": {}}


def strategy_description(name: str) -> str:
    return next((str(entry["description"]) for entry in list_strategies() if entry["name"] == name), "")


def param_field(name: str, spec: dict[str, Any]) -> forms.Field:
    """A form field for one JSON-schema property (integer, number, boolean, string with or without enum)."""
    label = name.replace("_", " ").capitalize()
    help_text = spec.get("description", "")
    default = spec.get("default")
    kind = spec.get("type")
    if "enum" in spec:
        return forms.ChoiceField(label=label, help_text=help_text, initial=default, choices=[(v, str(v).replace("_", " ")) for v in spec["enum"]])
    if kind == "boolean":
        return forms.BooleanField(label=label, help_text=help_text, initial=default, required=False)
    bounds: dict[str, Any] = {}
    if "minimum" in spec:
        bounds["min_value"] = spec["minimum"]
    if "maximum" in spec:
        bounds["max_value"] = spec["maximum"]
    if kind == "integer":
        return forms.IntegerField(label=label, help_text=help_text, initial=default, **bounds)
    if kind == "number":
        field = forms.FloatField(label=label, help_text=help_text, initial=default, widget=forms.TextInput(attrs={"inputmode": "decimal"}), **bounds)
        if "exclusiveMinimum" in spec:
            field.widget.attrs["data-exclusive-minimum"] = str(spec["exclusiveMinimum"])
        return field
    return forms.CharField(label=label, help_text=help_text, initial=default)


class StrategyParamsMixin:
    """Adds `param_<name>` fields for the chosen strategy and collects them back into a dict."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def add_param_fields(self, strategy: str, values: dict[str, Any] | None = None) -> None:
        self.strategy_name = strategy
        self.param_names: list[str] = []
        for name, spec in strategy_schema(strategy).get("properties", {}).items():
            field = param_field(name, spec)
            if values and name in values:
                field.initial = values[name]
            self.fields[PARAM_PREFIX + name] = field
            self.param_names.append(name)

    def params(self) -> dict[str, Any]:
        return {name: self.cleaned_data[PARAM_PREFIX + name] for name in self.param_names if PARAM_PREFIX + name in self.cleaned_data}

    def param_bound_fields(self) -> list[forms.BoundField]:
        return [self[PARAM_PREFIX + name] for name in self.param_names]  # type: ignore[index]


def _limit_field(label: str, help_text: str, *, percent: bool = False) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        required=False,
        max_digits=20 if not percent else 6,
        decimal_places=8 if not percent else 2,
        min_value=Decimal("0.00000001") if not percent else Decimal("0.01"),
        max_value=None if not percent else Decimal(100),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "no limit"}),
    )


class BotForm(StrategyParamsMixin, forms.Form):
    name = forms.CharField(max_length=80)
    account = forms.ModelChoiceField(queryset=TradingAccount.objects.none(), empty_label=None)
    symbol = forms.ModelChoiceField(queryset=Symbol.objects.none(), empty_label=None)
    timeframe = forms.ChoiceField(choices=[(tf, tf) for tf in TIMEFRAMES], initial="1h")
    strategy = forms.ChoiceField(choices=())
    max_position_notional = _limit_field("Max position value", "The most this bot may hold, in the quote currency; orders beyond it are refused.")
    max_daily_loss = _limit_field("Max daily loss", "From the equity at 00:00 UTC; reached, the bot pauses itself.")
    max_drawdown_percent = _limit_field("Max drawdown %", "From the bot's equity peak; reached, the bot pauses itself.", percent=True)

    def __init__(self, *args: Any, accounts: list[TradingAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account_field: Any = self.fields["account"]
        account_field.queryset = TradingAccount.objects.filter(pk__in=[a.pk for a in accounts]).select_related("exchange")
        account_field.label_from_instance = lambda a: f"{a.name} · {a.exchange.code} · {a.mode}"
        symbol_field: Any = self.fields["symbol"]
        symbol_field.queryset = (
            Symbol.objects.filter(exchange_id__in={a.exchange_id for a in accounts}, active=True)
            .select_related("exchange")
            .order_by("exchange__code", "symbol")
        )
        symbol_field.label_from_instance = lambda s: f"{s.symbol} · {s.exchange.code}"
        choices = strategy_choices()
        strategy_field: Any = self.fields["strategy"]
        strategy_field.choices = choices
        chosen = (self.data.get("strategy") if self.is_bound else None) or self.initial.get("strategy") or (choices[0][0] if choices else "")
        if chosen not in {value for value, _ in choices}:
            chosen = choices[0][0] if choices else ""
        self.add_param_fields(chosen, self.initial.get("params"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        account, symbol = data.get("account"), data.get("symbol")
        if account is not None and symbol is not None and symbol.exchange_id != account.exchange_id:
            self.add_error("symbol", f"{symbol.symbol} is on {symbol.exchange.code}; the account trades on {account.exchange.code}.")
        return data


class BotParamsForm(StrategyParamsMixin, forms.Form):
    """The parameters of an existing (stopped) bot."""

    def __init__(self, *args: Any, strategy: str, values: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_param_fields(strategy, values)


def apply_param_errors(form: forms.Form, fields: dict[str, list[str]]) -> bool:
    """Service errors named `params.<name>` onto the `param_<name>` fields; True when any was placed."""
    placed = False
    for key, messages in fields.items():
        if key.startswith("params."):
            name = PARAM_PREFIX + key.removeprefix("params.")
            if name in form.fields:
                for message in messages:
                    form.add_error(name, message)
                placed = True
    return placed
