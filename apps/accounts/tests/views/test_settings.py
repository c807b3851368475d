from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import API_KEY_PATTERN
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

SETTINGS_URL = reverse("accounts:settings")
CREATE_KEY_URL = reverse("accounts:api_key_create")


def _preferences(user: User, **overrides: str) -> dict[str, str]:
    return {
        "display_name": user.display_name,
        "time_zone": user.time_zone,
        "quote_currency": user.quote_currency,
        "theme": user.theme,
        **overrides,
    }


def test_the_settings_page_needs_a_sign_in(client: Client) -> None:
    response = client.get(SETTINGS_URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={SETTINGS_URL}"


def test_saved_preferences_change_how_pages_look_and_are_audited(signed_in_client: Client, user: User) -> None:
    response = signed_in_client.post(
        SETTINGS_URL,
        _preferences(user, time_zone="Europe/Berlin", quote_currency="EUR", theme="dark"),
        follow=True,
    )

    assert response.redirect_chain == [(SETTINGS_URL, 302)]
    assert "Preferences saved." in response.content.decode()
    user.refresh_from_db()
    assert (user.time_zone, user.quote_currency, user.theme) == ("Europe/Berlin", "EUR", "dark")
    dashboard = signed_in_client.get(reverse("home:dashboard")).content.decode()
    assert 'data-theme="dark"' in dashboard
    assert "totals in EUR · times in Europe/Berlin." in dashboard
    event = AuditEvent.objects.get(action="user.preferences_changed")
    assert event.owner_id == user.pk
    assert event.changes == {
        "time_zone": ["UTC", "Europe/Berlin"],
        "quote_currency": ["USDT", "EUR"],
        "theme": ["auto", "dark"],
    }


def test_saving_unchanged_preferences_adds_nothing_to_the_audit_trail(signed_in_client: Client, user: User) -> None:
    response = signed_in_client.post(SETTINGS_URL, _preferences(user))

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="user.preferences_changed").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_zone", "Mars/Olympus_Mons"), ("quote_currency", "DOGE"), ("theme", "neon")],
)
def test_an_unknown_choice_is_a_form_error_and_nothing_is_saved(signed_in_client: Client, user: User, field: str, value: str) -> None:
    response = signed_in_client.post(SETTINGS_URL, _preferences(user, **{field: value}))

    assert response.status_code == 400
    assert f"Select a valid choice. {value} is not one of the available choices." in response.content.decode()
    user.refresh_from_db()
    assert getattr(user, field) != value
    assert not AuditEvent.objects.filter(action="user.preferences_changed").exists()


def test_a_new_api_key_is_shown_once_and_only_its_hash_is_kept(signed_in_client: Client, user: User) -> None:
    response = signed_in_client.post(CREATE_KEY_URL, {"name": "grid bot", "scopes": ["read"]})

    assert response.status_code == 200
    match = API_KEY_PATTERN.search(response.content.decode())
    assert match, "the new key is not on the page"
    plaintext = match.group(0)
    row = ApiKey.objects.get(user=user)
    assert row.name == "grid bot"
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    secret = plaintext.split(".", 1)[1]
    stored = [str(getattr(row, field.attname)) for field in ApiKey._meta.concrete_fields]
    assert not any(plaintext in value or secret in value for value in stored)

    again = signed_in_client.get(SETTINGS_URL).content.decode()
    assert plaintext not in again
    assert secret not in again
    assert "grid bot" in again
    assert f"tpk_{row.prefix}" in again


def test_htmx_gets_only_the_api_keys_section_back(signed_in_client: Client) -> None:
    response = signed_in_client.post(CREATE_KEY_URL, {"name": "grid bot", "scopes": ["read"]}, headers={"HX-Request": "true"})

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<section id="api-keys">')
    assert "<html" not in content
    assert API_KEY_PATTERN.search(content)


def test_a_key_without_a_name_is_a_form_error(signed_in_client: Client) -> None:
    response = signed_in_client.post(CREATE_KEY_URL, {"name": "   ", "scopes": ["read"]})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_revoking_a_key_from_the_page_marks_it_revoked(signed_in_client: Client, user: User) -> None:
    created = api_key_create(actor=user, name="old bot")

    response = signed_in_client.post(reverse("accounts:api_key_revoke", args=[created.api_key.pk]), follow=True)

    assert response.redirect_chain == [(SETTINGS_URL, 302)]
    created.api_key.refresh_from_db()
    assert not created.api_key.is_active
    assert "revoked" in response.content.decode()
    assert AuditEvent.objects.filter(action="api_key.revoked", owner=user).exists()


def test_you_cannot_revoke_someone_elses_key(signed_in_client: Client) -> None:
    owner = UserFactory()
    created = api_key_create(actor=owner, name="their bot")

    response = signed_in_client.post(reverse("accounts:api_key_revoke", args=[created.api_key.pk]), follow=True)

    content = response.content.decode()
    assert "No such API key." in content
    assert "their bot" not in content
    created.api_key.refresh_from_db()
    assert created.api_key.is_active
    assert not AuditEvent.objects.filter(action="api_key.revoked").exists()


def test_each_user_sees_only_their_own_keys(signed_in_client: Client, user: User) -> None:
    api_key_create(actor=user, name="my bot")
    api_key_create(actor=UserFactory(), name="their bot")

    content = signed_in_client.get(SETTINGS_URL).content.decode()

    assert "my bot" in content
    assert "their bot" not in content


def test_scopes_expiry_and_addresses_chosen_on_the_page_are_kept_and_listed(signed_in_client: Client, user: User) -> None:
    response = signed_in_client.post(
        CREATE_KEY_URL,
        {"name": "grid bot", "scopes": ["read", "bots"], "expires_in_days": "30", "allowed_networks": "203.0.113.7, 10.0.0.0/8"},
    )

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    row = ApiKey.objects.get(user=user)
    assert row.scopes == ["read", "bots"]
    assert row.allowed_networks == ["203.0.113.7/32", "10.0.0.0/8"]
    assert row.expires_at is not None
    page = signed_in_client.get(SETTINGS_URL).content.decode()
    assert "read, bots" in page
    assert "203.0.113.7/32, 10.0.0.0/8" in page


def test_a_key_with_no_scope_or_a_bad_address_is_a_form_error(signed_in_client: Client) -> None:
    no_scope = signed_in_client.post(CREATE_KEY_URL, {"name": "bot"})
    bad_address = signed_in_client.post(CREATE_KEY_URL, {"name": "bot", "scopes": ["read"], "allowed_networks": "office"})

    assert no_scope.status_code == 400
    assert "Choose at least one scope (read, trade, bots)." in no_scope.content.decode()
    assert bad_address.status_code == 400
    assert "&#x27;office&#x27; is not an IP address or network" in bad_address.content.decode()
    assert not ApiKey.objects.exists()


def test_sign_out_everywhere_ends_this_and_every_other_session(client: Client, user: User) -> None:
    other = Client()
    other.force_login(user)
    client.force_login(user)

    response = client.post(reverse("accounts:sign_out_everywhere"))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert client.get(SETTINGS_URL).status_code == 302
    assert other.get(SETTINGS_URL).status_code == 302
    assert AuditEvent.objects.filter(action="user.signed_out_everywhere", owner=user).exists()


def test_the_settings_page_offers_two_factor_setup_and_sign_out_everywhere(signed_in_client: Client) -> None:
    page = signed_in_client.get(SETTINGS_URL).content.decode()

    assert "Set up two-factor authentication" in page
    assert "Sign out everywhere" in page
