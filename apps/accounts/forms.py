from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.http import HttpRequest

from apps.accounts.enums import ApiKeyScope, QuoteCurrency, Theme
from apps.accounts.models import TIME_ZONE_CHOICES, User
from apps.accounts.services import sign_in_password, user_set_password
from apps.core.client_address import client_address
from apps.core.errors import ApplicationError


def apply_application_error(form: forms.Form, error: ApplicationError) -> None:
    """Show a service error on the form: on its fields when it names them, else on top."""
    fields = error.extra.get("fields", {})
    placed = False
    for name, messages in fields.items():
        if name in form.fields:
            for message in messages:
                form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


class RegistrationForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    display_name = forms.CharField(max_length=80, required=False, label="Name (optional)")
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), min_length=10)
    password_confirm = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), label="Repeat password")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_confirm"):
            self.add_error("password_confirm", "The two passwords differ.")
        return data


class EmailLoginForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user_cache: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        email, password = data.get("email"), data.get("password")
        if not email or not password:
            return data
        address = client_address(self.request) if self.request is not None else ""
        try:
            self.user_cache = sign_in_password(request=self.request, email=email, password=password, address=address)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return data

    def get_user(self) -> User | None:
        return self.user_cache


class PreferencesForm(forms.Form):
    display_name = forms.CharField(max_length=80, required=False, label="Name")
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES)
    quote_currency = forms.ChoiceField(choices=QuoteCurrency.choices, label="Quote currency for totals")
    theme = forms.ChoiceField(choices=Theme.choices)


class SecondFactorForm(forms.Form):
    otp = forms.CharField(
        label="Code",
        max_length=16,
        help_text="6 digits from your authenticator app, or a recovery code such as abcde-fghjk.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


class TotpConfirmForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class TwoFactorDisableForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        help_text="6 digits from your authenticator app, or a recovery code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


API_KEY_EXPIRY_CHOICES = [("", "Never"), ("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=80, label="Key name", widget=forms.TextInput(attrs={"placeholder": "e.g. grid bot on BTC/USDT"}))
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        initial=[ApiKeyScope.READ],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope (read, trade, bots)."},
    )
    expires_in_days = forms.TypedChoiceField(choices=API_KEY_EXPIRY_CHOICES, coerce=int, empty_value=None, required=False, label="Expires after")
    allowed_networks = forms.CharField(
        required=False,
        label="Allowed addresses (optional)",
        help_text="IP addresses or networks the key may be used from, separated by commas or spaces, e.g. 203.0.113.7, 10.0.0.0/8. Empty: any.",
        widget=forms.TextInput(attrs={"placeholder": "any address"}),
    )

    def network_list(self) -> list[str]:
        return self.cleaned_data.get("allowed_networks", "").replace(",", " ").split()


class ServicePasswordChangeForm(PasswordChangeForm):
    """Django's checks of the old and new password; the write goes through the service."""

    def save(self, commit: bool = True) -> User:
        return user_set_password(actor=self.user, user=self.user, password=self.cleaned_data["new_password1"], reason="changed")


class ServiceSetPasswordForm(SetPasswordForm):
    def save(self, commit: bool = True) -> User:
        return user_set_password(actor=None, user=self.user, password=self.cleaned_data["new_password1"], reason="reset")
