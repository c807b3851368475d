from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from apps.exchanges.models import Symbol
from apps.orders.enums import OrderSideChoice, OrderTypeChoice, TimeInForceChoice
from apps.portfolio.models import TradingAccount


class OrderForm(forms.Form):
    symbol = forms.ModelChoiceField(queryset=Symbol.objects.none(), empty_label=None)
    side = forms.ChoiceField(choices=OrderSideChoice.choices, initial="BUY", widget=forms.RadioSelect)
    order_type = forms.ChoiceField(choices=OrderTypeChoice.choices, initial="LIMIT", label="Type")
    quantity = forms.DecimalField(
        max_digits=38,
        decimal_places=18,
        required=False,
        min_value=Decimal(0),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "base amount"}),
    )
    quote_amount = forms.DecimalField(
        max_digits=38,
        decimal_places=18,
        required=False,
        min_value=Decimal(0),
        label="or amount in quote",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "e.g. 500"}),
    )
    price = forms.DecimalField(max_digits=38, decimal_places=18, required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    stop_price = forms.DecimalField(
        max_digits=38, decimal_places=18, required=False, label="Stop / trigger price", widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    time_in_force = forms.ChoiceField(choices=TimeInForceChoice.choices, initial="GTC")
    post_only = forms.BooleanField(required=False)
    reduce_only = forms.BooleanField(required=False)
    leverage = forms.IntegerField(min_value=1, max_value=125, initial=1, required=False)
    margin_mode = forms.ChoiceField(choices=[("ISOLATED", "Isolated"), ("CROSS", "Cross")], initial="ISOLATED", required=False)
    stop_loss = forms.DecimalField(
        max_digits=38, decimal_places=18, required=False, label="Attach stop-loss", widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    take_profit = forms.DecimalField(
        max_digits=38, decimal_places=18, required=False, label="Attach take-profit", widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    client_order_id = forms.CharField(max_length=36, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, accounts: list[TradingAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        exchange_ids = [account.exchange_id for account in accounts]
        symbol_field: Any = self.fields["symbol"]
        symbol_field.queryset = Symbol.objects.filter(exchange_id__in=exchange_ids, active=True).select_related("exchange").order_by("exchange__code", "symbol")
        symbol_field.label_from_instance = lambda s: f"{s.symbol} · {s.exchange.code}"
        self.accounts = {account.exchange_id: account for account in accounts}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("quantity") in (None, "") and data.get("quote_amount") in (None, ""):
            self.add_error("quantity", "Give a quantity, or an amount in the quote currency.")
        symbol = data.get("symbol")
        if symbol is not None and symbol.exchange_id not in self.accounts:
            self.add_error("symbol", "You have no account on this exchange in this mode.")
        return data

    def account_for(self, symbol: Symbol) -> TradingAccount:
        return self.accounts[symbol.exchange_id]
