"""JWT lifetimes, rotation, logout and the epoch that ends every earlier token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.models import User
from apps.accounts.services import user_set_password, user_sign_out_everywhere
from apps.accounts.tests.factories import DEFAULT_PASSWORD
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

TOKEN_URL = reverse("api-token-obtain")
REFRESH_URL = reverse("api-token-refresh")
LOGOUT_URL = reverse("api-logout")
ME_URL = reverse("api-me")


def _pair(client: Client, user: User) -> dict[str, str]:
    response = client.post(TOKEN_URL, {"email": user.email, "password": DEFAULT_PASSWORD}, content_type="application/json")
    assert response.status_code == 200, response.json()
    return dict(response.json())


def _me(client: Client, access: str) -> int:
    return client.get(ME_URL, headers={"Authorization": f"Bearer {access}"}).status_code


def _refresh(client: Client, refresh: str) -> object:
    return client.post(REFRESH_URL, {"refresh": refresh}, content_type="application/json")


def test_an_access_token_lives_at_most_fifteen_minutes(client: Client, user: User) -> None:
    access = AccessToken(_pair(client, user)["access"])

    assert access["exp"] - access["iat"] <= 15 * 60
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] <= timedelta(minutes=15)


def test_each_refresh_returns_a_new_refresh_token_and_the_used_one_is_refused(client: Client, user: User) -> None:
    first = _pair(client, user)["refresh"]

    rotated = _refresh(client, first)
    assert rotated.status_code == 200
    second = rotated.json()["refresh"]
    assert second != first
    assert _me(client, rotated.json()["access"]) == 200

    reused = _refresh(client, first)
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_revoked"
    assert reused.json()["message"] == "This refresh token is invalid, expired, already used or revoked; sign in again."
    assert _refresh(client, second).status_code == 200


def test_logout_revokes_the_refresh_token(client: Client, user: User) -> None:
    refresh = _pair(client, user)["refresh"]

    response = client.post(LOGOUT_URL, {"refresh": refresh}, content_type="application/json")

    assert response.status_code == 204
    assert _refresh(client, refresh).status_code == 401
    again = client.post(LOGOUT_URL, {"refresh": refresh}, content_type="application/json")
    assert again.status_code == 401
    assert again.json()["code"] == "token_revoked"


def test_logout_without_a_token_is_400_naming_the_field(client: Client) -> None:
    response = client.post(LOGOUT_URL, {}, content_type="application/json")

    assert response.status_code == 400
    assert "refresh" in response.json()["extra"]["fields"]


def test_a_password_change_ends_every_earlier_access_and_refresh_token(client: Client, user: User) -> None:
    pair = _pair(client, user)

    user_set_password(actor=user, user=user, password="a-brand-new-passphrase-42", reason="changed")

    assert _me(client, pair["access"]) == 401
    body = client.get(ME_URL, headers={"Authorization": f"Bearer {pair['access']}"}).json()
    assert body["code"] == "token_revoked"
    assert "sign in again" in body["message"]
    assert _refresh(client, pair["refresh"]).status_code == 401


def test_sign_out_everywhere_ends_every_token_and_is_audited(client: Client, user: User) -> None:
    pair = _pair(client, user)

    user_sign_out_everywhere(actor=user)

    assert _me(client, pair["access"]) == 401
    refused = _refresh(client, pair["refresh"])
    assert refused.status_code == 401
    assert "Sign out everywhere" in refused.json()["message"]
    assert AuditEvent.objects.filter(action="user.signed_out_everywhere", owner=user).exists()
    fresh = _pair(client, user)
    assert _me(client, fresh["access"]) == 200


def test_a_garbage_refresh_token_is_401_with_a_plain_sentence(client: Client) -> None:
    response = _refresh(client, "not.a.token")

    assert response.status_code == 401
    assert response.json()["message"] == "This refresh token is invalid, expired, already used or revoked; sign in again."
