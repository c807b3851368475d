"""Every API error has the body {"code", "message", "extra"}."""

import pytest

from apps.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_invalid_json_is_a_400_with_the_error_body(client) -> None:
    client.force_login(UserFactory())

    response = client.patch("/api/v1/me/", data="{not json", content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert set(body) == {"code", "message", "extra"}


def test_invalid_fields_name_the_field(client) -> None:
    client.force_login(UserFactory())

    response = client.patch("/api/v1/me/", data={"theme": "neon"}, content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "theme" in body["extra"]["fields"]
    assert body["message"].startswith("theme:")


def test_unauthenticated_calls_get_401_with_the_error_body(client) -> None:
    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert response.json()["code"] in {"not_authenticated", "authentication_failed"}


def test_unknown_api_urls_get_json_404(client) -> None:
    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_openapi_schema_and_docs_are_served(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/me/" in schema.content.decode()
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
