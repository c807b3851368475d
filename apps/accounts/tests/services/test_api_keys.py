from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from apps.accounts.enums import AccountsErrorCode
from apps.accounts.models import ApiKey
from apps.accounts.services import MAX_ACTIVE_API_KEYS, ApiKeyRefusedError, api_key_authenticate, api_key_create, api_key_revoke
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import API_KEY_PATTERN
from apps.audit.models import AuditEvent
from apps.core.errors import ConflictError, NotFoundError, ValidationError

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"


def test_a_new_key_is_returned_once_and_only_its_sha256_is_stored() -> None:
    user = UserFactory()

    created = api_key_create(actor=user, name="  grid bot  ")

    assert API_KEY_PATTERN.fullmatch(created.plaintext)
    row = ApiKey.objects.get(pk=created.api_key.pk)
    assert row.name == "grid bot"
    assert row.key_hash == hashlib.sha256(created.plaintext.encode()).hexdigest()
    secret = created.plaintext.split(".", 1)[1]
    stored = [str(getattr(row, field.attname)) for field in ApiKey._meta.concrete_fields]
    assert not any(created.plaintext in value or secret in value for value in stored)
    assert AuditEvent.objects.filter(action="api_key.created", owner=user, target_id=str(row.pk)).exists()


def test_the_key_authenticates_its_owner_and_records_when_it_was_used() -> None:
    user = UserFactory()
    created = api_key_create(actor=user, name="bot")

    api_key = api_key_authenticate(plaintext=created.plaintext, address=ADDRESS)

    assert api_key is not None
    assert api_key.user == user
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute() -> None:
    created = api_key_create(actor=UserFactory(), name="bot")
    recently = timezone.now() - timedelta(seconds=10)
    long_ago = timezone.now() - timedelta(minutes=5)

    ApiKey.objects.filter(pk=created.api_key.pk).update(last_used_at=recently)
    api_key_authenticate(plaintext=created.plaintext, address=ADDRESS)
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at == recently

    ApiKey.objects.filter(pk=created.api_key.pk).update(last_used_at=long_ago)
    api_key_authenticate(plaintext=created.plaintext, address=ADDRESS)
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at > long_ago


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # wrong secret
        lambda key: key.replace("tpk_", "xyz_"),  # wrong scheme
        lambda key: key.split(".")[0],  # no secret
        lambda key: "tpk_000000000000." + key.split(".")[1],  # unknown prefix
        lambda key: "",
    ],
    ids=["wrong-secret", "wrong-scheme", "no-secret", "unknown-prefix", "empty"],
)
def test_a_wrong_or_malformed_key_authenticates_nobody(mangle: Callable[[str], str]) -> None:
    created = api_key_create(actor=UserFactory(), name="bot")

    assert api_key_authenticate(plaintext=mangle(created.plaintext), address=ADDRESS) is None


def test_a_revoked_key_or_a_key_of_a_deactivated_user_authenticates_nobody() -> None:
    user = UserFactory()
    revoked = api_key_create(actor=user, name="old bot")
    api_key_revoke(actor=user, api_key_id=revoked.api_key.pk)
    other = UserFactory()
    deactivated = api_key_create(actor=other, name="bot")
    other.is_active = False
    other.save()

    assert api_key_authenticate(plaintext=revoked.plaintext, address=ADDRESS) is None
    assert api_key_authenticate(plaintext=deactivated.plaintext, address=ADDRESS) is None


def test_revoking_stamps_the_key_and_writes_an_audit_event() -> None:
    user = UserFactory()
    created = api_key_create(actor=user, name="bot")

    revoked = api_key_revoke(actor=user, api_key_id=str(created.api_key.pk))

    assert revoked.revoked_at is not None
    assert not revoked.is_active
    assert AuditEvent.objects.filter(action="api_key.revoked", owner=user).exists()


def test_revoking_twice_is_a_conflict() -> None:
    user = UserFactory()
    created = api_key_create(actor=user, name="bot")
    api_key_revoke(actor=user, api_key_id=created.api_key.pk)

    with pytest.raises(ConflictError) as caught:
        api_key_revoke(actor=user, api_key_id=created.api_key.pk)

    assert caught.value.code == AccountsErrorCode.API_KEY_REVOKED


