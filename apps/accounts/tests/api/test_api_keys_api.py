from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create, api_key_revoke
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import API_KEY_PATTERN, api_key_header, bearer

pytestmark = pytest.mark.django_db

ME_URL = reverse("api-me")
KEYS_URL = reverse("api-api-keys")


def _revoke_url(api_key_id: object) -> str:
    return reverse("api-api-key-revoke", args=[api_key_id])


def test_an_api_key_signs_a_bot_in_and_records_its_last_use(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot")
    assert created.api_key.last_used_at is None

    response = client.get(ME_URL, headers=api_key_header(created.plaintext))

    assert response.status_code == 200
    assert response.json()["email"] == user.email
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None


def test_a_revoked_key_is_401(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot")
    api_key_revoke(actor=user, api_key_id=created.api_key.pk)

    response = client.get(ME_URL, headers=api_key_header(created.plaintext))

    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "authentication_failed"
    assert body["message"] == "Invalid or revoked API key."


@pytest.mark.parametrize("value", ["Api-Key nonsense", "Api-Key tpk_abc", "Api-Key tpk_000000000000.secret", "Api-Key "])
def test_a_malformed_or_unknown_key_is_401(client: Client, value: str) -> None:
    response = client.get(ME_URL, headers={"Authorization": value})

    assert response.status_code == 401
    assert response.json().keys() == {"code", "message", "extra"}
    assert response["WWW-Authenticate"] == "Api-Key"


def test_creating_a_key_returns_it_once_and_it_works(client: Client, user: User) -> None:
    response = client.post(KEYS_URL, {"name": "grid bot"}, content_type="application/json", headers=bearer(user))

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "grid bot"
    assert body["is_active"] is True
    assert API_KEY_PATTERN.fullmatch(body["key"])
    assert body["key"].startswith(f"tpk_{body['prefix']}.")
    assert client.get(ME_URL, headers=api_key_header(body["key"])).json()["email"] == user.email


def test_listing_keys_never_shows_a_key_or_its_hash(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="grid bot")
    api_key_create(actor=UserFactory(), name="their bot")

    response = client.get(KEYS_URL, headers=bearer(user))

    assert response.status_code == 200
    assert created.plaintext not in response.content.decode()
    assert created.api_key.key_hash not in response.content.decode()
    body = response.json()
    assert body["count"] == 1
    (listed,) = body["results"]
    assert listed["id"] == str(created.api_key.pk)
    assert {"key", "key_hash", "secret"}.isdisjoint(listed)


def test_a_key_without_a_name_is_400_naming_the_field(client: Client, user: User) -> None:
    response = client.post(KEYS_URL, {"name": ""}, content_type="application/json", headers=bearer(user))

    assert response.status_code == 400
    assert "name" in response.json()["extra"]["fields"]
    assert not ApiKey.objects.exists()


def test_deleting_a_key_revokes_it_and_it_stops_working(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot")

    response = client.delete(_revoke_url(created.api_key.pk), headers=bearer(user))

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["revoked_at"] is not None
    assert client.get(ME_URL, headers=api_key_header(created.plaintext)).status_code == 401


def test_deleting_a_key_twice_is_a_409(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot")
    client.delete(_revoke_url(created.api_key.pk), headers=bearer(user))

    response = client.delete(_revoke_url(created.api_key.pk), headers=bearer(user))

    assert response.status_code == 409
    assert response.json()["code"] == "api_key_revoked"


@pytest.mark.parametrize("whose", ["someone_else", "nobody"])
def test_a_key_id_that_is_not_yours_is_a_404_and_nothing_changes(client: Client, user: User, whose: str) -> None:
    theirs = api_key_create(actor=UserFactory(), name="their bot")
    key_id = theirs.api_key.pk if whose == "someone_else" else uuid.uuid4()

    response = client.delete(_revoke_url(key_id), headers=bearer(user))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    theirs.api_key.refresh_from_db()
    assert theirs.api_key.is_active


def test_a_bot_with_an_api_key_can_manage_keys(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot")

    response = client.post(KEYS_URL, {"name": "second bot"}, content_type="application/json", headers=api_key_header(created.plaintext))

    assert response.status_code == 201
    assert ApiKey.objects.filter(user=user).count() == 2


def test_invalid_json_when_creating_a_key_is_a_400_parse_error(client: Client, user: User) -> None:
    response = client.post(KEYS_URL, data="{not json", content_type="application/json", headers=bearer(user))

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not ApiKey.objects.exists()
