"""A paper bot in a real Chromium: created from the form (parameters swapped in for the strategy),
started, and its first trade and decision seen live when a bar closes.

The web server runs in another process against the test database, so the test commits its data.
No stream runs: the test stores the closed candle and runs the runner itself, as the
`bots.process_closed_candles` task would; the SIM gateway answers for the order book.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.bots.models import Bot, BotStatus
from apps.bots.runner import process_closed_candles
from apps.bots.tests.factories import store_bars, walk
from apps.orders.models import Order
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from tests.e2e.helpers import off_the_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/")


def test_a_paper_bot_created_on_the_page_trades_on_its_first_bar_and_the_page_shows_it(page: Page, live_server_url: str) -> None:
    sol = sim_markets()["SOL/USDT"]
    user = UserFactory()
    TradingAccountFactory(owner=user, name="Paper SIM", balances={"USDT": "10000"})
    data = walk(32, seed=11)
    store_bars(sol, data, range(31))  # the history; bar 31 closes after the bot starts
    _sign_in(page, live_server_url, user)

    page.get_by_role("link", name="Bots").first.click()
    expect(page.get_by_role("heading", name="Bots")).to_be_visible()
    page.get_by_test_id("new-bot").click()
    page.get_by_label("Name").fill("Every minute")
    page.locator("#id_account").select_option(label="Paper SIM · SIM · paper")
    page.locator("#id_symbol").select_option(label="SOL/USDT · SIM")
    page.locator("#id_timeframe").select_option("1m")
    page.locator("#id_strategy").select_option("grid")
    expect(page.locator("#strategy-params")).to_have_attribute("data-strategy", "grid")  # swapped in by htmx
    expect(page.locator("#id_param_levels")).to_be_visible()
    page.locator("#id_strategy").select_option("dca")
    expect(page.locator("#strategy-params")).to_have_attribute("data-strategy", "dca")
    expect(page.locator("#id_param_levels")).to_have_count(0)
    page.locator("#id_param_interval").fill("1")
    page.locator("#id_param_lookback").fill("5")
    page.locator("#id_param_order_quote").fill("100")
    page.locator("#id_max_drawdown_percent").fill("50")
    page.get_by_test_id("create-bot").click()

    expect(page.get_by_role("heading", name="Every minute")).to_be_visible()
    bot = Bot.objects.get(owner=user)
    assert bot.strategy == "dca" and bot.params["interval"] == 1 and bot.params["order_quote"] == 100.0
    status = page.locator(f"#bot-status-{bot.pk}")
    expect(status.get_by_test_id("bot-status")).to_have_text("Stopped")

    status.get_by_test_id("bot-start").click()
    status = page.locator(f"#bot-status-{bot.pk}")
    expect(status.get_by_test_id("bot-status")).to_have_text("Running")
    expect(page.locator("#ws-status")).to_have_text("connected")
    expect(page.get_by_test_id("bot-log")).to_contain_text("started")
    page.evaluate("window.__samePage = true")

    def a_bar_closes() -> Any:
        store_bars(sol, data, [31])
        return process_closed_candles(symbol_id=sol.pk, timeframe="1m", open_time=data.datetime_at(31))

    report = off_the_event_loop(a_bar_closes)
    assert report.processed == 1 and report.orders == 1

    expect(page.get_by_test_id("bot-log")).to_contain_text("periodic buy (every 1 bars)", timeout=10_000)
    expect(page.get_by_test_id("bot-log")).to_contain_text("placed BUY")
    expect(page.locator(f"#bot-status-{bot.pk}").get_by_test_id("bot-last-signal")).to_have_text("periodic buy (every 1 bars)")
    trade = page.get_by_test_id("bot-trade")
    expect(trade).to_have_count(1, timeout=10_000)
    expect(trade).to_have_attribute("data-side", "LONG")
    expect(trade).to_contain_text("open")
    assert page.evaluate("window.__samePage") is True, "the trade and the decision arrived in place, not by reloading"

    order = Order.objects.get(bot=bot)
    assert order.status == "FILLED" and order.source == "bot"
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING

    # the buttons of the pushed status block work too (htmx sends the CSRF header)
    page.locator(f"#bot-status-{bot.pk}").get_by_test_id("bot-pause").click()
    expect(page.locator(f"#bot-status-{bot.pk}").get_by_test_id("bot-status")).to_have_text("Paused")
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.PAUSED

    page.get_by_role("link", name="Bots").first.click()
    card = page.get_by_test_id("bot-card")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("bot-status")).to_have_text("Paused")
    expect(card).to_contain_text("periodic buy")
    card.get_by_test_id("bot-resume").click()
    expect(page.get_by_test_id("bot-card").get_by_test_id("bot-status")).to_have_text("Running")
    expect(page.get_by_test_id("bot-card").get_by_test_id("bot-pause")).to_be_visible()
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
