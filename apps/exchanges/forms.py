from __future__ import annotations

from django import forms

from apps.exchanges.models import Exchange


class ApiConnectionForm(forms.Form):
    exchange = forms.ModelChoiceField(queryset=Exchange.objects.none(), to_field_name="code", empty_label=None)
    label = forms.CharField(max_length=64, widget=forms.TextInput(attrs={"placeholder": "e.g. Binance main"}))
    api_key = forms.CharField(max_length=256, label="API key", widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    secret = forms.CharField(max_length=512, label="API secret", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    passphrase = forms.CharField(max_length=256, required=False, label="Passphrase (OKX)", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    testnet = forms.BooleanField(required=False, label="Testnet / sandbox keys")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["exchange"].queryset = Exchange.objects.filter(enabled=True).exclude(code="SIM")  # type: ignore[attr-defined]