def test_someone_elses_key_is_not_found_and_stays_active() -> None:
    owner = UserFactory()
    created = api_key_create(actor=owner, name="bot")

    with pytest.raises(NotFoundError):
        api_key_revoke(actor=UserFactory(), api_key_id=created.api_key.pk)

    created.api_key.refresh_from_db()
    assert created.api_key.is_active


@pytest.mark.parametrize("key_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_a_key_id_that_does_not_exist_is_not_found(key_id: str) -> None:
    with pytest.raises(NotFoundError):
        api_key_revoke(actor=UserFactory(), api_key_id=key_id)


def test_a_blank_name_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(actor=UserFactory(), name="   ")

    assert "name" in caught.value.extra["fields"]
    assert not ApiKey.objects.exists()


def test_the_number_of_active_keys_is_capped_and_revoking_one_makes_room() -> None:
    user = UserFactory()
    keys = [api_key_create(actor=user, name=f"bot {n}") for n in range(MAX_ACTIVE_API_KEYS)]

    with pytest.raises(ConflictError) as caught:  # 409: the request is fine, the account's state refuses it
        api_key_create(actor=user, name="one too many")
    assert caught.value.code == AccountsErrorCode.API_KEY_LIMIT

    api_key_revoke(actor=user, api_key_id=keys[0].api_key.pk)
    api_key_create(actor=user, name="replacement")
    assert ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() == MAX_ACTIVE_API_KEYS


def test_a_new_key_reads_only_unless_other_scopes_are_chosen() -> None:
    user = UserFactory()

    assert api_key_create(actor=user, name="monitor").api_key.scopes == ["read"]
    assert api_key_create(actor=user, name="trader", scopes=["bots", "trade", "read"]).api_key.scopes == ["read", "trade", "bots"]


@pytest.mark.parametrize(("scopes", "message"), [([], "Choose at least one scope"), (["admin"], "Unknown scope 'admin'")])
def test_no_scope_or_an_unknown_scope_is_a_field_error(scopes: list[str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(actor=UserFactory(), name="bot", scopes=scopes)

    assert caught.value.extra["fields"]["scopes"][0].startswith(message)
    assert not ApiKey.objects.exists()


def test_an_expired_key_is_refused_saying_it_expired() -> None:
    created = api_key_create(actor=UserFactory(), name="bot", expires_at=timezone.now() + timedelta(days=1))
    ApiKey.objects.filter(pk=created.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(ApiKeyRefusedError) as caught:
        api_key_authenticate(plaintext=created.plaintext, address=ADDRESS)

    assert caught.value.status_code == 403
    assert caught.value.code == AccountsErrorCode.API_KEY_EXPIRED
    assert "expired" in caught.value.message


def test_an_expiry_in_the_past_is_a_field_error() -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(actor=UserFactory(), name="bot", expires_at=timezone.now() - timedelta(minutes=1))

    assert caught.value.extra["fields"]["expires_at"] == ["The expiry must be in the future."]


def test_a_key_with_an_allow_list_works_only_from_those_addresses() -> None:
    created = api_key_create(actor=UserFactory(), name="bot", allowed_networks=[" 203.0.113.0/24 ", "2001:db8::1"])

    assert created.api_key.allowed_networks == ["203.0.113.0/24", "2001:db8::1/128"]
    assert api_key_authenticate(plaintext=created.plaintext, address="203.0.113.99") is not None
    assert api_key_authenticate(plaintext=created.plaintext, address="2001:db8::1") is not None
    with pytest.raises(ApiKeyRefusedError) as caught:
        api_key_authenticate(plaintext=created.plaintext, address="198.51.100.1")
    assert caught.value.code == AccountsErrorCode.API_KEY_ADDRESS_REFUSED
    assert "198.51.100.1" in caught.value.message


def test_an_allow_list_entry_that_is_not_an_address_is_a_field_error() -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(actor=UserFactory(), name="bot", allowed_networks=["office"])

    assert "'office' is not an IP address or network" in caught.value.extra["fields"]["allowed_networks"][0]


def test_the_database_refuses_a_key_without_scopes() -> None:
    created = api_key_create(actor=UserFactory(), name="bot")

    with pytest.raises(IntegrityError):
        ApiKey.objects.filter(pk=created.api_key.pk).update(scopes=[])
