"""Backtests in a real Chromium: the form on SIM's stored history, a real Celery worker runs it,
the page follows it live and shows the results and the charts.

The web server and the worker run in other processes against the test database, so every test
commits its data.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.backtesting.models import Backtest, RunStatus
from apps.backtesting.services import backtest_create, backtest_run
from apps.backtesting.tasks import run_backtest_task
from apps.backtesting.tests.factories import START, BacktestFactory, seed_candles
from apps.exchanges.tests.factories import ExchangeFactory, SymbolFactory
from apps.market.services.demo import sim_history_seed
from tests.e2e.helpers import off_the_event_loop

# Chromium logs a form answered with 400 (its errors shown) as a console error.
FORM_ERROR = "the server responded with a status of 400 (Bad Request)"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/")


@pytest.mark.browser_expects(FORM_ERROR)  # the form answered with its errors
def test_a_backtest_run_from_the_page_on_sim_shows_live_progress_then_results_and_charts(
    page: Page, live_server_url: str, celery_worker_process: object
) -> None:
    ExchangeFactory(code="SIM")  # transactional tests flush the seeded exchanges
    off_the_event_loop(lambda: sim_history_seed(days=1))
    user = UserFactory()
    _sign_in(page, live_server_url, user)

    page.get_by_role("link", name="Backtests").first.click()
    expect(page.get_by_label("Symbol")).to_have_value(
        page.get_by_label("Symbol").locator("option", has_text="BTC/USDT · SIM").first.get_attribute("value") or ""
    )
    expect(page.locator("#ws-status")).to_have_text("connected")

    page.get_by_label("Strategy").select_option("mean_reversion")  # the parameter fields follow the strategy
    expect(page.get_by_test_id("strategy-params")).to_have_attribute("data-strategy", "mean_reversion")
    expect(page.get_by_label("Rsi period")).to_be_visible()
    page.get_by_label("Strategy").select_option("sma_cross")
    expect(page.get_by_test_id("strategy-params")).to_have_attribute("data-strategy", "sma_cross")
    page.get_by_label("Fast", exact=True).fill("0")
    page.get_by_test_id("run-backtest").click()
    expect(page.get_by_test_id("param-error-fast")).to_have_text("must be at least 1")
    assert not Backtest.objects.exists()

    page.get_by_label("Fast", exact=True).fill("10")
    page.get_by_label("Slow", exact=True).fill("30")
    page.get_by_label("Mode", exact=True).select_option("long_only")  # SIM BTC/USDT is spot: no shorts
    page.get_by_label("Name (optional)").fill("browser run")
    page.get_by_test_id("run-backtest").click()

    expect(page).to_have_url(re.compile(rf"{live_server_url}/backtests/[0-9a-f-]{{36}}/$"), timeout=10_000)
    assert page.url.endswith(f"/backtests/{Backtest.objects.get().pk}/")
    expect(page.get_by_role("heading", name="browser run")).to_be_visible()
    expect(page.get_by_test_id("backtest-status-label")).to_have_text("Done", timeout=60_000)
    expect(page.get_by_test_id("metric-total_return")).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("annualisation")).to_contain_text("525600 periods per year")
    expect(page.locator("#equity-chart canvas")).to_have_count(1)
    expect(page.locator("#drawdown-chart canvas")).to_have_count(1)
    expect(page.get_by_test_id("monthly-returns")).to_be_visible()
    backtest = Backtest.objects.get()
    assert backtest.status == RunStatus.DONE and backtest.bars > 1000
    expect(page.get_by_test_id("trade-row")).to_have_count(len(backtest.trades))

    page.get_by_role("link", name="Backtests").first.click()
    expect(page.get_by_test_id("backtest-row")).to_have_count(1)
    expect(page.get_by_test_id("backtest-row")).to_contain_text("browser run")


def test_the_page_of_a_queued_backtest_follows_the_run_live_without_a_reload(page: Page, live_server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    symbol = SymbolFactory(symbol="BTC/USDT")
    seed_candles(symbol, count=600)
    user = UserFactory()
    monkeypatch.setattr(run_backtest_task, "delay", lambda *args: None)  # no worker is told: this test runs it, in-process
    backtest = backtest_create(
        actor=user, strategy="sma_cross", params={"mode": "long_only"}, symbol=symbol, timeframe="1m", start=START, end=START + timedelta(hours=10)
    )
    _sign_in(page, live_server_url, user)
    page.goto(f"{live_server_url}/backtests/{backtest.pk}/")
    expect(page.get_by_test_id("backtest-status-label")).to_have_text("Queued")
    expect(page.locator("#ws-status")).to_have_text("connected")
    page.evaluate("window.__samePage = true")

    off_the_event_loop(lambda: backtest_run(backtest_id=backtest.pk))

    expect(page.get_by_test_id("backtest-status-label")).to_have_text("Done", timeout=5_000)
    expect(page.get_by_test_id("metric-sharpe")).to_be_visible()
    expect(page.locator("#equity-chart canvas")).to_have_count(1)
    assert page.evaluate("window.__samePage") is True, "the results arrived in place, not by reloading"


def test_two_backtests_picked_in_the_list_are_compared_with_an_overlaid_chart(page: Page, live_server_url: str) -> None:
    user = UserFactory()
    BacktestFactory(owner=user, name="first run", final=10_500.0)
    BacktestFactory(owner=user, name="second run", final=9_800.0)
    _sign_in(page, live_server_url, user)

    page.goto(f"{live_server_url}/backtests/")
    compare = page.get_by_test_id("compare-button")
    expect(compare).to_be_disabled()
    page.get_by_label("Compare first run").check()
    expect(compare).to_be_disabled()
    page.get_by_label("Compare second run").check()
    expect(compare).to_be_enabled()
    compare.click()

    expect(page.get_by_role("heading", name="Compare 2 backtests")).to_be_visible()
    expect(page.get_by_test_id("compare-table")).to_contain_text("5.00 %")
    expect(page.locator("#compare-chart canvas")).to_have_count(1)
    expect(page.locator("#compare-chart .u-legend")).to_contain_text("first run")
