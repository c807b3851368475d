"""A 50x paper long on SIM liquidated as the price drops, in a real Chromium: the Positions page
shows its mark, last and liquidation price, then the liquidation (pushed, without a reload),
and the order history lists the forced close. Any console error or failed request fails it.

The web server runs in another process against the test database, so the test commits its
data. The mark updates are fed to the paper matcher here, as `stream_market` does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.exchanges.domain.types import Ticker
from apps.exchanges.models import Symbol
from apps.market.live import live_store, ticker_to_dict
from apps.orders.models import Fill
from apps.orders.services.paper import PaperMatcher
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from apps.portfolio.models import Position
from apps.portfolio.presentation import position_liquidation_price
from tests.e2e.helpers import off_the_event_loop, record_problems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/")


def _mark_update(matcher: PaperMatcher, perp: Symbol, mark: Decimal, last: Decimal) -> int:
    """One mark price update as the stream sees it: kept in the live state and handed to the matcher."""
    ticker = Ticker(perp.symbol, last, None, None, None, None, None, None, None, datetime.now(UTC), mark=mark)
    live_store("ticker", perp.exchange.code, perp.slug, ticker_to_dict(ticker))
    return matcher.on_mark(perp, ticker)


def test_a_50x_paper_long_on_sim_is_liquidated_as_the_price_drops_and_shows_on_positions_and_in_the_history(page: Page, live_server_url: str) -> None:
    symbols = sim_markets()
    perp = symbols["BTC/USDT:USDT"]
    user = UserFactory()
    account = TradingAccountFactory(owner=user, balances={"USDT": "1000"})
    problems = record_problems(page)
    off_the_event_loop(
        lambda: order_submit(
            actor=user, account=account, request=OrderRequest(symbol=perp, side="BUY", order_type="MARKET", quantity=Decimal("0.01"), leverage=50)
        )
    )
    position = Position.objects.select_related("symbol", "account").get(account=account, symbol=perp)
    exact = position_liquidation_price(position)
    assert exact is not None
    liquidation = perp.round_price(exact)  # as the pages show it
    matcher = PaperMatcher()
    off_the_event_loop(lambda: matcher.sync([perp.pk]))
    entry = position.entry_price
    off_the_event_loop(lambda: _mark_update(matcher, perp, entry, entry + perp.tick_size))

    _sign_in(page, live_server_url, user)
    page.get_by_role("link", name="Positions").first.click()
    expect(page.locator("#ws-status")).to_have_text("connected")
    row = page.locator(f"#position-{position.pk}")
    expect(row).to_contain_text("Long 50x")
    expect(row.get_by_test_id("mark-price")).to_have_text(f"{entry.normalize():f}")
    expect(row.get_by_test_id("last-price")).to_have_text(f"{(entry + perp.tick_size).normalize():f}")
    expect(row.get_by_test_id("liquidation-price")).to_have_text(f"{liquidation.normalize():f}")
    page.evaluate("window.__samePage = true")

    # The price drops, a step at a time, through the liquidation price.
    step = (entry - liquidation) / 4
    marks = [perp.round_price(entry - step * n) for n in (1, 2, 3)] + [perp.round_price(exact, "down") - perp.tick_size]
    liquidated = [off_the_event_loop(lambda mark=mark: _mark_update(matcher, perp, mark, mark)) for mark in marks]
    assert liquidated == [0, 0, 0, 1]

    expect(row).to_contain_text("closed", timeout=10_000)  # the pushed row, in place
    liquidations = page.get_by_test_id("liquidation-row")
    expect(liquidations).to_have_count(1, timeout=10_000)
    expect(liquidations.first).to_contain_text("Long 50x liquidated")
    expect(liquidations.first.get_by_test_id("liquidation-price")).to_have_text(f"{liquidation.normalize():f}")
    assert page.evaluate("window.__samePage") is True, "the liquidation arrived in place, not by reloading"

    page.reload()
    expect(page.locator("#position-rows")).to_contain_text("No open positions")
    expect(page.get_by_test_id("liquidation-row")).to_have_count(1)

    fill = Fill.objects.get(account=account, liquidity="LIQUIDATION")
    page.goto(f"{live_server_url}/orders/?tab=history")
    history_row = page.locator(f"#order-{fill.order_id}")
    expect(history_row.get_by_test_id("order-status")).to_have_text("Filled")
    expect(history_row).to_contain_text("liquidated: margin ratio reached 100 %")
    expect(history_row).to_contain_text("Sell")

    assert problems == []
