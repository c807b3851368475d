"""One backtest's page: results, charts' data, heatmap, trades, exports; and its live status."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import Client

from apps.backtesting.models import RunStatus
from apps.backtesting.services import backtest_create, backtest_run
from apps.backtesting.tests.factories import START, BacktestFactory, seed_candles

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _chart_data(html: str) -> dict:
    found = re.search(r'<script id="backtest-chart-data" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_a_finished_run_shows_every_metric_the_charts_the_monthly_heatmap_and_the_trades(
    signed_in: Client, trader, symbol, django_capture_on_commit_callbacks
) -> None:
    seed_candles(symbol)
    with django_capture_on_commit_callbacks(execute=False):
        queued = backtest_create(
            actor=trader,
            strategy="sma_cross",
            params={"mode": "long_only"},
            symbol=symbol,
            timeframe="1m",
            start=START,
            end=START + timedelta(hours=10),
        )
    backtest = backtest_run(backtest_id=queued.pk)

    html = signed_in.get(f"/backtests/{backtest.pk}/").content.decode()

    for label in (
        "Total return",
        "Annualised return",
        "Sharpe",
        "Sortino",
        "Calmar",
        "Max drawdown",
        "Max drawdown duration",
        "Win rate",
        "Profit factor",
        "Average win",
        "Average loss",
        "Exposure",
        "Trades",
        "Buy and hold",
    ):
        assert f"<small>{label}</small>" in html, label
    assert "Annualisation: 365 days, 525600 periods per year from 60-second bars, risk-free rate 0" in html
    assert 'id="equity-chart"' in html and 'id="drawdown-chart"' in html and "uPlot.iife.min.js" in html
    data = _chart_data(html)
    assert data["initial"] == 10000.0 and len(data["equity"]) == 600
    heatmap = re.search(r'data-testid="monthly-returns">(.*?)</table>', html, re.S)
    assert heatmap is not None and ">2025<" in heatmap.group(1) and 'class="heat-' in heatmap.group(1)
    assert html.count('data-testid="trade-row"') == len(backtest.trades) > 0
    assert f'href="/backtests/{backtest.pk}/trades.csv"' in html and f'href="/backtests/{backtest.pk}/equity.csv"' in html
    assert 'data-status="done"' in html and "every 2s" not in html


def test_a_running_backtest_shows_its_progress_and_polls_its_status(signed_in: Client, trader) -> None:
    running = BacktestFactory(owner=trader, status=RunStatus.RUNNING, progress=35, metrics={}, trades=[], equity_curve=[])

    html = signed_in.get(f"/backtests/{running.pk}/").content.decode()
    status = signed_in.get(f"/backtests/{running.pk}/status/", headers=HTMX).content.decode()

    assert '<progress value="35" max="100"' in html and "35 %" in html
    assert f'hx-get="/backtests/{running.pk}/status/" hx-trigger="every 2s"' in html
    assert f'hx-get="/backtests/{running.pk}/" hx-trigger="backtest-finished"' in html  # the results load when it is done
    assert "Total return" not in html and "equity-chart" not in html
    assert status.lstrip().startswith(f'<div id="backtest-status-{running.pk}"') and "hx-swap-oob" not in status


def test_the_results_alone_for_htmx_once_the_run_is_done(signed_in: Client, trader) -> None:
    done = BacktestFactory(owner=trader)

    html = signed_in.get(f"/backtests/{done.pk}/", headers=HTMX).content.decode()

    assert html.lstrip().startswith('<div id="backtest-body"') and "<html" not in html
    assert 'id="equity-chart"' in html and _chart_data(html)["equity"][0] == [int(START.timestamp() * 1000), 10000.0]


def test_a_failed_backtest_says_why(signed_in: Client, trader) -> None:
    failed = BacktestFactory(owner=trader, status=RunStatus.FAILED, error="BTC/USDT has 3 stored 1m candles", metrics={})

    html = signed_in.get(f"/backtests/{failed.pk}/").content.decode()

    assert "The run failed: BTC/USDT has 3 stored 1m candles" in html and "equity-chart" not in html


def test_the_pushed_status_swaps_out_of_band(trader) -> None:
    running = BacktestFactory(owner=trader, status=RunStatus.RUNNING, progress=15, metrics={})

    html = render_to_string("backtesting/partials.html#backtest-status", {"backtest": running, "oob": True})

    assert f'id="backtest-status-{running.pk}"' in html and 'hx-swap-oob="true"' in html and 'value="15"' in html


def test_the_csv_exports_download_as_files(signed_in: Client, trader) -> None:
    done = BacktestFactory(owner=trader)

    trades = signed_in.get(f"/backtests/{done.pk}/trades.csv")
    equity = signed_in.get(f"/backtests/{done.pk}/equity.csv")

    assert trades["Content-Type"].startswith("text/csv") and f'filename="backtest-{done.pk}-trades.csv"' in trades["Content-Disposition"]
    assert trades.content.decode().splitlines()[0].startswith("side,entry_time,exit_time")
    assert len(equity.content.decode().splitlines()) == 101


def test_exporting_an_unfinished_backtest_is_refused_with_a_page(signed_in: Client, trader) -> None:
    queued = BacktestFactory(owner=trader, status=RunStatus.QUEUED, progress=0, metrics={})

    response = signed_in.get(f"/backtests/{queued.pk}/trades.csv")

    assert response.status_code == 409 and "once it is done" in response.content.decode()


def test_huge_annualised_figures_from_a_short_sample_are_written_short_and_flagged(signed_in: Client, trader) -> None:
    done = BacktestFactory(owner=trader)
    done.metrics.update({"annualised_return": 3.6888e100, "calmar": 1.5e102, "periods_per_year": 525600.0})
    done.save()

    html = signed_in.get(f"/backtests/{done.pk}/").content.decode()

    assert "3.69e+102 %" in html and "1.5e+102" in html
    assert "Only 0.1 days of data" in html


def test_a_long_sample_is_not_flagged(signed_in: Client, trader) -> None:
    done = BacktestFactory(owner=trader)
    done.metrics.update({"bars": 400, "periods_per_year": 365.0})
    done.save()

    html = signed_in.get(f"/backtests/{done.pk}/").content.decode()

    assert 'data-testid="short-sample"' not in html


def test_refused_orders_show_a_warning_line_their_count_by_reason_and_a_list(signed_in: Client, trader, symbol, django_capture_on_commit_callbacks) -> None:
    seed_candles(symbol)
    with django_capture_on_commit_callbacks(execute=False):
        queued = backtest_create(
            actor=trader, strategy="sma_cross", params={"mode": "long_short"}, symbol=symbol, timeframe="1m", start=START, end=START + timedelta(hours=10)
        )
    backtest = backtest_run(backtest_id=queued.pk)
    refused = backtest.metrics["refusals_by_reason"]["refused: spot: cannot sell more than is held"]

    html = signed_in.get(f"/backtests/{backtest.pk}/").content.decode()

    assert f"Warning: {refused} refused: spot: cannot sell more than is held" in html
    assert 'data-testid="metric-refused_orders"' in html
    assert html.count('data-testid="refusal-row"') == min(refused, 500) > 0


def test_liquidated_trades_are_marked_and_liquidations_listed_with_their_losses(signed_in: Client, trader) -> None:
    liquidation = {"bar": 40, "time": "2025-01-01T00:40:00+00:00", "side": "LONG", "quantity": "2", "price": "45226.13", "fee": "452.26", "loss": "10000"}
    trade = {
        "side": "LONG", "entry_bar": 1, "entry_time": "2025-01-01T00:01:00+00:00", "exit_bar": 40, "exit_time": "2025-01-01T00:40:00+00:00",
        "quantity": "2", "entry_price": "50000", "exit_price": "45226.13", "fees": "552.26", "funding": "0", "pnl": "-10000", "liquidated": True,
    }  # fmt: skip
    backtest = BacktestFactory(owner=trader, trades=[trade])
    backtest.metrics = {
        **backtest.metrics,
        "liquidations": 1,
        "liquidation_losses": 10000.0,
        "liquidation_list": [liquidation],
        "warning": "Warning: 1 liquidation",
    }
    backtest.save()

    html = signed_in.get(f"/backtests/{backtest.pk}/").content.decode()

    assert 'data-testid="liquidated"' in html and html.count('data-testid="liquidation-row"') == 1
    assert "Warning: 1 liquidation" in html and "45226.13" in html
