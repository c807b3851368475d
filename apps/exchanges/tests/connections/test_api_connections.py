"""API connections: stored encrypted, never shown again, verified against the venue's own protocol."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings

from apps.accounts.tests.factories import StaffUserFactory, UserFactory
from apps.accounts.tests.helpers import bearer
from apps.audit.models import AuditEvent
from apps.exchanges.models import ApiConnection
from apps.exchanges.services import api_connection_create, api_connection_verify
from apps.exchanges.tests.factories import ExchangeFactory
from tests.venues import binance
from tests.venues.fixtures import binance_server  # noqa: F401

pytestmark = pytest.mark.django_db


def _point_at(venue):  # type: ignore[no-untyped-def]
    return override_settings(EXCHANGE_REST_BASE_URL=venue.rest_url, EXCHANGE_WS_BASE_URL=venue.ws_url)


def _connection(user, secret: str = binance.SECRET) -> ApiConnection:  # type: ignore[no-untyped-def]
    return api_connection_create(actor=user, exchange=ExchangeFactory(code="BINANCE"), label="main", api_key=binance.API_KEY, secret=secret)


def test_verify_marks_the_connection_verified_when_the_venue_accepts_the_signature(binance_server) -> None:  # noqa: F811
    user = UserFactory()
    connection = _connection(user)

    with _point_at(binance_server):
        verified = api_connection_verify(actor=user, connection_id=connection.pk)

    assert verified.status == "verified"
    assert verified.last_verified_at is not None
    assert "accepted" in verified.status_detail
    assert binance_server.control.count("/api/v3/account") == 1
    assert AuditEvent.objects.filter(action="api_connection.verified", target_id=str(connection.pk)).exists()


def test_a_wrong_secret_is_reported_as_rejected_by_the_venue(binance_server) -> None:  # noqa: F811
    user = UserFactory()
    connection = _connection(user, secret="not-the-secret")

    with _point_at(binance_server):
        result = api_connection_verify(actor=user, connection_id=connection.pk)

    assert result.status == "failed"
    assert result.status_detail.startswith("Rejected")
    assert "not-the-secret" not in result.status_detail


def test_secrets_never_appear_in_api_responses_pages_admin_or_logs(client, binance_server, caplog) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    user = UserFactory()
    headers = bearer(user)

    created = client.post(
        "/api/v1/api-connections/",
        {"exchange": "BINANCE", "label": "main", "api_key": binance.API_KEY, "secret": binance.SECRET},
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 201, created.content
    connection_id = created.json()["id"]
    with _point_at(binance_server):
        verified = client.post(f"/api/v1/api-connections/{connection_id}/verify/", headers=headers)
    listed = client.get("/api/v1/api-connections/", headers=headers)
    client.force_login(user)
    page = client.get("/connections/")
    staff = StaffUserFactory(is_superuser=True)
    client.force_login(staff)
    admin_page = client.get(f"/admin/exchanges/apiconnection/{connection_id}/change/")

    assert verified.json()["status"] == "verified"
    assert admin_page.status_code == 200
    for response in (created, verified, listed, page, admin_page):
        body = response.content.decode()
        assert binance.SECRET not in body
        assert binance.API_KEY not in body
        assert "credentials_encrypted" not in body
    assert binance.SECRET not in caplog.text
    assert created.json()["api_key_hint"] == "…7f3a"


def test_the_api_refuses_bad_input_with_field_errors(client) -> None:
    headers = bearer(UserFactory())

    missing = client.post("/api/v1/api-connections/", {"exchange": "BINANCE", "label": "x"}, content_type="application/json", headers=headers)
    assert missing.status_code == 400
    assert {"api_key", "secret"} <= set(missing.json()["extra"]["fields"])

    okx = client.post(
        "/api/v1/api-connections/", {"exchange": "OKX", "label": "o", "api_key": "k", "secret": "s"}, content_type="application/json", headers=headers
    )
    assert okx.status_code == 400
    assert "passphrase" in okx.json()["extra"]["fields"]

    sim = client.post(
        "/api/v1/api-connections/", {"exchange": "SIM", "label": "s", "api_key": "k", "secret": "s"}, content_type="application/json", headers=headers
    )
    assert sim.status_code == 400
    assert "paper account" in sim.json()["message"]

    unknown = client.post(
        "/api/v1/api-connections/", {"exchange": "KRAKEN", "label": "k", "api_key": "k", "secret": "s"}, content_type="application/json", headers=headers
    )
    assert unknown.status_code == 404
    assert "KRAKEN" in unknown.json()["message"]


def test_another_users_connection_is_invisible(client) -> None:
    owner, intruder = UserFactory(), UserFactory()
    connection = _connection(owner)
    headers = bearer(intruder)

    assert client.get(f"/api/v1/api-connections/{connection.pk}/", headers=headers).status_code == 404
    assert client.post(f"/api/v1/api-connections/{connection.pk}/verify/", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/api-connections/{connection.pk}/", headers=headers).status_code == 404
    assert client.get("/api/v1/api-connections/", headers=headers).json()["results"] == []
    assert ApiConnection.objects.filter(pk=connection.pk).exists()


def test_new_credentials_replace_the_old_and_need_verifying_again(client, binance_server) -> None:  # noqa: F811
    user = UserFactory()
    connection = _connection(user)
    with _point_at(binance_server):
        api_connection_verify(actor=user, connection_id=connection.pk)

    response = client.patch(f"/api/v1/api-connections/{connection.pk}/", {"secret": "rotated-secret"}, content_type="application/json", headers=bearer(user))

    assert response.status_code == 200
    assert response.json()["status"] == "unverified"


def test_deleting_hides_the_connection_but_keeps_it_for_the_audit_trail(client) -> None:
    user = UserFactory()
    connection = _connection(user)

    assert client.delete(f"/api/v1/api-connections/{connection.pk}/", headers=bearer(user)).status_code == 204
    assert not ApiConnection.objects.filter(pk=connection.pk).exists()
    assert ApiConnection.all_objects.filter(pk=connection.pk).exists()


def test_the_settings_page_saves_and_verifies_a_connection(client, binance_server) -> None:  # noqa: F811
    user = UserFactory()
    client.force_login(user)

    saved = client.post("/connections/", {"exchange": "BINANCE", "label": "desk", "api_key": binance.API_KEY, "secret": binance.SECRET})
    assert saved.status_code == 200
    assert "Saved desk" in saved.content.decode()
    connection = ApiConnection.objects.get(owner=user, label="desk")
    with _point_at(binance_server):
        verified = client.post(f"/connections/{connection.pk}/verify/", HTTP_HX_REQUEST="true")

    assert "Verified" in verified.content.decode()
    assert binance.SECRET not in verified.content.decode()
    bad = client.post("/connections/", {"exchange": "BINANCE", "label": "", "api_key": "", "secret": ""})
    assert bad.status_code == 400
    assert "This field is required." in bad.content.decode()
