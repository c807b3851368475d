from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import DEFAULT_PASSWORD, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(StaffUserFactory(is_superuser=True))
    return client


def test_a_superuser_can_browse_search_and_open_users(admin_client: Client) -> None:
    user = UserFactory(email="findme@example.com")

    listing = admin_client.get(reverse("admin:accounts_user_changelist"), {"q": "findme"})
    change = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    add = admin_client.get(reverse("admin:accounts_user_add"))

    assert listing.status_code == 200
    assert "findme@example.com" in listing.content.decode()
    assert change.status_code == 200
    assert "findme@example.com" in change.content.decode()
    assert add.status_code == 200


def test_a_user_added_in_the_admin_with_a_mixed_case_email_can_sign_in(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "Added.By@Admin.example", "password1": DEFAULT_PASSWORD, "password2": DEFAULT_PASSWORD},
    )

    assert response.status_code == 302
    assert User.objects.get(email__iexact="added.by@admin.example").email == "added.by@admin.example"
    login = Client().post(reverse("accounts:login"), {"email": "Added.By@Admin.example", "password": DEFAULT_PASSWORD})
    assert login.status_code == 302


def test_the_admin_refuses_a_second_account_for_the_same_email_in_another_case(admin_client: Client) -> None:
    UserFactory(email="taken@example.com")

    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"email": "TAKEN@example.com", "password1": DEFAULT_PASSWORD, "password2": DEFAULT_PASSWORD},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_the_admin_shows_api_keys_without_their_hash(admin_client: Client) -> None:
    created = api_key_create(actor=UserFactory(), name="bot")

    response = admin_client.get(reverse("admin:accounts_apikey_change", args=[created.api_key.pk]))

    assert response.status_code == 200
    assert created.api_key.key_hash not in response.content.decode()


def test_people_who_are_not_staff_are_sent_to_the_admin_login(signed_in_client: Client) -> None:
    response = signed_in_client.get(reverse("admin:accounts_user_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
