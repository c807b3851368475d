"""Paper trading in a real Chromium: account, order form, live order table and positions.

The web server runs in another process against the test database, so every test commits
its data. No stream runs: the SIM gateway answers for the order book.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from apps.portfolio.models import Balance, Position, TradingAccount
from tests.e2e.helpers import off_the_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/")


def test_a_market_buy_placed_in_the_form_shows_filled_and_opens_a_position(page: Page, live_server_url: str) -> None:
    sim_markets()
    user = UserFactory()
    _sign_in(page, live_server_url, user)

    page.get_by_role("link", name="Orders").first.click()
    page.get_by_label("Starting USDT").fill("25000")
    page.get_by_role("button", name="Create paper account").click()

    expect(page.get_by_role("alert")).to_have_text("Paper account created.")
    expect(page.get_by_test_id("balance-free-USDT")).to_have_text("25000")
    expect(page.locator("#ws-status")).to_have_text("connected")

    page.get_by_role("link", name="All", exact=True).click()
    expect(page.locator("#order-rows")).to_contain_text("No orders here.")
    page.locator("#order-form").get_by_label("Symbol").select_option(label="BTC/USDT · SIM")
    page.get_by_label("Buy").check()
    page.get_by_label("Type").select_option("MARKET")
    page.get_by_label("Quantity", exact=True).press_sequentially("0.01")  # typed: the preview follows keystrokes
    expect(page.get_by_test_id("order-preview")).to_contain_text("Fee (est.)")
    page.get_by_test_id("place-order").click()

    expect(page.locator("#trade-panel").get_by_role("alert")).to_have_text("Buy 0.01 BTC/USDT: filled")
    row = page.locator("#order-rows tr").first
    expect(row.get_by_test_id("order-status")).to_have_text("Filled", timeout=10_000)
    expect(row).to_contain_text("BTC/USDT")
    expect(row).to_contain_text("0.01 / 0.01")
    expect(page.get_by_test_id("balance-free-BTC")).to_have_text(re.compile(r"^0\.010*$"))

    account = TradingAccount.objects.get(owner=user)
    assert Position.objects.get(account=account).quantity == Decimal("0.01")
    assert Balance.objects.get(account=account, asset="USDT").free < Decimal("25000")

    page.get_by_role("link", name="Positions").first.click()

    position = page.get_by_test_id("position-row")
    expect(position).to_have_count(1)
    expect(position).to_have_attribute("data-quantity", "0.01")
    expect(position).to_contain_text("BTC/USDT")
    expect(position.get_by_test_id("unrealized-pnl")).to_have_text(re.compile(r"^-?\d+(\.\d+)?$"))


def test_pages_update_live_when_an_order_fills_elsewhere(page: Page, live_server_url: str) -> None:
    """An order placed by a bot (here: the service, from this process) shows up without a reload."""
    symbols = sim_markets()
    user = UserFactory()
    account = TradingAccountFactory(owner=user, balances={"USDT": "100000"})
    _sign_in(page, live_server_url, user)
    page.goto(f"{live_server_url}/orders/?tab=all")
    expect(page.locator("#ws-status")).to_have_text("connected")
    page.evaluate("window.__samePage = true")

    order = off_the_event_loop(
        lambda: order_submit(
            actor=user,
            account=account,
            request=OrderRequest(symbol=symbols["ETH/USDT:USDT"], side="SELL", order_type="MARKET", quantity=Decimal("0.5"), leverage=5, source="bot"),
        )
    )

    row = page.locator(f"#order-{order.pk}")
    expect(row.get_by_test_id("order-status")).to_have_text("Filled", timeout=10_000)
    expect(row).to_contain_text("ETH/USDT:USDT")
    assert page.evaluate("window.__samePage") is True, "the row arrived in place, not by reloading"

    page.goto(f"{live_server_url}/positions/")
    expect(page.get_by_test_id("position-row")).to_have_count(1)
    page.evaluate("window.__samePage = true")

    off_the_event_loop(
        lambda: order_submit(
            actor=user,
            account=account,
            request=OrderRequest(symbol=symbols["BTC/USDT:USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.01"), leverage=3, source="bot"),
        )
    )

    expect(page.get_by_test_id("position-row")).to_have_count(2, timeout=4_000)  # sooner than the 5 s poll: the pushed signal
    assert page.evaluate("window.__samePage") is True
