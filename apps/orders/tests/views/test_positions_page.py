"""The Positions page, its actions, and the paper/live switch that decides which accounts show."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import PositionFactory, TradingAccountFactory, ticker_stored
from apps.portfolio.models import Position
from apps.portfolio.presentation import marks_for, position_rows

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def perp_long(trader, account, sim) -> Position:
    order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT:USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.1"), leverage=5)
    )
    return Position.objects.get(account=account, symbol=sim["BTC/USDT:USDT"])


def test_positions_are_listed_with_size_entry_and_liquidation_price(signed_in, trader, perp_long) -> None:
    [row] = position_rows(owner_id=trader.pk)

    page = signed_in.get("/positions/").content.decode()

    assert f'id="position-{perp_long.pk}"' in page and 'data-quantity="0.1"' in page
    assert f'<td class="num">{perp_long.entry_price.normalize():f}</td>' in page
    assert f'data-testid="liquidation-price">{row.liquidation_price.normalize():f}</td>' in page
    assert "Long 5x" in page


def test_a_perpetual_is_marked_at_the_mark_price_and_the_page_shows_the_last_trade_beside_it(signed_in, trader, perp_long, sim) -> None:
    from apps.exchanges.domain.types import Ticker
    from apps.market.live import live_store, ticker_to_dict

    perp = sim["BTC/USDT:USDT"]
    last, mark = perp_long.entry_price + 100, perp_long.entry_price - 50
    ticker = Ticker(perp.symbol, last, None, None, None, None, None, None, None, perp_long.opened_at, mark=mark)
    live_store("ticker", perp.exchange.code, perp.slug, ticker_to_dict(ticker))

    [row] = position_rows(owner_id=trader.pk)
    page = signed_in.get("/positions/").content.decode()

    assert row.mark == mark and row.last == last
    assert row.unrealized_pnl == (mark - perp_long.entry_price) * perp_long.quantity  # valued at the mark, not the last trade
    assert f'data-testid="mark-price">{mark.normalize():f}</td>' in page
    assert f'data-testid="last-price">{last.normalize():f}</td>' in page


def test_round_prices_and_sizes_read_as_written_not_in_e_notation(signed_in, account, sim) -> None:
    PositionFactory(account=account, symbol=sim["ETH/USDT"], quantity=Decimal("100"), entry_price=Decimal("3000"), stop_loss=Decimal("2500"))

    page = signed_in.get("/positions/").content.decode()

    assert 'data-quantity="100"' in page and '<td class="num">100</td>' in page and '<td class="num">3000</td>' in page
    assert "SL 2500<br>" in page and 'value="2500"' in page
    assert "E+" not in page


def test_with_no_positions_the_page_says_so(signed_in, account) -> None:
    assert "No open positions in paper accounts." in signed_in.get("/positions/").content.decode()


def test_closing_from_the_page_closes_the_position(signed_in, perp_long) -> None:
    response = signed_in.post(f"/positions/{perp_long.pk}/close/", follow=True)

    perp_long.refresh_from_db()
    assert perp_long.quantity == 0
    assert "Closing BTC/USDT:USDT: filled." in response.content.decode()


def test_closing_with_htmx_refreshes_the_page(signed_in, perp_long) -> None:
    response = signed_in.post(f"/positions/{perp_long.pk}/close/", headers=HTMX)

    assert response["HX-Refresh"] == "true"


def test_exits_from_the_page_are_saved_or_refused_in_words(signed_in, perp_long) -> None:
    above = (perp_long.entry_price * Decimal("1.05")).quantize(Decimal("0.1"))

    refused = signed_in.post(f"/positions/{perp_long.pk}/exits/", {"stop_loss": str(above), "take_profit": ""}, follow=True)
    saved = signed_in.post(f"/positions/{perp_long.pk}/exits/", {"stop_loss": "", "take_profit": str(above)}, follow=True)

    assert "The stop-loss of a long must be below the entry" in refused.content.decode()
    assert "Exits saved." in saved.content.decode()
    perp_long.refresh_from_db()
    assert (perp_long.stop_loss, perp_long.take_profit) == (None, above)


# Paper / live -----------------------------------------------------------------------------


def test_the_mode_switch_decides_which_accounts_and_positions_show(signed_in, trader, account, sim) -> None:
    paper_position = PositionFactory(account=account, symbol=sim["BTC/USDT"])
    live = TradingAccountFactory(owner=trader, live=True, name="Binance main")
    live_position = PositionFactory(account=live, quantity=Decimal("2"))
    ticker_stored(live_position.symbol, Decimal("61000"))  # Binance is not asked

    paper_page = signed_in.get("/positions/").content.decode()
    response = signed_in.post("/positions/mode/", {"mode": "live", "next": "/positions/"})
    live_page = signed_in.get("/positions/").content.decode()
    live_orders = signed_in.get("/orders/").content.decode()

    assert response.status_code == 302 and response["Location"] == "/positions/"
    assert f'id="position-{paper_position.pk}"' in paper_page and f'id="position-{live_position.pk}"' not in paper_page
    assert f'id="position-{live_position.pk}"' in live_page and f'id="position-{paper_position.pk}"' not in live_page
    assert '<span class="mode-live">LIVE</span> accounts' in live_page and "Binance main" in live_page
    assert "BTC/USDT · BINANCE" in live_orders and "BTC/USDT · SIM" not in live_orders

    signed_in.post("/positions/mode/", {"mode": "paper"})
    assert f'id="position-{paper_position.pk}"' in signed_in.get("/positions/").content.decode()


def test_switching_with_htmx_refreshes_and_unknown_modes_or_foreign_redirects_are_ignored(signed_in, account, sim) -> None:
    PositionFactory(account=account, symbol=sim["BTC/USDT"])

    assert signed_in.post("/positions/mode/", {"mode": "live"}, headers=HTMX)["HX-Refresh"] == "true"
    assert signed_in.post("/positions/mode/", {"mode": "paper", "next": "https://evil.example/"})["Location"] == "/"
    signed_in.post("/positions/mode/", {"mode": "casino"})
    assert "Paper accounts" in signed_in.get("/positions/").content.decode()


def test_pages_need_a_signed_in_user(client) -> None:
    for url in ("/orders/", "/positions/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("quantity", [Decimal("0.5"), Decimal("-0.5")])
def test_a_position_at_its_entry_shows_zero_pnl_not_a_dash(signed_in, account, sim, quantity) -> None:
    eth = sim["ETH/USDT:USDT"]
    mark = marks_for([eth])[eth.pk]
    PositionFactory(account=account, symbol=eth, quantity=quantity, entry_price=mark)

    page = signed_in.get("/positions/").content.decode()

    assert '<td class="num " data-testid="unrealized-pnl">0</td>' in page
