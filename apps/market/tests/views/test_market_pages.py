"""The market pages as a signed-in trader sees them, with no stream running (the venue is asked directly)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from decimal import Decimal
from html import unescape

import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings

from apps.accounts.tests.factories import UserFactory
from apps.exchanges.enums import ExchangeStatus
from apps.exchanges.gateways.sim import SimGateway
from apps.exchanges.selectors import builtin_exchange
from apps.exchanges.services import exchange_set_status
from apps.market.live import STALE_AFTER_SECONDS, live_store, ticker_to_dict
from apps.market.services.demo import sim_symbols_prepare

pytestmark = pytest.mark.django_db

SIM_SYMBOLS = ["BTC/USDT", "BTC/USDT:USDT", "ETH/USDT", "ETH/USDT:USDT", "SOL/USDT"]


@pytest.fixture
def trader(client):
    sim_symbols_prepare()
    client.force_login(UserFactory())
    return client


def _rows(html: str) -> dict[str, str]:
    """Ticker rows by their element id."""
    return dict(re.findall(r'<tr id="(ticker-SIM-[^"]+)" data-testid="ticker-row">(.*?)</tr>', html, re.S))


def _cells(row: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_market_index_opens_the_simulated_exchange(trader) -> None:
    response = trader.get("/market/")

    assert response.status_code == 302
    assert response["Location"] == "/market/SIM/"


def test_the_market_needs_a_sign_in(client) -> None:
    response = client.get("/market/SIM/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_exchange_page_lists_every_sim_symbol_with_price_change_and_volume(trader) -> None:
    response = trader.get("/market/SIM/")

    assert response.status_code == 200
    html = response.content.decode()
    rows = _rows(html)
    slugs = ["BTC-USDT", "BTC-USDT-PERP", "ETH-USDT", "ETH-USDT-PERP", "SOL-USDT"]
    assert list(rows) == [f"ticker-SIM-{slug}" for slug in slugs]
    # No stream runs: the page asked the venue itself. Prices move, so compare with a moment later.
    venue = {t.symbol: t for t in async_to_sync(SimGateway().fetch_tickers)()}
    for element_id, row in rows.items():
        symbol, last, change, high, low, volume = _cells(row)
        now = venue[symbol.removesuffix(" perp")]
        assert Decimal(low) <= Decimal(last) <= Decimal(high), element_id
        assert abs(Decimal(last) - now.last) / now.last < Decimal("0.01"), element_id
        assert re.fullmatch(r"-?\d+\.\d{2} %", change), change
        assert abs(Decimal(volume) - now.quote_volume_24h) / now.quote_volume_24h < Decimal("0.01"), element_id
    assert 'data-market-stream="/ws/market/SIM/"' in html
    assert html.count('<span class="badge">perp</span>') == 2


def test_a_fresh_price_from_the_stream_is_shown_as_it_is(trader) -> None:
    ticker = async_to_sync(SimGateway().fetch_ticker)("BTC/USDT")
    streamed = replace(ticker, last=Decimal("12345.67"), open_24h=Decimal("12500.00"))
    live_store("ticker", "SIM", "BTC-USDT", ticker_to_dict(streamed))

    row = _rows(trader.get("/market/SIM/").content.decode())["ticker-SIM-BTC-USDT"]

    assert _cells(row)[1:3] == ["12345.67", "-1.23 %"]
    assert 'class="num down"' in row


def test_a_stale_price_from_a_stopped_stream_is_not_shown(trader) -> None:
    ticker = async_to_sync(SimGateway().fetch_ticker)("BTC/USDT")
    stale = ticker_to_dict(replace(ticker, last=Decimal("12345.67")))
    client = redis.Redis.from_url(settings.REDIS_CACHE_URL)
    client.set("tp:live:ticker:SIM:BTC-USDT", json.dumps({"data": stale, "stored_at": time.time() - STALE_AFTER_SECONDS - 1}))

    row = _rows(trader.get("/market/SIM/").content.decode())["ticker-SIM-BTC-USDT"]

    assert _cells(row)[1] != "12345.67"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "eth"}, ["ETH-USDT", "ETH-USDT-PERP"]),
        ({"type": "linear_perpetual"}, ["BTC-USDT-PERP", "ETH-USDT-PERP"]),
        ({"type": "spot", "q": "BTC"}, ["BTC-USDT"]),
    ],
)
def test_search_and_market_type_filter_the_list(trader, query, expected) -> None:
    html = trader.get("/market/SIM/", query).content.decode()

    assert list(_rows(html)) == [f"ticker-SIM-{slug}" for slug in expected]
    assert "<html" in html


def test_an_htmx_request_gets_only_the_symbol_table(trader) -> None:
    response = trader.get("/market/SIM/", {"q": "eth", "type": "linear_perpetual"}, headers={"HX-Request": "true"})

    html = response.content.decode().strip()
    assert response.status_code == 200
    assert html.startswith('<div id="symbol-table"') and html.endswith("</div>")
    assert "<html" not in html and "<h1>" not in html and "<form" not in html
    assert list(_rows(html)) == ["ticker-SIM-ETH-USDT-PERP"]


def test_a_search_with_no_match_says_so(trader) -> None:
    html = trader.get("/market/SIM/", {"q": "doge"}, headers={"HX-Request": "true"}).content.decode()

    assert _rows(html) == {}
    assert "No symbols match “doge”" in html


def test_the_symbol_page_shows_the_ticker_the_order_book_and_the_chart(trader) -> None:
    response = trader.get("/market/SIM/BTC-USDT/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>BTC/USDT" in html
    last = re.search(r'<span class="big-price[^"]*" data-testid="last-price">([0-9.]+)</span>', html)
    touch = re.search(r"<dt>Bid / ask</dt><dd>([0-9.]+) / ([0-9.]+)</dd>", html)
    assert last and touch
    assert Decimal(touch.group(1)) <= Decimal(last.group(1)) <= Decimal(touch.group(2))
    assert Decimal(touch.group(2)) - Decimal(touch.group(1)) == Decimal("0.01"), "SIM quotes BTC/USDT one tick wide"

    book = re.search(r'<div id="order-book".*?</table>', html, re.S)
    assert book, "the order book is on the page"
    bids = [Decimal(p) for p in re.findall(r'<td class="num up">([^<]+)</td>', book.group(0))]
    asks = [Decimal(p) for p in re.findall(r'<td class="num down">([^<]+)</td>', book.group(0))]
    assert len(bids) == len(asks) == 15
    assert bids == sorted(bids, reverse=True), "best bid first"
    assert asks == sorted(asks, reverse=True), "asks shown highest first, best ask next to the spread"
    assert max(bids) < min(asks)
    spread = re.search(r"spread ([0-9.]+)", book.group(0))
    assert spread and Decimal(spread.group(1)) == min(asks) - max(bids)

    assert 'id="price-chart"' in html
    candles_url = re.search(r'data-candles-url="([^"]+)"', html)
    assert candles_url and unescape(candles_url.group(1)) == "/api/v1/candles/?exchange=SIM&symbol=BTC-USDT"
    assert 'data-market-stream="/ws/market/SIM/BTC-USDT/"' in html
    assert 'data-timeframe="1m"' in html and 'data-tick-size="0.01"' in html


def test_the_symbol_page_keeps_a_chosen_timeframe_and_ignores_a_made_up_one(trader) -> None:
    chosen = trader.get("/market/SIM/BTC-USDT/", {"tf": "1h"}).content.decode()
    made_up = trader.get("/market/SIM/BTC-USDT/", {"tf": "2m"}).content.decode()

    assert 'data-timeframe="1h" data-tick-size' in chosen
    assert 'data-timeframe="1h" aria-pressed="true"' in chosen
    assert 'data-timeframe="1m" data-tick-size' in made_up


@pytest.mark.parametrize("path", ["/market/NOPE/", "/market/NOPE/BTC-USDT/", "/market/SIM/XRP-JPY/"])
def test_an_unknown_exchange_or_symbol_is_a_404_page(trader, path) -> None:
    response = trader.get(path)

    assert response.status_code == 404
    assert "Not found" in response.content.decode()


def test_a_degraded_exchange_shows_a_banner(trader) -> None:
    exchange_set_status(exchange=builtin_exchange("SIM"), status=ExchangeStatus.DEGRADED, detail="rate limited: slow down")

    for path in ("/market/SIM/", "/market/SIM/BTC-USDT/"):
        html = re.sub(r"\s+", " ", trader.get(path).content.decode())
        assert "Simulated exchange is degraded (retrying): rate limited: slow down." in html, path
        assert "Prices may be stale" in html


def test_an_operational_exchange_shows_no_banner(trader) -> None:
    assert "Prices may be stale" not in trader.get("/market/SIM/").content.decode()
