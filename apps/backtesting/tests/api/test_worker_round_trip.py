"""Create -> queued -> a real Celery worker runs it -> done, through the API."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.backtesting.tests.factories import START, seed_candles
from apps.exchanges.tests.factories import ExchangeFactory, SymbolFactory
from apps.orders.tests.factories import JsonApi


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_backtest_created_through_the_api_is_run_by_the_worker_to_done(client: Client, celery_worker_process: object) -> None:
    symbol = SymbolFactory(exchange=ExchangeFactory(code="SIM"), symbol="BTC/USDT")  # transactional tests flush the seeded exchanges
    seed_candles(symbol, count=600)
    api = JsonApi(client, UserFactory())
    body = {
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 30, "mode": "long_only"},
        "symbol": "BTC/USDT",
        "start": START.isoformat(),
        "end": (START + timedelta(hours=10)).isoformat(),
    }

    created = api.post("/api/v1/backtests/", body)

    assert created.status_code == 201 and created.json()["status"] in ("queued", "running", "done")
    url = created.json()["links"]["self"]
    deadline = time.monotonic() + 30
    while (detail := api.get(url).json())["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (detail["status"], detail["progress"], detail["error"]) == ("done", 100, "")
    assert detail["bars"] == 600 and detail["metrics"]["trades"] > 0
    assert api.get(created.json()["links"]["trades_csv"]).status_code == 200
