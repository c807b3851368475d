"""The Backtests page: the form (plain and htmx), its generated parameter fields, errors as form errors, the list."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.backtesting.models import Backtest, RunStatus
from apps.backtesting.tests.factories import BacktestFactory, seed_candles
from apps.exchanges.tests.factories import ExchangeFactory, SymbolFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _form(chosen, **overrides: Any) -> dict[str, Any]:
    return {
        "strategy": "sma_cross",
        "p-fast": "10",
        "p-slow": "30",
        "p-mode": "long_only",
        "p-sizing": "fraction",
        "symbol": str(chosen.pk),
        "timeframe": "1m",
        "start": "2025-01-06T00:00",
        "end": "2025-01-06T10:00",
        "initial_capital": "10000",
        "fee": "0.001",
        "slippage_bps": "0",
        "fill_mode": "next_open",
        "name": "",
        **overrides,
    }


def _errors(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", e).strip() for e in re.findall(r'class="field-error"[^>]*>(.*?)</', html, re.S)]


def test_the_page_offers_the_strategies_the_symbols_and_the_last_seven_days(signed_in: Client, symbol) -> None:
    SymbolFactory(exchange=ExchangeFactory(code="BINANCE"), symbol="ETH/USDT")
    SymbolFactory(symbol="SOL/USDT", active=False)

    html = signed_in.get("/backtests/").content.decode()

    for name in ("sma_cross", "mean_reversion", "momentum", "grid", "dca"):
        assert f'<option value="{name}"' in html
    assert re.search(rf'<option value="{symbol.pk}" selected>BTC/USDT · SIM</option>', html)
    assert "ETH/USDT · BINANCE" in html and "SOL/USDT" not in html
    assert html.index('label="Simulated exchange"') < html.index('label="Binance"')
    now = timezone.localtime()
    assert f'value="{(now - timedelta(days=7)):%Y-%m-%d}T' in html and f'value="{now:%Y-%m-%d}T' in html
    assert 'name="p-fast"' in html and 'placeholder="10"' in html and 'min="1"' in html and 'max="1000"' in html
    assert "1 to 1000; default 10" in html
    assert "No backtests yet" in html


def test_a_strategy_in_the_address_is_chosen_with_its_parameters(signed_in: Client, symbol) -> None:
    html = signed_in.get("/backtests/?strategy=grid").content.decode()

    assert '<option value="grid" selected>' in html
    assert 'name="p-lower"' in html and 'name="p-fast"' not in html


def test_changing_the_strategy_swaps_in_its_parameter_fields(signed_in: Client) -> None:
    response = signed_in.get("/backtests/params/", {"strategy": "mean_reversion"}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<fieldset id="strategy-params"') and "<html" not in html
    assert 'name="p-rsi_period"' in html and 'name="p-exit"' in html and 'type="checkbox" name="p-allow_short"' in html
    assert "one of mid, rsi" in html and "above 0, up to 10" in html
    assert 'name="p-fast"' not in html


def test_the_strategy_select_asks_for_the_parameter_fields_when_it_changes(signed_in: Client, symbol) -> None:
    html = signed_in.get("/backtests/").content.decode()

    select = re.search(r'<select name="strategy"[^>]*>', html)
    assert select is not None
    assert 'hx-get="/backtests/params/"' in select.group(0) and 'hx-target="#strategy-params"' in select.group(0)


def test_an_unknown_strategy_gets_no_parameter_fields(signed_in: Client) -> None:
    html = signed_in.get("/backtests/params/", {"strategy": "moon"}, headers=HTMX).content.decode()

    assert "Choose a strategy" in html and "<input" not in html


def test_posting_the_form_with_htmx_creates_the_backtest_and_goes_to_its_page(signed_in: Client, trader, symbol, django_capture_on_commit_callbacks) -> None:
    seed_candles(symbol)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = signed_in.post("/backtests/", _form(symbol, **{"p-fast": "12", "p-slow": "", "name": "wave"}), headers=HTMX)

    backtest = Backtest.objects.get()
    assert response.status_code == 200 and response["HX-Redirect"] == f"/backtests/{backtest.pk}/"
    assert backtest.owner == trader and backtest.name == "wave" and backtest.status == RunStatus.QUEUED
    assert backtest.params["fast"] == 12 and backtest.params["slow"] == 30  # blank: the default
    assert backtest.start == datetime(2025, 1, 6, tzinfo=UTC) and backtest.end == datetime(2025, 1, 6, 10, tzinfo=UTC)
    assert len(callbacks) == 1


def test_posting_the_form_without_htmx_redirects(signed_in: Client, symbol, django_capture_on_commit_callbacks) -> None:
    seed_candles(symbol)

    with django_capture_on_commit_callbacks(execute=False):
        response = signed_in.post("/backtests/", _form(symbol))

    assert response.status_code == 302 and response["Location"] == f"/backtests/{Backtest.objects.get().pk}/"


@pytest.mark.parametrize(
    ("overrides", "field_errors", "top"),
    [
        ({"p-fast": "0"}, ["must be at least 1"], None),
        ({"p-fast": "40"}, ["must be shorter than slow"], None),
        ({"p-fast": "ten"}, ["Enter a whole number."], None),
        ({"p-mode": "sideways"}, ["Select a valid choice. sideways is not one of the available choices."], None),
        ({"start": "2025-01-06T10:00", "end": "2025-01-06T09:00"}, ["The start 2025-01-06 10:00 is not before the end 2025-01-06 09:00."], None),
        ({"end": "2025-01-06T00:30"}, ["Not enough data in this range."], "has 30 stored 1m candles"),
        ({"fee": "0.2"}, ["Maker fee 0.2 is outside -1 %..5 % (write 0.001 for 0.1 %)."], None),
        ({"initial_capital": "-1"}, ["The initial capital must be positive, not -1."], None),
        ({"p-fraction": "1.5"}, ["fraction 1.5 is above 1: spot (no leverage) cannot carry more than 1 x equity."], None),
        ({"strategy": "moon"}, ["Select a valid choice. moon is not one of the available choices."], None),
        (
            {"symbol": "00000000-0000-0000-0000-000000000000"},
            ["Select a valid choice. 00000000-0000-0000-0000-000000000000 is not one of the available choices."],
            None,
        ),
        ({"start": "last week"}, ["Enter a valid date/time."], None),
    ],
)
def test_invalid_input_is_shown_as_form_errors_and_nothing_is_created(signed_in: Client, symbol, overrides, field_errors, top) -> None:
    seed_candles(symbol)

    response = signed_in.post("/backtests/", _form(symbol, **overrides), headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<section id="backtest-form-panel">')
    errors = _errors(html)
    for expected in field_errors:
        assert expected in errors, errors
    if top:
        assert top in html
    assert not Backtest.objects.exists()


def test_a_form_error_keeps_what_was_typed_and_the_chosen_strategy_fields(signed_in: Client, symbol) -> None:
    seed_candles(symbol)

    html = signed_in.post("/backtests/", _form(symbol, strategy="grid", **{"p-lower": "120", "p-upper": "110"})).content.decode()

    assert "must be above lower" in html
    assert 'name="p-lower" value="120"' in html and 'name="p-fast"' not in html
    assert '<option value="grid" selected>' in html


def test_the_list_shows_my_backtests_with_their_status_and_headline_metrics(signed_in: Client, trader) -> None:
    done = BacktestFactory(owner=trader, name="winner")
    running = BacktestFactory(owner=trader, status=RunStatus.RUNNING, progress=40, metrics={})
    BacktestFactory(name="someone else's")

    html = signed_in.get("/backtests/").content.decode()

    assert "winner" in html and "someone else&#x27;s" not in html and "someone else's" not in html
    assert f'id="backtest-row-{done.pk}"' in html and f'id="backtest-row-{running.pk}"' in html
    assert "4.00 %" in html and "1.25" in html and "3.10 %" in html  # return, Sharpe, max drawdown
    status = re.search(rf'<div id="backtest-status-{running.pk}"[^>]*>', html)
    assert status is not None and 'hx-trigger="every 2s"' in status.group(0) and f'hx-get="/backtests/{running.pk}/status/"' in status.group(0)
    assert 'value="40"' in html


def test_the_list_alone_for_htmx_refreshes(signed_in: Client, trader) -> None:
    BacktestFactory(owner=trader, name="only me")

    html = signed_in.get("/backtests/?list=1", headers=HTMX).content.decode()

    assert html.lstrip().startswith('<section id="backtest-list"') and "only me" in html and "backtest-form" not in html


def test_the_pages_need_a_sign_in(client: Client) -> None:
    for url in ("/backtests/", "/backtests/params/", "/strategies/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_errors_in_both_the_settings_and_the_parameters_show_together(signed_in: Client, symbol) -> None:
    html = signed_in.post("/backtests/", _form(symbol, **{"p-fast": "ten", "initial_capital": "lots"})).content.decode()

    errors = _errors(html)
    assert "Enter a whole number." in errors and "Enter a number." in errors
