"""The exchanges and symbols endpoints: what a client needs to know before it asks for prices or trades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import api_key_header, bearer
from apps.exchanges.enums import ExchangeStatus
from apps.exchanges.models import Exchange, Symbol
from apps.exchanges.selectors import builtin_exchange
from apps.exchanges.services import exchange_set_status
from apps.market.services.demo import sim_symbols_prepare

pytestmark = pytest.mark.django_db


@pytest.fixture
def headers() -> dict[str, str]:
    return bearer(UserFactory())


# Exchanges -----------------------------------------------------------------------------


def test_exchanges_list_the_four_venues_with_status_and_capabilities(client, headers) -> None:
    exchange_set_status(exchange=builtin_exchange("OKX"), status=ExchangeStatus.DOWN, detail="maintenance")

    response = client.get("/api/v1/exchanges/", headers=headers)

    assert response.status_code == 200
    by_code = {e["code"]: e for e in response.json()}
    assert list(by_code) == ["BINANCE", "BYBIT", "OKX", "SIM"]
    assert by_code["SIM"]["name"] == "Simulated exchange" and by_code["SIM"]["status"] == "operational"
    assert (by_code["OKX"]["status"], by_code["OKX"]["status_detail"]) == ("down", "maintenance")
    assert by_code["OKX"]["status_changed_at"] is not None
    assert by_code["SIM"]["capabilities"]["timeframes"] == ["1m", "5m", "15m", "1h", "4h", "1d"]
    assert by_code["SIM"]["capabilities"]["linear_perpetual"] is True
    assert by_code["SIM"]["capabilities"]["ws_user_data"] is False
    assert by_code["OKX"]["capabilities"]["needs_passphrase"] is True
    assert by_code["BINANCE"]["capabilities"]["candles_page_limit"] == 1000


def test_a_disabled_exchange_is_not_listed_and_stored_overrides_show_in_capabilities(client, headers) -> None:
    Exchange.objects.filter(code="BYBIT").update(enabled=False)
    Exchange.objects.filter(code="BINANCE").update(capability_overrides={"candles_page_limit": 500})

    by_code = {e["code"]: e for e in client.get("/api/v1/exchanges/", headers=headers).json()}

    assert list(by_code) == ["BINANCE", "OKX", "SIM"]
    assert by_code["BINANCE"]["capabilities"]["candles_page_limit"] == 500


def test_exchanges_accept_an_api_key_and_refuse_anonymous_clients(client) -> None:
    created = api_key_create(actor=UserFactory(), name="monitor")

    assert client.get("/api/v1/exchanges/", headers=api_key_header(created.plaintext)).status_code == 200
    assert client.get("/api/v1/exchanges/").status_code == 401


# Symbols -------------------------------------------------------------------------------


@pytest.fixture
def sim_symbols() -> list[Symbol]:
    return sim_symbols_prepare()


def test_symbols_carry_the_venue_rules_as_exact_strings(client, headers, sim_symbols) -> None:
    response = client.get("/api/v1/symbols/", {"exchange": "SIM"}, headers=headers)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    by_symbol = {s["symbol"]: s for s in body["results"]}
    assert list(by_symbol) == ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT", "ETH/USDT:USDT", "SOL/USDT"]
    btc = by_symbol["BTC/USDT"]
    assert (btc["exchange"], btc["slug"], btc["venue_symbol"], btc["base"], btc["quote"]) == ("SIM", "BTC-USDT", "BTCUSDT", "BTC", "USDT")
    assert btc["market_type"] == "spot" and btc["max_leverage"] == 1 and btc["active"] is True
    for name in ("tick_size", "lot_size", "min_quantity", "min_notional"):
        assert all(isinstance(s[name], str) for s in body["results"]), name
    assert Decimal(btc["tick_size"]) == Decimal("0.01") and Decimal(btc["lot_size"]) == Decimal("0.00001")
    assert Decimal(btc["min_notional"]) == Decimal("5")
    perp = by_symbol["BTC/USDT:USDT"]
    assert perp["market_type"] == "linear_perpetual" and perp["slug"] == "BTC-USDT-PERP" and perp["max_leverage"] == 125
    assert Decimal(perp["tick_size"]) == Decimal("0.1") and Decimal(perp["lot_size"]) == Decimal("0.001")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"market_type": "linear_perpetual"}, ["BTC/USDT:USDT", "ETH/USDT:USDT"]),
        ({"market_type": "spot"}, ["BTC/USDT", "ETH/USDT", "SOL/USDT"]),
        ({"search": "eth"}, ["ETH/USDT", "ETH/USDT:USDT"]),
        ({"search": "sol", "market_type": "spot"}, ["SOL/USDT"]),
        ({"search": "doge"}, []),
    ],
)
def test_symbols_filter_by_market_type_and_search(client, headers, sim_symbols, params, expected) -> None:
    body = client.get("/api/v1/symbols/", {"exchange": "SIM", **params}, headers=headers).json()

    assert [s["symbol"] for s in body["results"]] == expected


def test_inactive_symbols_are_left_out(client, headers, sim_symbols) -> None:
    Symbol.objects.filter(symbol="SOL/USDT").update(active=False)

    body = client.get("/api/v1/symbols/", {"exchange": "SIM"}, headers=headers).json()

    assert "SOL/USDT" not in [s["symbol"] for s in body["results"]]


def test_symbols_are_paged(client, headers, sim_symbols) -> None:
    first = client.get("/api/v1/symbols/", {"exchange": "SIM", "page_size": 2}, headers=headers).json()
    last = client.get("/api/v1/symbols/", {"exchange": "SIM", "page_size": 2, "page": 3}, headers=headers).json()

    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"]
    assert [s["symbol"] for s in last["results"]] == ["SOL/USDT"] and last["next"] is None


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [({}, 400, "The 'exchange' parameter is required."), ({"exchange": "KRAKEN"}, 404, "Unknown exchange 'KRAKEN'")],
)
def test_a_missing_or_unknown_exchange_is_4xx_naming_it(client, headers, sim_symbols, params, status, text) -> None:
    response = client.get("/api/v1/symbols/", params, headers=headers)

    assert response.status_code == status
    body = response.json()
    assert text in body["message"]
    assert "exchange" in body["extra"]["fields"]


def test_symbols_accept_an_api_key(client, sim_symbols) -> None:
    created = api_key_create(actor=UserFactory(), name="grid bot")

    response = client.get("/api/v1/symbols/", {"exchange": "SIM"}, headers=api_key_header(created.plaintext))

    assert response.status_code == 200 and response.json()["count"] == 5
