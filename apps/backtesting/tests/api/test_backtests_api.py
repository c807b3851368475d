"""/api/v1/backtests/: create, list, read, export, as a script would; only ever your own."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.backtesting.models import Backtest, RunStatus
from apps.backtesting.services import backtest_run
from apps.backtesting.tests.factories import START, BacktestFactory, seed_candles
from apps.orders.tests.factories import JsonApi

pytestmark = pytest.mark.django_db

BACKTESTS = "/api/v1/backtests/"


def _body(**overrides: Any) -> dict[str, Any]:
    return {
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 30, "mode": "long_only"},
        "exchange": "SIM",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "start": START.isoformat(),
        "end": (START + timedelta(hours=10)).isoformat(),
        **overrides,
    }


def test_creating_a_backtest_returns_201_with_its_id_and_queued_status_and_queues_the_run(api, symbol, django_capture_on_commit_callbacks) -> None:
    seed_candles(symbol)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(BACKTESTS, _body(initial_capital="2500", taker_fee="0.0005", slippage_bps="1.5", name="api run"))

    assert response.status_code == 201, response.json()
    body = response.json()
    backtest = Backtest.objects.get(pk=body["id"])
    assert (body["status"], body["progress"], body["summary"]) == ("queued", 0, None)
    assert (body["exchange"], body["symbol"], body["strategy"], body["name"]) == ("SIM", "BTC/USDT", "sma_cross", "api run")
    assert (body["initial_capital"], body["taker_fee"], body["maker_fee"], body["slippage_bps"]) == ("2500", "0.0005", "0.001", "1.5")
    assert body["params"]["sizing"] == "fraction"  # defaults filled in
    assert body["links"]["self"] == f"{BACKTESTS}{backtest.pk}/"
    assert len(callbacks) == 1


def test_a_finished_backtest_shows_its_metrics_and_exports_trades_and_equity_as_csv(api, trader, symbol, django_capture_on_commit_callbacks) -> None:
    seed_candles(symbol)
    with django_capture_on_commit_callbacks(execute=False):
        backtest_id = api.post(BACKTESTS, _body()).json()["id"]
    backtest_run(backtest_id=backtest_id)

    body = api.get(f"{BACKTESTS}{backtest_id}/").json()
    trades = api.get(f"{BACKTESTS}{backtest_id}/trades.csv")
    equity = api.get(f"{BACKTESTS}{backtest_id}/equity.csv")

    assert (body["status"], body["progress"], body["bars"]) == ("done", 100, 600)
    assert body["metrics"]["trades"] > 0 and body["metrics"]["annualisation"].startswith("365 days")
    assert body["summary"]["total_return"] == body["metrics"]["total_return"]
    assert trades.status_code == 200 and trades["Content-Type"].startswith("text/csv")
    assert f"backtest-{backtest_id}-trades.csv" in trades["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(trades.content.decode())))
    assert len(rows) >= body["metrics"]["trades"] and rows[0]["side"] == "LONG"
    assert equity.content.decode().splitlines()[0] == "timestamp,equity"
    assert len(equity.content.decode().splitlines()) == 601


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"strategy": "moon"}, "strategy", "no strategy named 'moon'"),
        ({"params": {"fast": 0}}, "fast", "fast: must be at least 1"),
        ({"params": {"slow": "thirty"}}, "slow", "slow: must be an integer"),
        ({"start": (START + timedelta(hours=10)).isoformat(), "end": START.isoformat()}, "start", "is not before the end"),
        ({"end": (START + timedelta(minutes=20)).isoformat()}, "start", "a backtest needs at least 50"),
        ({"symbol": "DOGE/EUR"}, "symbol", "Unknown symbol 'DOGE/EUR' on SIM"),
        ({"exchange": "MOON"}, "exchange", "Unknown exchange 'MOON'"),
        ({"timeframe": "2m"}, "timeframe", 'timeframe: "2m" is not a valid choice.'),
        ({"params": [10, 30]}, "params", "params: Expected a dictionary"),
        ({"taker_fee": "0.5"}, "taker_fee", "outside -1 %..5 %"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(api, symbol, overrides, field, words) -> None:
    seed_candles(symbol)

    response = api.post(BACKTESTS, _body(**overrides))

    assert response.status_code in (400, 404), response.json()
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert words in body["message"] and field in body["extra"]["fields"]
    assert not Backtest.objects.exists()


def test_the_list_is_mine_only_newest_first_and_filters_by_status(api, trader) -> None:
    older = BacktestFactory(owner=trader)
    newer = BacktestFactory(owner=trader, status=RunStatus.FAILED, error="boom", metrics={})
    BacktestFactory()  # someone else's

    everything = api.get(BACKTESTS).json()
    failed = api.get(BACKTESTS, {"status": "failed"}).json()

    assert [row["id"] for row in everything["results"]] == [str(newer.pk), str(older.pk)]
    assert everything["results"][1]["summary"]["sharpe"] == 1.25 and everything["results"][0]["summary"] is None
    assert "metrics" not in everything["results"][0]
    assert [row["id"] for row in failed["results"]] == [str(newer.pk)]
    assert api.get(BACKTESTS, {"status": "sideways"}).status_code == 400


def test_another_user_cannot_read_or_export_my_backtest(client: Client, trader) -> None:
    mine = BacktestFactory(owner=trader)
    stranger = JsonApi(client, UserFactory())

    for url in (f"{BACKTESTS}{mine.pk}/", f"{BACKTESTS}{mine.pk}/trades.csv", f"{BACKTESTS}{mine.pk}/equity.csv"):
        response = stranger.get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found", url
    assert stranger.get(BACKTESTS).json()["results"] == []


def test_exporting_a_backtest_that_is_not_done_is_a_409(api, trader) -> None:
    running = BacktestFactory(owner=trader, status=RunStatus.RUNNING, progress=40, metrics={}, trades=[], equity_curve=[])

    response = api.get(f"{BACKTESTS}{running.pk}/trades.csv")
    detail = api.get(f"{BACKTESTS}{running.pk}/").json()

    assert response.status_code == 409 and "running" in response.json()["message"]
    assert (detail["status"], detail["progress"], detail["metrics"]) == ("running", 40, None)


def test_the_api_needs_a_signed_in_user(client: Client) -> None:
    response = client.get(BACKTESTS)

    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
