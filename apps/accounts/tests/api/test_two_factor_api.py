from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiKey, User
from apps.accounts.tests.factories import DEFAULT_PASSWORD
from apps.accounts.tests.helpers import bearer, enable_two_factor, totp_code

pytestmark = pytest.mark.django_db

TOKEN_URL = reverse("api-token-obtain")
KEYS_URL = reverse("api-api-keys")


def _obtain(client: Client, user: User, **extra: str) -> object:
    return client.post(TOKEN_URL, {"email": user.email, "password": DEFAULT_PASSWORD, **extra}, content_type="application/json")


def test_with_two_factor_on_the_token_needs_the_code_in_otp(client: Client, user: User) -> None:
    secret, _codes = enable_two_factor(user)

    missing = _obtain(client, user)
    wrong = _obtain(client, user, otp="000000")
    right = _obtain(client, user, otp=totp_code(secret))

    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["code"] == "otp_required"
    assert "otp" in missing.json()["extra"]["fields"]
    assert wrong.json()["code"] == "otp_invalid"
    assert right.status_code == 200
    assert right.json().keys() == {"access", "refresh"}


def test_a_wrong_password_with_two_factor_on_says_only_that_the_credentials_are_wrong(client: Client, user: User) -> None:
    enable_two_factor(user)

    response = client.post(TOKEN_URL, {"email": user.email, "password": "nope", "otp": "123456"}, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["message"] == "Email or password is wrong."


def test_a_used_recovery_code_is_refused_by_the_token_endpoint(client: Client, user: User) -> None:
    _secret, codes = enable_two_factor(user)

    assert _obtain(client, user, otp=codes[0]).status_code == 200
    reused = _obtain(client, user, otp=codes[0])

    assert reused.status_code == 401
    assert reused.json()["message"] == "This recovery code has already been used; each one works once."


def test_wrong_codes_at_the_token_endpoint_are_throttled_with_retry_after(client: Client, user: User) -> None:
    secret, _codes = enable_two_factor(user)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _obtain(client, user, otp="000000")

    response = _obtain(client, user, otp=totp_code(secret))

    assert response.status_code == 429
    assert response["Retry-After"] == str(settings.LOGIN_LOCKOUT_SECONDS)


def test_a_trade_key_through_the_api_needs_a_current_code(client: Client, user: User) -> None:
    secret, _codes = enable_two_factor(user)
    headers = bearer(user)

    refused = client.post(KEYS_URL, {"name": "bot", "scopes": ["read", "trade"]}, content_type="application/json", headers=headers)
    made = client.post(KEYS_URL, {"name": "bot", "scopes": ["read", "trade"], "otp": totp_code(secret)}, content_type="application/json", headers=headers)
    read_only = client.post(KEYS_URL, {"name": "monitor"}, content_type="application/json", headers=headers)

    assert refused.status_code == 403
    assert refused.json()["code"] == "otp_required"
    assert made.status_code == 201
    assert read_only.status_code == 201
    assert ApiKey.objects.filter(user=user).count() == 2
