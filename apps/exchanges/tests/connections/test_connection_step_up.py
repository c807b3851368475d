"""With two-factor on, saving or changing an exchange connection needs a fresh code."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import bearer, enable_two_factor, totp_code
from apps.exchanges.models import ApiConnection
from apps.exchanges.services import api_connection_create
from apps.exchanges.tests.factories import ExchangeFactory

pytestmark = pytest.mark.django_db

FORM = {"exchange": "BINANCE", "label": "desk", "api_key": "key-123", "secret": "secret-456"}
API = "/api/v1/api-connections/"


@pytest.fixture(autouse=True)
def _binance() -> None:
    ExchangeFactory(code="BINANCE")


def test_the_page_asks_for_a_code_and_refuses_the_connection_without_one(client: Client) -> None:
    user = UserFactory()
    enable_two_factor(user)
    client.force_login(user)

    assert "Two-factor code" in client.get("/connections/").content.decode()
    missing = client.post("/connections/", FORM)
    wrong = client.post("/connections/", {**FORM, "otp": "000000"})

    assert missing.status_code == wrong.status_code == 400
    assert "This change needs a fresh two-factor code" in missing.content.decode()
    assert "The two-factor code is wrong or has expired" in wrong.content.decode()
    assert not ApiConnection.objects.exists()


def test_a_fresh_code_saves_the_connection_and_covers_the_next_minutes_only(client: Client) -> None:
    user = UserFactory()
    secret, _codes = enable_two_factor(user)
    client.force_login(user)

    saved = client.post("/connections/", {**FORM, "otp": totp_code(secret)})
    assert saved.status_code == 200
    assert "Saved desk" in saved.content.decode()
    assert "Two-factor code" not in saved.content.decode()  # fresh: not asked again
    again = client.post("/connections/", {**FORM, "label": "desk 2"})
    assert again.status_code == 200

    with time_machine.travel(time.time() + settings.TWO_FACTOR_STEP_UP_SECONDS + 1, tick=False):
        late = client.post("/connections/", {**FORM, "label": "desk 3"})
    assert late.status_code == 400
    assert ApiConnection.objects.filter(owner=user).count() == 2


def test_without_two_factor_no_code_is_asked(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)

    assert "Two-factor code" not in client.get("/connections/").content.decode()
    assert client.post("/connections/", FORM).status_code == 200


def test_the_api_needs_the_code_in_otp_to_create_or_change_a_connection(client: Client) -> None:
    user = UserFactory()
    secret, _codes = enable_two_factor(user)
    connection = api_connection_create(actor=user, exchange=ExchangeFactory(code="BINANCE"), label="main", api_key="k", secret="s")
    headers = bearer(user)

    refused = client.post(API, FORM, content_type="application/json", headers=headers)
    changed_without = client.patch(f"{API}{connection.pk}/", {"label": "renamed"}, content_type="application/json", headers=headers)
    created = client.post(API, {**FORM, "otp": totp_code(secret)}, content_type="application/json", headers=headers)
    changed = client.patch(f"{API}{connection.pk}/", {"label": "renamed", "otp": totp_code(secret, 1)}, content_type="application/json", headers=headers)

    assert refused.status_code == changed_without.status_code == 403
    assert refused.json()["code"] == "otp_required"
    assert "otp" in refused.json()["extra"]["fields"]
    assert created.status_code == 201, created.json()
    assert changed.status_code == 200, changed.json()
    assert changed.json()["label"] == "renamed"
