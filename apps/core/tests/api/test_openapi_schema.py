"""The schema /api/schema/ serves documents every operation's errors with the error body, and the limits the server enforces."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

ERROR_BODY = {"$ref": "#/components/schemas/ErrorOutput"}
UNAUTHENTICATED = {("/api/v1/auth/token/", "post"), ("/api/v1/auth/token/refresh/", "post"), ("/api/v1/auth/logout/", "post")}


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_documents_its_errors_with_the_error_body(schema) -> None:
    for path, method, operation in _operations(schema):
        expected = {"400", "404", "429", "503"}
        if (path, method) not in UNAUTHENTICATED:
            expected |= {"401", "403"}
        if method in {"post", "put", "patch", "delete"}:
            expected |= {"409", "413", "422"}
        responses = operation["responses"]
        assert expected <= set(responses), (method, path, sorted(responses))
        for code in expected:
            assert responses[code]["content"]["application/json"]["schema"] == ERROR_BODY, (method, path, code)
            assert responses[code]["description"], (method, path, code)
        for code in ("429", "503"):
            assert "Retry-After" in responses[code]["headers"], (method, path, code)


def test_required_fields_and_enforced_ranges_are_in_the_schema(schema) -> None:
    components = schema["components"]["schemas"]
    order = components["OrderCreateInputRequest"]
    assert set(order["required"]) == {"account", "symbol", "side", "order_type"}
    assert [alternative["required"] for alternative in order["oneOf"]] == [["quantity"], ["quote_amount"]]
    quantity = re.compile(order["properties"]["quantity"]["pattern"])
    assert quantity.match("0.001") and quantity.match("999999999999999")
    assert not quantity.match("0") and not quantity.match("-1") and not quantity.match("1000000000000000") and not quantity.match("١")
    assert order["properties"]["leverage"]["minimum"] == 1 and order["properties"]["leverage"]["maximum"] == 125
    assert order["properties"]["client_order_id"]["oneOf"][0]["pattern"] == "^[A-Za-z0-9_-]{1,36}$"
    risk = components["RiskLimitsInputRequest"]["properties"]
    assert (risk["max_leverage"]["minimum"], risk["max_leverage"]["maximum"], risk["max_open_positions"]["minimum"]) == (1, 125, 1)
    candles = next(op for path, method, op in _operations(schema) if path == "/api/v1/candles/")
    limit = next(p for p in candles["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 5000)
    exchange = next(p for p in candles["parameters"] if p["name"] == "exchange")
    assert exchange["required"] and exchange["schema"]["minLength"] == 1


def test_the_order_placement_documents_the_idempotent_replayed_header(schema) -> None:
    responses = schema["paths"]["/api/v1/orders/"]["post"]["responses"]
    for code in ("200", "201"):
        assert set(responses[code]["headers"]["Idempotent-Replayed"]["schema"]["enum"]) == {"true", "false"}
