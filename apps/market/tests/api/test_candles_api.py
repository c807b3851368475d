from datetime import UTC, datetime, timedelta

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import bearer
from apps.exchanges.tests.factories import SymbolFactory
from apps.market.services.candles import candles_upsert
from apps.market.tests.factories import candle_run

pytestmark = pytest.mark.django_db
START = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def stored():
    symbol = SymbolFactory()
    candles = candle_run(START, 600, price="64000.00")
    candles_upsert(symbol=symbol, timeframe="1m", candles=candles)
    return symbol, candles


def test_candles_come_oldest_first_with_prices_as_strings(client, stored) -> None:
    _, candles = stored
    response = client.get("/api/v1/candles/", {"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m", "limit": 3}, headers=bearer(UserFactory()))

    assert response.status_code == 200
    body = response.json()
    assert body["symbol"] == "BTC/USDT" and body["timeframe"] == "1m"
    assert [row[0] for row in body["candles"]] == [int(c.open_time.timestamp() * 1000) for c in candles[-3:]]
    assert body["candles"][-1][4] == str(candles[-1].close)
    assert all(isinstance(value, str) for value in body["candles"][0][1:])


def test_end_pages_back_through_history_and_start_bounds_it(client, stored) -> None:
    _, candles = stored
    headers = bearer(UserFactory())
    end = int(candles[100].open_time.timestamp() * 1000)

    older = client.get("/api/v1/candles/", {"exchange": "sim", "symbol": "BTC-USDT", "timeframe": "1m", "end": end, "limit": 50}, headers=headers).json()
    assert len(older["candles"]) == 50
    assert older["candles"][-1][0] == int(candles[99].open_time.timestamp() * 1000)

    bounded = client.get(
        "/api/v1/candles/",
        {"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m", "start": candles[590].open_time.isoformat(), "limit": 5000},
        headers=headers,
    ).json()
    assert len(bounded["candles"]) == 10


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"exchange": "NOPE", "symbol": "BTC/USDT", "timeframe": "1m"}, "exchange", "Unknown exchange 'NOPE'"),
        ({"exchange": "SIM", "symbol": "XRP/JPY", "timeframe": "1m"}, "symbol", "Unknown symbol 'XRP/JPY'"),
        ({"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "7m"}, "timeframe", "Unknown timeframe '7m'"),
        ({"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m", "limit": "9999"}, "limit", "between 1 and 5000"),
        ({"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m", "start": "yesterday"}, "start", "'yesterday' is not a date/time"),
        ({"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m", "start": "2026-01-02", "end": "2026-01-01"}, "start", "is not before end"),
        ({"symbol": "BTC/USDT", "timeframe": "1m"}, "exchange", "'exchange' parameter is required"),
    ],
)
def test_bad_parameters_are_4xx_naming_the_value(client, stored, params, field, text) -> None:
    response = client.get("/api/v1/candles/", params, headers=bearer(UserFactory()))

    assert 400 <= response.status_code < 500
    body = response.json()
    assert text in body["message"]
    assert field in body["extra"]["fields"]


def test_candles_need_authentication(client, stored) -> None:
    assert client.get("/api/v1/candles/", {"exchange": "SIM", "symbol": "BTC/USDT", "timeframe": "1m"}).status_code == 401
