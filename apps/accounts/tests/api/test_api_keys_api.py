from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create, api_key_revoke
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import API_KEY_PATTERN, api_key_header, bearer

pytestmark = pytest.mark.django_db

ME_URL = reverse("api-me")
KEYS_URL = reverse("api-api-keys")
READ_URL = reverse("api-exchanges")


def _revoke_url(api_key_id: object) -> str:
    return reverse("api-api-key-revoke", args=[api_key_id])


def test_an_api_key_signs_a_bot_in_and_records_its_last_use(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot")
    assert created.api_key.last_used_at is None

    response = client.get(READ_URL, headers=api_key_header(created.plaintext))

    assert response.status_code == 200
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
    assert body["scopes"] == ["read"]
    assert response["Cache-Control"] == "no-store"
    assert client.get(READ_URL, headers=api_key_header(body["key"])).status_code == 200


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


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", KEYS_URL, {"name": "second bot"}),
        ("get", KEYS_URL, None),
        ("delete", "revoke", None),
        ("get", ME_URL, None),
        ("patch", ME_URL, {"display_name": "Mallory"}),
        ("post", reverse("api-connections"), {"exchange": "BINANCE", "label": "x", "api_key": "k", "secret": "s"}),
    ],
    ids=["create-key", "list-keys", "revoke-key", "read-profile", "change-profile", "create-connection"],
)
def test_an_api_key_with_every_scope_can_never_manage_keys_profile_or_connections(client: Client, user: User, method: str, url: str, body: object) -> None:
    created = api_key_create(actor=user, name="bot", scopes=["read", "trade", "bots"])
    target = _revoke_url(created.api_key.pk) if url == "revoke" else url

    response = getattr(client, method)(target, body, content_type="application/json", headers=api_key_header(created.plaintext))

    assert response.status_code == 403
    assert response.json()["code"] == "api_key_not_allowed"
    assert "session or a JWT" in response.json()["message"]
    assert ApiKey.objects.filter(user=user).count() == 1
    created.api_key.refresh_from_db()
    assert created.api_key.is_active


@pytest.mark.parametrize(
    ("url", "scope"),
    [(reverse("api-orders"), "trade"), (reverse("api-bots"), "bots"), (reverse("api-position-close", args=[uuid.uuid4()]), "trade")],
    ids=["place-order", "create-bot", "close-position"],
)
def test_a_key_lacking_the_scope_is_403_naming_it(client: Client, user: User, url: str, scope: str) -> None:
    created = api_key_create(actor=user, name="monitor", scopes=["read"])

    response = client.post(url, {}, content_type="application/json", headers=api_key_header(created.plaintext))

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "api_key_scope_missing"
    assert f"lacks the '{scope}' scope" in body["message"]
    assert body["extra"] == {"required_scope": scope, "key_scopes": ["read"]}


def test_a_key_with_the_scope_gets_past_the_scope_check(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot", scopes=["bots"])

    response = client.post(reverse("api-bots"), {}, content_type="application/json", headers=api_key_header(created.plaintext))

    assert response.status_code == 400  # the empty body, not the key
    assert "fields" in response.json()["extra"]


def test_a_key_without_read_cannot_read(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot", scopes=["trade"])

    response = client.get(READ_URL, headers=api_key_header(created.plaintext))

    assert response.status_code == 403
    assert response.json()["extra"]["required_scope"] == "read"


def test_creating_a_key_through_the_api_takes_scopes_expiry_and_addresses(client: Client, user: User) -> None:
    response = client.post(
        KEYS_URL,
        {"name": "bot", "scopes": ["read", "bots"], "expires_at": "2099-01-01T00:00:00Z", "allowed_networks": ["10.0.0.0/8"]},
        content_type="application/json",
        headers=bearer(user),
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["scopes"] == ["read", "bots"]
    assert body["expires_at"].startswith("2099-01-01")
    assert body["allowed_networks"] == ["10.0.0.0/8"]
    listed = client.get(KEYS_URL, headers=bearer(user)).json()["results"][0]
    assert listed["scopes"] == ["read", "bots"]


def test_an_unknown_scope_is_a_400_naming_the_field(client: Client, user: User) -> None:
    response = client.post(KEYS_URL, {"name": "bot", "scopes": ["admin"]}, content_type="application/json", headers=bearer(user))

    assert response.status_code == 400
    assert "scopes" in response.json()["extra"]["fields"]


def test_a_key_used_from_an_address_outside_its_allow_list_is_403_saying_so(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot", allowed_networks=["10.0.0.0/8"])

    refused = client.get(READ_URL, headers=api_key_header(created.plaintext), REMOTE_ADDR="198.51.100.4")
    allowed = client.get(READ_URL, headers=api_key_header(created.plaintext), REMOTE_ADDR="10.1.2.3")

    assert refused.status_code == 403
    assert refused.json()["code"] == "api_key_address_refused"
    assert "198.51.100.4" in refused.json()["message"]
    assert allowed.status_code == 200


def test_an_expired_key_is_403_saying_it_expired(client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="bot", expires_at=timezone.now() + timedelta(hours=1))

    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        response = client.get(READ_URL, headers=api_key_header(created.plaintext))

    assert response.status_code == 403
    assert response.json()["code"] == "api_key_expired"


def test_invalid_json_when_creating_a_key_is_a_400_parse_error(client: Client, user: User) -> None:
    response = client.post(KEYS_URL, data="{not json", content_type="application/json", headers=bearer(user))

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not ApiKey.objects.exists()
