from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("accounts:login")
DASHBOARD_URL = reverse("home:dashboard")
WRONG = "Email or password is wrong."
THROTTLED = "Too many failed sign-in attempts"


def _sign_in(client: Client, email: str, password: str, **extra: str) -> Any:
    return client.post(LOGIN_URL, {"email": email, "password": password, **extra})


def test_the_right_email_and_password_sign_you_in(client: Client, user: User) -> None:
    response = _sign_in(client, user.email, DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == DASHBOARD_URL
    assert client.get(DASHBOARD_URL).status_code == 200


def test_the_email_is_matched_whatever_its_case(client: Client, user: User) -> None:
    response = _sign_in(client, f"  {user.email.upper()}", DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert client.get(DASHBOARD_URL).status_code == 200


def test_sign_in_returns_you_to_the_page_you_asked_for(client: Client, user: User) -> None:
    protected = reverse("accounts:settings")
    assert client.get(protected)["Location"] == f"{LOGIN_URL}?next={protected}"

    response = _sign_in(client, user.email, DEFAULT_PASSWORD, next=protected)

    assert response["Location"] == protected


def test_a_next_address_on_another_site_is_ignored(client: Client, user: User) -> None:
    response = _sign_in(client, user.email, DEFAULT_PASSWORD, next="https://evil.example/steal")

    assert response["Location"] == DASHBOARD_URL


@pytest.mark.parametrize(
    ("email", "password"),
    [("{email}", "not-the-password"), ("nobody@example.com", DEFAULT_PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_wrong_credentials_show_one_message_that_does_not_reveal_which_was_wrong(client: Client, user: User, email: str, password: str) -> None:
    response = _sign_in(client, email.format(email=user.email), password)

    assert response.status_code == 400
    assert WRONG in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_deactivated_account_cannot_sign_in(client: Client) -> None:
    user = UserFactory(is_active=False)

    response = _sign_in(client, user.email, DEFAULT_PASSWORD)

    assert response.status_code == 400
    assert WRONG in response.content.decode()


def test_an_empty_form_shows_field_errors_not_a_server_error(client: Client) -> None:
    response = client.post(LOGIN_URL, {"email": "", "password": "", "next": ""})

    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {"email", "password"}


def test_after_too_many_failures_even_the_right_password_is_refused(client: Client, user: User) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = _sign_in(client, user.email, "not-the-password")
        assert response.status_code == 400
        assert WRONG in response.content.decode()

    response = _sign_in(client, user.email, DEFAULT_PASSWORD)

    assert response.status_code == 400
    content = response.content.decode()
    assert THROTTLED in content
    assert WRONG not in content
    assert "_auth_user_id" not in client.session


def test_the_lock_applies_to_the_email_in_any_case_and_not_to_other_accounts(client: Client, user: User) -> None:
    other = UserFactory()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _sign_in(client, user.email.upper(), "not-the-password")

    assert THROTTLED in _sign_in(client, user.email, DEFAULT_PASSWORD).content.decode()
    assert _sign_in(client, other.email, DEFAULT_PASSWORD).status_code == 302


def test_a_successful_sign_in_before_the_limit_resets_the_count(client: Client, user: User) -> None:
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _sign_in(client, user.email, "not-the-password")
    assert _sign_in(client, user.email, DEFAULT_PASSWORD).status_code == 302
    client.logout()

    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _sign_in(client, user.email, "not-the-password")
    response = _sign_in(client, user.email, DEFAULT_PASSWORD)

    assert response.status_code == 302


def test_a_signed_in_user_opening_the_login_page_goes_to_the_dashboard(signed_in_client: Client) -> None:
    response = signed_in_client.get(LOGIN_URL)

    assert response.status_code == 302
    assert response["Location"] == DASHBOARD_URL


def test_sign_out_needs_a_post(signed_in_client: Client) -> None:
    response = signed_in_client.get(reverse("accounts:logout"))

    assert response.status_code == 405
    assert signed_in_client.get(DASHBOARD_URL).status_code == 200


def test_signing_out_ends_the_session(signed_in_client: Client) -> None:
    response = signed_in_client.post(reverse("accounts:logout"), follow=True)

    assert response.redirect_chain == [(LOGIN_URL, 302)]
    assert "You are signed out." in response.content.decode()
    assert signed_in_client.get(DASHBOARD_URL)["Location"] == f"{LOGIN_URL}?next={DASHBOARD_URL}"
