"""Two-factor pages: setup with a QR code, sign-in asking for the code, turning it off, staff who must use it."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.models import ApiKey, User
from apps.accounts.services import two_factor_enabled
from apps.accounts.tests.factories import DEFAULT_PASSWORD, StaffUserFactory, UserFactory
from apps.accounts.tests.helpers import enable_two_factor, totp_code
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("accounts:login")
TWO_FACTOR_URL = reverse("accounts:login_two_factor")
SETUP_URL = reverse("accounts:two_factor_setup")
DISABLE_URL = reverse("accounts:two_factor_disable")
SETTINGS_URL = reverse("accounts:settings")
DASHBOARD_URL = reverse("home:dashboard")


def _password_step(client: Client, user: User, **extra: str) -> object:
    return client.post(LOGIN_URL, {"email": user.email, "password": DEFAULT_PASSWORD, **extra})


def test_setup_shows_a_qr_code_and_the_manual_key_and_a_first_code_turns_it_on(signed_in_client: Client, user: User) -> None:
    page = signed_in_client.get(SETUP_URL)
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0")
    secret = re.search(r'data-testid="two-factor-secret">([A-Z2-7]+)<', page.content.decode()).group(1)  # type: ignore[union-attr]
    qr = signed_in_client.get(reverse("accounts:two_factor_qr"))
    assert qr["Content-Type"] == "image/svg+xml"
    assert qr.content.startswith(b"<?xml") or b"<svg" in qr.content[:200]

    response = signed_in_client.post(SETUP_URL, {"code": pyotp.TOTP(secret).now()})

    assert response.status_code == 200
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", response.content.decode())
    assert len(codes) == 10
    assert two_factor_enabled(user=user)
    assert signed_in_client.get(SETTINGS_URL).status_code == 200  # this session stays signed in
    assert "10 recovery codes left" in signed_in_client.get(SETTINGS_URL).content.decode()


def test_a_wrong_first_code_is_a_form_error(signed_in_client: Client, user: User) -> None:
    signed_in_client.get(SETUP_URL)

    response = signed_in_client.post(SETUP_URL, {"code": "000000"})

    assert response.status_code == 400
    assert "The two-factor code is wrong or has expired" in response.content.decode()
    assert not two_factor_enabled(user=user)


def test_turning_two_factor_on_ends_other_sessions(signed_in_client: Client, user: User) -> None:
    other = Client()
    other.force_login(user)

    enable_two_factor(user)

    assert other.get(SETTINGS_URL).status_code == 302


def test_sign_in_asks_for_the_code_after_the_password_and_signs_in_only_with_it(client: Client, user: User) -> None:
    secret, _codes = enable_two_factor(user)

    first = _password_step(client, user, next=SETTINGS_URL)
    assert first.status_code == 302
    assert first["Location"] == TWO_FACTOR_URL
    assert client.get(SETTINGS_URL).status_code == 302  # not signed in yet

    wrong = client.post(TWO_FACTOR_URL, {"otp": "000000"})
    assert wrong.status_code == 400
    assert "The two-factor code is wrong or has expired" in wrong.content.decode()

    right = client.post(TWO_FACTOR_URL, {"otp": totp_code(secret)})
    assert right.status_code == 302
    assert right["Location"] == SETTINGS_URL
    assert client.get(SETTINGS_URL).status_code == 200


def test_a_recovery_code_signs_in_once(client: Client, user: User) -> None:
    _secret, codes = enable_two_factor(user)

    _password_step(client, user)
    assert client.post(TWO_FACTOR_URL, {"otp": codes[0]}).status_code == 302
    client.post(reverse("accounts:logout"))

    _password_step(client, user)
    reused = client.post(TWO_FACTOR_URL, {"otp": codes[0]})
    assert reused.status_code == 400
    assert "This recovery code has already been used" in reused.content.decode()


def test_wrong_codes_count_towards_the_sign_in_throttle(client: Client, user: User) -> None:
    secret, _codes = enable_two_factor(user)
    _password_step(client, user)

    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(TWO_FACTOR_URL, {"otp": "000000"})
    response = client.post(TWO_FACTOR_URL, {"otp": totp_code(secret)})

    assert response.status_code == 400
    assert "Too many failed sign-in attempts. Try again in 1 minute." in response.content.decode()


def test_the_code_page_without_a_password_first_goes_back_to_sign_in(client: Client) -> None:
    response = client.get(TWO_FACTOR_URL)

    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL


def test_turning_two_factor_off_needs_a_code(signed_in_client: Client, user: User) -> None:
    secret, _codes = enable_two_factor(user)
    signed_in_client.force_login(user)

    missing = signed_in_client.post(DISABLE_URL, {"code": ""})
    wrong = signed_in_client.post(DISABLE_URL, {"code": "000000"})
    assert missing.status_code == wrong.status_code == 400
    assert two_factor_enabled(user=user)

    done = signed_in_client.post(DISABLE_URL, {"code": totp_code(secret)})

    assert done.status_code == 302
    assert not two_factor_enabled(user=user)
    assert AuditEvent.objects.filter(action="two_factor.disabled", owner=user).exists()
    assert signed_in_client.get(SETTINGS_URL).status_code == 200


def test_a_trade_key_needs_a_fresh_code_but_a_read_key_does_not(client: Client, user: User) -> None:
    secret, _codes = enable_two_factor(user)
    client.force_login(user)  # a session without a fresh code
    create_url = reverse("accounts:api_key_create")

    read_key = client.post(create_url, {"name": "monitor", "scopes": ["read"]})
    refused = client.post(create_url, {"name": "trader", "scopes": ["read", "trade"]})
    wrong = client.post(create_url, {"name": "trader", "scopes": ["read", "trade"], "otp": "000000"})
    made = client.post(create_url, {"name": "trader", "scopes": ["read", "trade"], "otp": totp_code(secret)})

    assert read_key.status_code == 200
    assert refused.status_code == wrong.status_code == 400
    assert "This change needs a fresh two-factor code" in refused.content.decode()
    assert made.status_code == 200
    assert sorted(ApiKey.objects.filter(user=user).values_list("name", flat=True)) == ["monitor", "trader"]


@override_settings(REQUIRE_STAFF_2FA=True)
def test_staff_without_two_factor_are_sent_to_set_it_up() -> None:
    staff = StaffUserFactory()
    client = Client()

    signed_in = client.post(LOGIN_URL, {"email": staff.email, "password": DEFAULT_PASSWORD})
    assert signed_in["Location"] == SETUP_URL
    for url in (DASHBOARD_URL, SETTINGS_URL, reverse("admin:index")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == SETUP_URL
    assert "Staff accounts must use two-factor authentication" in client.get(SETUP_URL).content.decode()

    enable_two_factor(staff)
    client.force_login(staff)
    assert client.get(DASHBOARD_URL).status_code == 200


@override_settings(REQUIRE_STAFF_2FA=True)
def test_traders_are_not_asked_to_set_up_two_factor(signed_in_client: Client) -> None:
    assert signed_in_client.get(DASHBOARD_URL).status_code == 200


def test_the_admin_signs_in_through_the_platform_sign_in_page(client: Client) -> None:
    response = client.get(reverse("admin:login"))

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN_URL}?next=")


def test_staff_with_two_factor_cannot_skip_it_through_the_admin(client: Client) -> None:
    staff = StaffUserFactory(is_superuser=True)
    enable_two_factor(staff)

    client.post(reverse("admin:login"), {"username": staff.email, "password": DEFAULT_PASSWORD})

    assert client.get(reverse("admin:index")).status_code == 302
    assert UserFactory._meta.model.objects.filter(pk=staff.pk).exists()
