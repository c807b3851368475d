from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.http import HttpRequest

from apps.accounts.enums import QuoteCurrency, Theme
from apps.accounts.models import TIME_ZONE_CHOICES, User
from apps.accounts.services import (
    login_failure_register,
    login_failures_clear,
    login_throttle_check,
    user_set_password,
)
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
        try:
            login_throttle_check(email=email)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
        user = authenticate(self.request, email=email, password=password)
        if user is None or not user.is_active:
            login_failure_register(email=email)
            raise forms.ValidationError("Email or password is wrong.", code="invalid_login")
        login_failures_clear(email=email)
        self.user_cache = user
        return data

    def get_user(self) -> User | None:
        return self.user_cache


class PreferencesForm(forms.Form):
    display_name = forms.CharField(max_length=80, required=False, label="Name")
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES)
    quote_currency = forms.ChoiceField(choices=QuoteCurrency.choices, label="Quote currency for totals")
    theme = forms.ChoiceField(choices=Theme.choices)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=80, label="Key name", widget=forms.TextInput(attrs={"placeholder": "e.g. grid bot on BTC/USDT"}))


class ServicePasswordChangeForm(PasswordChangeForm):
    """Django's checks of the old and new password; the write goes through the service."""

    def save(self, commit: bool = True) -> User:
        return user_set_password(actor=self.user, user=self.user, password=self.cleaned_data["new_password1"], reason="changed")


class ServiceSetPasswordForm(SetPasswordForm):
    def save(self, commit: bool = True) -> User:
        return user_set_password(actor=None, user=self.user, password=self.cleaned_data["new_password1"], reason="reset")
