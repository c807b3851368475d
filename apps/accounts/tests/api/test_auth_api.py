from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD
from apps.accounts.tests.helpers import bearer
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

TOKEN_URL = reverse("api-token-obtain")
REFRESH_URL = reverse("api-token-refresh")
ME_URL = reverse("api-me")
ERROR_KEYS = {"code", "message", "extra"}


def _obtain(client: Client, email: str, password: str) -> object:
    return client.post(TOKEN_URL, {"email": email, "password": password}, content_type="application/json")


def test_email_and_password_give_an_access_and_a_refresh_token(client: Client, user: User) -> None:
    response = _obtain(client, user.email.upper(), DEFAULT_PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert body.keys() == {"access", "refresh"}
    me = client.get(ME_URL, headers={"Authorization": f"Bearer {body['access']}"})
    assert me.status_code == 200
    assert me.json()["email"] == user.email


def test_a_wrong_password_is_401_with_the_standard_error_body(client: Client, user: User) -> None:
    response = _obtain(client, user.email, "not-the-password")

    assert response.status_code == 401
    body = response.json()
    assert body.keys() == ERROR_KEYS
    assert body["code"] == "authentication_failed"
    assert body["message"] == "Email or password is wrong."
    assert "access" not in body


def test_missing_credentials_are_a_400_naming_the_fields(client: Client) -> None:
    response = client.post(TOKEN_URL, {}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["extra"]["fields"].keys() == {"email", "password"}


def test_a_refresh_token_gives_a_new_working_access_token(client: Client, user: User) -> None:
    refresh = _obtain(client, user.email, DEFAULT_PASSWORD).json()["refresh"]

    response = client.post(REFRESH_URL, {"refresh": refresh}, content_type="application/json")

    assert response.status_code == 200
    access = response.json()["access"]
    assert client.get(ME_URL, headers={"Authorization": f"Bearer {access}"}).json()["email"] == user.email


def test_a_forged_refresh_token_is_refused(client: Client) -> None:
    response = client.post(REFRESH_URL, {"refresh": "not.a.token"}, content_type="application/json")

    assert response.status_code == 401
    assert response.json().keys() == ERROR_KEYS


def test_after_too_many_failures_the_token_endpoint_refuses_even_the_right_password(client: Client, user: User) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert _obtain(client, user.email, "not-the-password").status_code == 401

    response = _obtain(client, user.email, DEFAULT_PASSWORD)

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "login_throttled"
    assert body["message"] == "Too many failed sign-in attempts. Try again in 1 minute."
    assert body["extra"] == {"retry_after_seconds": settings.LOGIN_LOCKOUT_SECONDS}
    assert response["Retry-After"] == str(settings.LOGIN_LOCKOUT_SECONDS)
    assert AuditEvent.objects.filter(action="auth.login_failed", owner=user).count() == settings.LOGIN_FAILURE_LIMIT


def test_the_right_password_from_another_address_still_gets_a_token(client: Client, user: User) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT * 2):
        client.post(TOKEN_URL, {"email": user.email, "password": "guess"}, content_type="application/json", REMOTE_ADDR="203.0.113.66")

    response = client.post(TOKEN_URL, {"email": user.email, "password": DEFAULT_PASSWORD}, content_type="application/json", REMOTE_ADDR="198.51.100.10")

    assert response.status_code == 200


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_counted(client: Client, user: User) -> None:
    def attempt(password: str, forwarded_for: str) -> object:
        return client.post(
            TOKEN_URL,
            {"email": user.email, "password": password},
            content_type="application/json",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        attempt("guess", "203.0.113.66")

    assert attempt(DEFAULT_PASSWORD, "6.6.6.6, 203.0.113.66").status_code == 429  # a forged first hop changes nothing
    assert attempt(DEFAULT_PASSWORD, "198.51.100.10").status_code == 200


def test_api_and_sign_in_page_failures_count_together(client: Client, user: User) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _obtain(client, user.email, "not-the-password")

    page = client.post(reverse("accounts:login"), {"email": user.email, "password": DEFAULT_PASSWORD})

    assert page.status_code == 400
    assert "Too many failed sign-in attempts" in page.content.decode()


def test_a_token_login_before_the_limit_resets_the_count(client: Client, user: User) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _obtain(client, user.email, "not-the-password")
    assert _obtain(client, user.email, DEFAULT_PASSWORD).status_code == 200

    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _obtain(client, user.email, "not-the-password")

    assert _obtain(client, user.email, DEFAULT_PASSWORD).status_code == 200


def test_me_returns_the_signed_in_user(client: Client, user: User) -> None:
    response = client.get(ME_URL, headers=bearer(user))

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == user.email
    assert body["time_zone"] == "UTC"
    assert "password" not in body


def test_me_without_credentials_is_401_with_the_standard_error_body(client: Client) -> None:
    response = client.get(ME_URL)

    assert response.status_code == 401
    body = response.json()
    assert body.keys() == ERROR_KEYS
    assert body["code"] == "not_authenticated"


def test_me_with_a_garbage_bearer_token_is_401(client: Client) -> None:
    response = client.get(ME_URL, headers={"Authorization": "Bearer not-a-jwt"})

    assert response.status_code == 401
    assert response.json().keys() == ERROR_KEYS


def test_patching_me_changes_only_the_given_preferences_and_audits_them(client: Client, user: User) -> None:
    response = client.patch(ME_URL, {"theme": "dark", "quote_currency": "BTC"}, content_type="application/json", headers=bearer(user))

    assert response.status_code == 200
    assert response.json()["theme"] == "dark"
    user.refresh_from_db()
    assert (user.theme, user.quote_currency, user.time_zone) == ("dark", "BTC", "UTC")
    event = AuditEvent.objects.get(action="user.preferences_changed")
    assert event.changes == {"theme": ["auto", "dark"], "quote_currency": ["USDT", "BTC"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_zone", "Mars/Olympus_Mons"), ("quote_currency", "DOGE"), ("theme", "neon"), ("display_name", "x" * 81)],
)
def test_patching_me_with_a_bad_value_is_400_naming_the_field(client: Client, user: User, field: str, value: str) -> None:
    response = client.patch(ME_URL, {field: value}, content_type="application/json", headers=bearer(user))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["extra"]["fields"]) == [field]
    assert body["message"].startswith(f"{field}: ")
    user.refresh_from_db()
    assert getattr(user, field) != value


def test_a_body_that_is_not_json_is_a_400_parse_error(client: Client, user: User) -> None:
    response = client.patch(ME_URL, data="{not json", content_type="application/json", headers=bearer(user))

    assert response.status_code == 400
    body = response.json()
    assert body.keys() == ERROR_KEYS
    assert body["code"] == "parse_error"


def test_an_unknown_api_address_is_a_json_404(client: Client, user: User) -> None:
    response = client.get("/api/v1/no-such-thing/", headers=bearer(user))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
