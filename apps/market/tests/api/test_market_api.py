"""Tickers and order books over the API: the live store when the stream runs, else the venue (SIM)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import api_key_header, bearer
from apps.market.services.demo import sim_symbols_prepare

pytestmark = pytest.mark.django_db


@pytest.fixture
def headers() -> dict[str, str]:
    sim_symbols_prepare()
    return bearer(UserFactory())


def test_tickers_of_every_sim_symbol_with_prices_as_strings(client, headers) -> None:
    response = client.get("/api/v1/tickers/", {"exchange": "sim"}, headers=headers)

    assert response.status_code == 200
    body = response.json()
    assert body["exchange"] == "SIM"
    assert [t["symbol"] for t in body["tickers"]] == ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT", "ETH/USDT:USDT", "SOL/USDT"]
    for ticker in body["tickers"]:
        assert isinstance(ticker["last"], str) and Decimal(ticker["last"]) > 0
        assert Decimal(ticker["bid"]) <= Decimal(ticker["last"]) <= Decimal(ticker["ask"])
        assert Decimal(ticker["low_24h"]) <= Decimal(ticker["last"]) <= Decimal(ticker["high_24h"])
        assert ticker["change_24h_percent"] is not None and ticker["timestamp"]


def test_an_api_key_works_as_well_as_a_token(client, headers) -> None:
    created = api_key_create(actor=UserFactory(), name="price bot")

    response = client.get("/api/v1/tickers/", {"exchange": "SIM"}, headers=api_key_header(created.plaintext))

    assert response.status_code == 200
    assert len(response.json()["tickers"]) == 5


def test_market_data_needs_authentication(client, headers) -> None:
    assert client.get("/api/v1/tickers/", {"exchange": "SIM"}).status_code == 401
    assert client.get("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "BTC/USDT"}).status_code == 401
    assert client.get("/api/v1/tickers/", {"exchange": "SIM"}, headers={"Authorization": "Api-Key tpk_000000000000.nope"}).status_code == 401


def test_the_order_book_has_exactly_the_depth_asked_for(client, headers) -> None:
    response = client.get("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "BTC/USDT", "depth": 5}, headers=headers)

    assert response.status_code == 200
    book = response.json()
    assert book["exchange"] == "SIM" and book["symbol"] == "BTC/USDT"
    assert len(book["bids"]) == len(book["asks"]) == 5
    bids = [Decimal(price) for price, _ in book["bids"]]
    asks = [Decimal(price) for price, _ in book["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(isinstance(quantity, str) and Decimal(quantity) > 0 for _, quantity in book["bids"] + book["asks"])


def test_the_order_book_defaults_to_20_levels_and_accepts_the_slug(client, headers) -> None:
    book = client.get("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "ETH-USDT-PERP"}, headers=headers).json()

    assert book["symbol"] == "ETH/USDT:USDT"
    assert len(book["bids"]) == len(book["asks"]) == 20


@pytest.mark.parametrize(
    ("path", "params", "status", "field", "text"),
    [
        ("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "BTC/USDT", "depth": "0"}, 400, "depth", "depth must be between 1 and 100, got 0"),
        ("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "BTC/USDT", "depth": "500"}, 400, "depth", "depth must be between 1 and 100, got 500"),
        ("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "BTC/USDT", "depth": "ten"}, 400, "depth", "depth must be a whole number"),
        ("/api/v1/orderbook/", {"exchange": "SIM", "symbol": "XRP/JPY"}, 404, "symbol", "Unknown symbol 'XRP/JPY' on SIM"),
        ("/api/v1/orderbook/", {"exchange": "SIM"}, 400, "symbol", "'symbol' parameter is required"),
        ("/api/v1/orderbook/", {"exchange": "NOPE", "symbol": "BTC/USDT"}, 404, "exchange", "Unknown exchange 'NOPE'"),
        ("/api/v1/tickers/", {}, 400, "exchange", "'exchange' parameter is required"),
        ("/api/v1/tickers/", {"exchange": "NOPE"}, 404, "exchange", "Unknown exchange 'NOPE'"),
    ],
)
def test_bad_parameters_are_4xx_naming_the_parameter(client, headers, path, params, status, field, text) -> None:
    response = client.get(path, params, headers=headers)

    assert response.status_code == status
    body = response.json()
    assert text in body["message"]
    assert field in body["extra"]["fields"]
