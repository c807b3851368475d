from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

REGISTER_URL = reverse("accounts:register")


def _form(**overrides: str) -> dict[str, str]:
    return {
        "email": "ada@example.com",
        "display_name": "Ada",
        "password": DEFAULT_PASSWORD,
        "password_confirm": DEFAULT_PASSWORD,
        **overrides,
    }


def test_registering_creates_the_account_and_asks_you_to_check_your_email(client: Client, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(REGISTER_URL, _form())

    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    user = User.objects.get(email="ada@example.com")
    assert user.display_name == "Ada"
    assert AuditEvent.objects.filter(action="user.registered", owner=user, actor=user).count() == 1
    (welcome,) = mail.outbox
    assert welcome.to == ["ada@example.com"]
    assert "is ready" in welcome.body


def test_an_email_registered_in_mixed_case_signs_in_in_any_case(client: Client) -> None:
    client.post(REGISTER_URL, _form(email="Ada.Lovelace@Example.com"))

    response = client.post(reverse("accounts:login"), {"email": "ADA.LOVELACE@example.COM", "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("home:dashboard")


def _visible_text(response: object) -> str:
    content = response.content.decode()  # type: ignore[attr-defined]
    return re.sub(r"[A-Za-z0-9]{64}", "<csrf token>", content)


@pytest.mark.parametrize("email", ["taken@example.com", "Taken@Example.COM"])
def test_a_known_email_gets_the_same_answer_as_a_new_one_and_its_owner_an_email(client: Client, email: str, django_capture_on_commit_callbacks: Any) -> None:
    owner = UserFactory(email="taken@example.com")
    fresh = Client().post(REGISTER_URL, _form(email="fresh@example.com"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(REGISTER_URL, _form(email=email))

    assert response.status_code == fresh.status_code == 200
    assert _visible_text(response).replace("taken@example.com", "X") == _visible_text(fresh).replace("fresh@example.com", "X")
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
    owner.refresh_from_db()
    assert owner.check_password(DEFAULT_PASSWORD)
    assert "_auth_user_id" not in client.session
    (warning,) = mail.outbox
    assert warning.to == ["taken@example.com"]
    assert "Someone tried to create a Trading Platform account" in warning.body
    assert AuditEvent.objects.filter(action="user.registration_attempted", owner=owner).exists()


def test_passwords_that_differ_are_a_form_error(client: Client) -> None:
    response = client.post(REGISTER_URL, _form(password_confirm=DEFAULT_PASSWORD + "x"))

    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()
    assert not User.objects.exists()


def test_a_common_password_is_a_form_error_on_the_password_field(client: Client) -> None:
    response = client.post(REGISTER_URL, _form(password="password123", password_confirm="password123"))

    assert response.status_code == 400
    assert response.context["form"].errors["password"] == ["This password is too common."]
    assert not User.objects.exists()


def test_a_signed_in_user_opening_the_register_page_goes_to_the_dashboard(signed_in_client: Client) -> None:
    response = signed_in_client.get(REGISTER_URL)

    assert response.status_code == 302
    assert response["Location"] == reverse("home:dashboard")
