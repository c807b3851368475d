"""Malformed requests answer 4xx with the error body, never a 500 or an HTML page."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.orders.tests.factories import JsonApi, sim_markets

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Client) -> JsonApi:
    sim_markets()
    return JsonApi(client, UserFactory())


def _error_body(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    return body


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/v1/orders/", {"symbol": "\x00"}),
        ("/api/v1/symbols/", {"exchange": "\x00"}),
        ("/api/v1/candles/", {"exchange": "SIM", "symbol": "\x00", "timeframe": "1m"}),
        ("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "\x00"}),
        ("/api/v1/tickers/", {"exchange": "\x00"}),
        ("/api/v1/orders/", {"since": "99999999999999999999"}),
        ("/api/v1/candles/", {"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m", "start": "99999999999999999999"}),
        ("/api/v1/candles/", {"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m", "end": "9999999999999999"}),
        ("/api/v1/fills/", {"since": "-1"}),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_parameter(api: JsonApi, url: str, params: dict[str, str]) -> None:
    response = api.get(url, params)

    assert response.status_code == 400, response.content[:300]
    assert _error_body(response)["code"] == "invalid"


def test_a_nul_in_a_query_parameter_names_the_parameter(api: JsonApi) -> None:
    response = api.get("/api/v1/orders/", {"symbol": "BTC\x00"})

    body = _error_body(response)
    assert body["extra"]["fields"] == {"symbol": ["The 'symbol' parameter contains a NUL character."]}


def test_a_nul_in_a_page_query_is_a_400_page(client: Client) -> None:
    client.force_login(UserFactory())

    response = client.get("/orders/", {"symbol": "\x00"})

    assert response.status_code == 400
    assert b"NUL character" in response.content


def test_a_body_of_100000_nested_arrays_is_a_400(api: JsonApi) -> None:
    body = "[" * 100_000 + "]" * 100_000

    response = api.client.post("/api/v1/orders/", body, content_type="application/json", headers=api.headers)

    assert response.status_code == 400
    assert _error_body(response)["code"] == "too_deeply_nested"


def test_brackets_inside_strings_do_not_count_as_nesting(api: JsonApi) -> None:
    body = '{"client_order_id": "' + "[" * 100 + '\\"]]]", "account": "x"}'

    response = api.client.post("/api/v1/orders/", body, content_type="application/json", headers=api.headers)

    assert response.status_code == 400
    assert _error_body(response)["code"] == "invalid"


def test_a_10_mb_body_is_a_413_with_the_error_body(api: JsonApi) -> None:
    body = '{"note": "' + "x" * 10_000_000 + '"}'

    response = api.client.post("/api/v1/orders/", body, content_type="application/json", headers=api.headers)

    assert response.status_code == 413
    assert _error_body(response)["code"] == "payload_too_large"


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_urls_answer_the_error_body_whatever_debug_says(api: JsonApi, settings, debug: bool) -> None:
    settings.DEBUG = debug

    for url in ("/api/v1/no-such-thing/", "/api/nothing", "/api/v1/orders/not-a-uuid/"):
        response = api.get(url)

        assert response.status_code == 404, url
        assert _error_body(response)["code"] == "not_found"


@pytest.mark.parametrize("debug", [False, True])
def test_more_query_parameters_than_django_parses_is_a_400_with_the_error_body(api: JsonApi, settings, debug: bool) -> None:
    settings.DEBUG = debug
    too_many_fields = "&".join(f"f{n}=1" for n in range(1_100))

    response = api.client.get(f"/api/v1/orders/?{too_many_fields}", headers=api.headers)

    assert response.status_code == 400
    assert _error_body(response)["code"] == "invalid"
