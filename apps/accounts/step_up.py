"""Step-up: a fresh two-factor code before a sensitive change (exchange connections, trading
keys, turning two-factor off).

A code entered in a browser session stays fresh for TWO_FACTOR_STEP_UP_SECONDS; a request
without a session (a JWT client) sends the code with each such change. Wrong codes count
against the same sign-in throttle as wrong passwords.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

from apps.accounts.errors import SignInError, StepUpRequiredError
from apps.accounts.models import User
from apps.accounts.services import (
    login_failure_register,
    login_throttle_check,
    second_factor_verify,
    two_factor_enabled,
)
from apps.core.client_address import client_address

SESSION_KEY = "two_factor_fresh"
OTP_FIELD = "otp"


def _session(request: HttpRequest | Request) -> Any:
    return getattr(request, "session", None)


def step_up_mark_fresh(request: HttpRequest | Request, user: User) -> None:
    session = _session(request)
    if session is not None:
        session[SESSION_KEY] = {"user": str(user.pk), "at": time.time()}


def _is_fresh(request: HttpRequest | Request, user: User) -> bool:
    session = _session(request)
    record = session.get(SESSION_KEY) if session is not None else None
    if not isinstance(record, dict) or record.get("user") != str(user.pk):
        return False
    return time.time() - float(record.get("at", 0)) < settings.TWO_FACTOR_STEP_UP_SECONDS


def step_up_needed(request: HttpRequest | Request, user: User) -> bool:
    return two_factor_enabled(user=user) and not _is_fresh(request, user)


def step_up_verify(request: HttpRequest | Request, user: User, code: str | None) -> None:
    """Pass when no fresh code is needed or `code` is one; else StepUpRequiredError naming what is wrong."""
    if not step_up_needed(request, user):
        return
    address = client_address(request)  # type: ignore[arg-type]
    if not code:
        message = "This change needs a fresh two-factor code: enter the current code from your authenticator app."
        raise StepUpRequiredError(message, extra={"fields": {OTP_FIELD: [message]}})
    login_throttle_check(email=user.email, address=address)
    try:
        second_factor_verify(user=user, code=code, field=OTP_FIELD, allow_recovery=False)
    except SignInError as exc:
        login_failure_register(email=user.email, address=address)
        raise StepUpRequiredError(exc.message, code=exc.code, extra=exc.extra) from None
    step_up_mark_fresh(request, user)


def step_up_field() -> forms.CharField:
    return forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=12,
        help_text="This change needs a current code from your authenticator app.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def add_step_up_field(form: forms.Form, request: HttpRequest, user: User) -> forms.Form:
    """Give the form an `otp` field when the change it makes needs a fresh code now."""
    if step_up_needed(request, user):
        form.fields[OTP_FIELD] = step_up_field()
    return form
