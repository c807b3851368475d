from __future__ import annotations

import pytest
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


def test_registering_signs_you_in_and_lands_on_the_dashboard(client: Client) -> None:
    response = client.post(REGISTER_URL, _form(), follow=True)

    assert response.redirect_chain == [(reverse("core:dashboard"), 302)]
    assert response.status_code == 200
    assert response.wsgi_request.user.email == "ada@example.com"
    content = response.content.decode()
    assert "Welcome! Your account is ready." in content
    assert "Hello, Ada" in content
    user = User.objects.get(email="ada@example.com")
    assert AuditEvent.objects.filter(action="user.registered", owner=user, actor=user).count() == 1


def test_an_email_registered_in_mixed_case_signs_in_in_any_case(client: Client) -> None:
    client.post(REGISTER_URL, _form(email="Ada.Lovelace@Example.com"))
    client.logout()

    response = client.post(reverse("accounts:login"), {"email": "ADA.LOVELACE@example.COM", "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("core:dashboard")


@pytest.mark.parametrize("email", ["taken@example.com", "Taken@Example.COM"])
def test_an_email_already_registered_in_any_case_is_a_form_error(client: Client, email: str) -> None:
    UserFactory(email="taken@example.com")

    response = client.post(REGISTER_URL, _form(email=email))

    assert response.status_code == 400
    assert "An account with this email already exists." in response.content.decode()
    assert User.objects.count() == 1
    assert "_auth_user_id" not in client.session


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
    assert response["Location"] == reverse("core:dashboard")
