from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD
from apps.accounts.tokens import token_pair_for
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"
LOGIN_URL = reverse("accounts:login")


def _can_sign_in(email: str, password: str) -> bool:
    response = Client().post(LOGIN_URL, {"email": email, "password": password})
    return response.status_code == 302


def test_changing_the_password_keeps_you_signed_in_and_the_new_one_works(signed_in_client: Client, user: User) -> None:
    url = reverse("accounts:password_change")
    assert signed_in_client.get(url).status_code == 200

    response = signed_in_client.post(
        url,
        {"old_password": DEFAULT_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assert response.redirect_chain == [(reverse("accounts:settings"), 302)]
    assert "Password changed." in response.content.decode()
    assert signed_in_client.get(reverse("home:dashboard")).status_code == 200
    assert _can_sign_in(user.email, NEW_PASSWORD)
    assert not _can_sign_in(user.email, DEFAULT_PASSWORD)
    assert AuditEvent.objects.filter(action="user.password_changed", owner=user, actor=user).count() == 1


def test_a_wrong_current_password_changes_nothing(signed_in_client: Client, user: User) -> None:
    response = signed_in_client.post(
        reverse("accounts:password_change"),
        {"old_password": "not-my-password", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert "Your old password was entered incorrectly." in response.content.decode()
    assert _can_sign_in(user.email, DEFAULT_PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_changed").exists()


def test_the_password_change_page_needs_a_sign_in(client: Client) -> None:
    response = client.get(reverse("accounts:password_change"))

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


def _request_reset(client: Client, email: str) -> str:
    response = client.post(reverse("accounts:password_reset"), {"email": email})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    match = re.search(r"https?://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match.group(1)


def test_a_password_reset_link_from_the_email_sets_a_new_password(client: Client, user: User) -> None:
    link = _request_reset(client, user.email.upper())
    assert mail.outbox[0].to == [user.email]
    assert mail.outbox[0].subject == "Reset your Trading Platform password"

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]

    response = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)

    assert response.redirect_chain == [(reverse("accounts:password_reset_complete"), 302)]
    assert "Password set" in response.content.decode()
    assert _can_sign_in(user.email, NEW_PASSWORD)
    assert not _can_sign_in(user.email, DEFAULT_PASSWORD)
    event = AuditEvent.objects.get(action="user.password_reset")
    assert event.owner_id == user.pk


def test_a_reset_link_works_only_once(client: Client, user: User) -> None:
    link = _request_reset(client, user.email)
    set_password_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    response = Client().get(link, follow=True)

    assert "This reset link is invalid or was already used." in response.content.decode()


def test_a_reset_for_an_unknown_email_sends_nothing_but_looks_the_same(client: Client) -> None:
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"}, follow=True)

    assert response.redirect_chain == [(reverse("accounts:password_reset_done"), 302)]
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_changing_the_password_ends_every_other_session_and_token(signed_in_client: Client, user: User) -> None:
    other = Client()
    other.force_login(user)
    access = token_pair_for(user)["access"]

    signed_in_client.post(
        reverse("accounts:password_change"),
        {"old_password": DEFAULT_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert signed_in_client.get(reverse("accounts:settings")).status_code == 200
    assert other.get(reverse("accounts:settings")).status_code == 302
    assert Client().get(reverse("api-me"), headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_a_password_reset_ends_every_session(client: Client, user: User) -> None:
    signed_in = Client()
    signed_in.force_login(user)
    link = _request_reset(client, user.email)
    set_password_url = client.get(link, follow=True).redirect_chain[-1][0]

    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert signed_in.get(reverse("accounts:settings")).status_code == 302
