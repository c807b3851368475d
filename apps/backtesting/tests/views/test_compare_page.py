"""Comparing 2 to 5 backtests: metrics side by side, equity curves normalised to 100."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from apps.backtesting.models import RunStatus
from apps.backtesting.tests.factories import BacktestFactory

pytestmark = pytest.mark.django_db


def _series(html: str) -> list[dict]:
    found = re.search(r'<script id="compare-chart-data" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_two_backtests_side_by_side_with_normalised_equity(signed_in: Client, trader) -> None:
    first = BacktestFactory(owner=trader, name="small", initial_capital=1000, final=1100.0)
    second = BacktestFactory(owner=trader, name="large", final=9500.0)

    response = signed_in.get("/backtests/compare/", {"ids": [str(first.pk), str(second.pk)]})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index(">small</a>") < html.index(">large</a>")
    row = re.search(r'<th scope="row">Total return</th>(.*?)</tr>', html, re.S)
    assert row is not None and "10.00 %" in row.group(1) and "-5.00 %" in row.group(1)
    assert html.count('data-testid="compare-row"') == 22
    series = _series(html)
    assert [s["label"] for s in series] == ["small", "large"]
    assert series[0]["points"][0][1] == 100.0 and series[1]["points"][0][1] == 100.0
    assert series[0]["points"][-1][1] == pytest.approx(110.0, abs=0.2) and series[1]["points"][-1][1] == pytest.approx(95.0, abs=0.1)
    assert 'id="compare-chart"' in html


def test_an_unfinished_backtest_is_a_column_without_metrics_or_curve(signed_in: Client, trader) -> None:
    done = BacktestFactory(owner=trader, name="done")
    running = BacktestFactory(owner=trader, name="running", status=RunStatus.RUNNING, metrics={}, equity_curve=[])

    html = signed_in.get("/backtests/compare/", {"ids": [str(done.pk), str(running.pk)]}).content.decode()

    assert [s["label"] for s in _series(html)] == ["done"]
    assert f'id="backtest-status-{running.pk}"' in html


@pytest.mark.parametrize("count", [0, 1, 6])
def test_fewer_than_two_or_more_than_five_goes_back_to_the_list_saying_so(signed_in: Client, trader, count: int) -> None:
    ids = [str(BacktestFactory(owner=trader).pk) for _ in range(count)]

    response = signed_in.get("/backtests/compare/", {"ids": ids}, follow=True)

    assert response.redirect_chain[-1][0] == "/backtests/"
    assert f"Pick 2 to 5 backtests to compare (you picked {count})." in response.content.decode()


def test_the_same_backtest_twice_counts_once(signed_in: Client, trader) -> None:
    one = BacktestFactory(owner=trader)

    response = signed_in.get("/backtests/compare/", {"ids": [str(one.pk), str(one.pk)]}, follow=True)

    assert "you picked 1" in response.content.decode()
