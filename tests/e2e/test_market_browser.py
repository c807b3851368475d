"""The live market pages in a real Chromium, fed by a real `manage.py stream_market` process.

The web server and the stream run in other processes against the test database, so every
test commits its data; the stream pushes through the real Redis channel layer.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.exchanges.models import Symbol
from apps.exchanges.tests.factories import ExchangeFactory
from apps.market.models import Candle
from apps.market.services.demo import sim_symbols_prepare
from tests.e2e.helpers import off_the_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def stream(transactional_db: None, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """SIM's symbols, watched, and `manage.py stream_market --exchange SIM` running against the test database."""
    ExchangeFactory(code="SIM")  # transactional tests flush the seeded exchanges
    off_the_event_loop(sim_symbols_prepare)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "trading_platform.settings.test", "DATABASE_NAME": str(connection.settings_dict["NAME"])}
    log = open(tmp_path / "stream_market.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "manage.py", "stream_market", "--exchange", "SIM", "--seconds", "30"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # a clean stop, as on Ctrl-C
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


def _sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/")


def _wait_for_stored_candles(symbol: str, minimum: int, process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """The stream fills the missed day of 1m candles when it starts; wait until it has."""
    btc = Symbol.objects.get(exchange__code="SIM", symbol=symbol)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = Candle.objects.filter(symbol=btc, timeframe="1m").count()
        if count >= minimum:
            return count
        assert process.poll() is None, "stream_market exited early"
        time.sleep(0.2)
    raise AssertionError(f"stream_market stored fewer than {minimum} candles in {timeout} s")


def test_the_exchange_page_shows_prices_that_move_without_a_reload(page: Page, live_server_url: str, stream) -> None:
    _sign_in(page, live_server_url, UserFactory())

    page.get_by_role("link", name="Market").first.click()

    expect(page).to_have_url(f"{live_server_url}/market/SIM/")
    rows = page.get_by_test_id("ticker-row")
    expect(rows).to_have_count(5)
    price = page.locator("#ticker-SIM-BTC-USDT").get_by_test_id("last-price")
    expect(price).to_have_text(re.compile(r"^\d+\.\d{2}$"))
    first_price = price.inner_text()
    page.evaluate("window.__samePage = true")

    expect(price).not_to_have_text(first_price, timeout=20_000)

    assert page.evaluate("window.__samePage") is True, "the price changed in place, not by reloading"
    expect(price).to_have_text(re.compile(r"^\d+\.\d{2}$"))
    expect(page.locator("#ticker-SIM-BTC-USDT")).to_contain_text("%")


def test_the_symbol_page_charts_candles_updates_the_book_and_switches_timeframe(page: Page, live_server_url: str, stream) -> None:
    _sign_in(page, live_server_url, UserFactory())
    _wait_for_stored_candles("BTC/USDT", 1000, stream)

    page.goto(f"{live_server_url}/market/SIM/")
    page.get_by_role("link", name="BTC/USDT", exact=True).click()

    expect(page).to_have_url(f"{live_server_url}/market/SIM/BTC-USDT/")
    expect(page.get_by_role("heading", name="BTC/USDT")).to_be_visible()
    chart = page.locator("#price-chart")
    expect(chart).to_have_attribute("data-loaded", "500")  # the newest 500 1m candles, the API's default page
    expect(chart.locator("canvas").first).to_be_visible()
    expect(page.locator("#chart-status")).to_have_text("")

    book = page.get_by_test_id("order-book")
    expect(book.locator("tbody.bids tr")).to_have_count(15)
    expect(book.locator("tbody.asks tr")).to_have_count(15)
    expect(book.locator("tr.spread")).to_have_text(re.compile(r"spread \d+\.\d+"))
    first_book = book.inner_text()
    page.evaluate("window.__samePage = true")
    expect(book).not_to_have_text(first_book, timeout=20_000)
    assert page.evaluate("window.__samePage") is True

    page.get_by_role("button", name="1h", exact=True).click()

    expect(page.get_by_role("button", name="1h", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="1m", exact=True)).to_have_attribute("aria-pressed", "false")
    expect(page).to_have_url(f"{live_server_url}/market/SIM/BTC-USDT/?tf=1h")
    expect(chart).not_to_have_attribute("data-loaded", "500")
    hours = int(chart.get_attribute("data-loaded") or 0)
    assert 1 <= hours <= 25, "the 1h candles rolled up from the day the stream filled in"
    expect(page.locator("#chart-status")).not_to_have_text(re.compile("Could not load|loading"))
    assert page.evaluate("window.__samePage") is True, "the chart reloaded in place"
