"""Details of the trading pages: the paper/live switch, trigger and cross-margin orders from the
form, the figures of the Positions page and a limit close."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import ticker_stored
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
MAINTENANCE_MARGIN_RATE = Decimal("0.005")  # SIM's perpetuals, one tier


def _form(symbol, **fields) -> dict[str, str]:
    return {
        "symbol": str(symbol.pk),
        "side": "BUY",
        "order_type": "MARKET",
        "quantity": "0.01",
        "time_in_force": "GTC",
        "leverage": "1",
        "margin_mode": "ISOLATED",
        "client_order_id": "",
        **fields,
    }


def _mode_buttons(page: str) -> dict[str, str]:
    """The header's mode switch: {button value: aria-pressed}."""
    start = page.index('data-testid="mode-toggle"')
    form = page[start : page.index("</form>", start)]
    buttons = re.findall(r'<button type="submit" name="mode" value="(\w+)"[^>]*aria-pressed="(\w+)"', form)
    return dict(buttons)


def _open_perp(trader, account, symbol, quantity: str, leverage: int) -> Position:
    order_submit(
        actor=trader,
        account=account,
        request=OrderRequest(symbol=symbol, side="BUY", order_type="MARKET", quantity=Decimal(quantity), leverage=leverage),
    )
    return Position.objects.get(account=account, symbol=symbol)


def _row(page: str, position: Position) -> str:
    start = page.index(f'id="position-{position.pk}"')
    return page[start : page.index("</tr>", start)]


# Header ------------------------------------------------------------------------------------


def test_the_header_of_a_signed_in_page_has_the_paper_live_switch_showing_the_current_mode(signed_in, account) -> None:
    paper_page = signed_in.get("/orders/").content.decode()
    signed_in.post("/positions/mode/", {"mode": "live", "next": "/orders/"})
    live_page = signed_in.get("/orders/").content.decode()

    assert 'action="/positions/mode/"' in paper_page and 'aria-label="Trading mode"' in paper_page
    assert _mode_buttons(paper_page) == {"paper": "true", "live": "false"}
    assert _mode_buttons(live_page) == {"paper": "false", "live": "true"}
    assert '<input type="hidden" name="next" value="/orders/">' in live_page  # the switch comes back to this page


def test_a_signed_out_page_has_no_mode_switch(client, db) -> None:
    page = client.get("/accounts/login/").content.decode()

    assert 'data-testid="mode-toggle"' not in page and "Sign in" in page


# The order form ----------------------------------------------------------------------------


def test_a_take_profit_from_the_form_rests_with_its_stop_price_until_triggered(signed_in, account, sim) -> None:
    btc = sim["BTC/USDT"]
    stop = btc.round_price(current_book(btc).best_bid * Decimal("0.9"), "down")  # a buy take-profit triggers on a fall to here

    response = signed_in.post("/orders/", _form(btc, order_type="TAKE_PROFIT", stop_price=str(stop), quantity="0.01"), headers=HTMX)

    assert response.status_code == 200, response.content.decode()
    assert "Buy 0.01 BTC/USDT: open" in response.content.decode()
    order = Order.objects.get(account=account)
    assert (order.order_type, order.stop_price, order.price, order.status) == ("TAKE_PROFIT", stop, None, "OPEN")
    assert (order.filled_quantity, order.fills.count()) == (0, 0)
    held = Decimal("0.01") * stop * Decimal("1.02") * (1 + account.taker_fee_rate)  # the trigger plus the 2 % market buffer, plus the taker fee
    assert (order.locked_asset, order.locked_amount) == ("USDT", held)
    assert Balance.objects.get(account=account, asset="USDT").locked == held
    table = signed_in.get("/orders/", {"table": "1", "tab": "open"}, headers=HTMX).content.decode()
    assert f'id="order-{order.pk}"' in table


def test_a_cross_margin_order_on_a_perpetual_from_the_form_keeps_cross(signed_in, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]

    response = signed_in.post("/orders/", _form(perp, margin_mode="CROSS", leverage="3", quantity="0.01"))

    assert response.status_code == 302
    order = Order.objects.get(account=account)
    assert (order.margin_mode, order.leverage, order.status) == ("CROSS", 3, "FILLED")
    position = Position.objects.get(account=account, symbol=perp)
    assert (position.margin_mode, position.quantity) == ("CROSS", Decimal("0.01"))


# Positions page ----------------------------------------------------------------------------


def test_the_positions_page_shows_mark_pnl_coloured_by_sign_roi_and_a_margin_ratio_gauge(signed_in, trader, account, sim) -> None:
    winner = _open_perp(trader, account, sim["BTC/USDT:USDT"], "0.1", leverage=5)
    loser = _open_perp(trader, account, sim["ETH/USDT:USDT"], "1", leverage=10)
    winner_mark = sim["BTC/USDT:USDT"].round_price(winner.entry_price * Decimal("1.03"))
    loser_mark = sim["ETH/USDT:USDT"].round_price(loser.entry_price * Decimal("0.96"))
    ticker_stored(winner.symbol, winner_mark)
    ticker_stored(loser.symbol, loser_mark)

    page = signed_in.get("/positions/").content.decode()

    for position, mark, colour in ((winner, winner_mark, "up"), (loser, loser_mark, "down")):
        row = _row(page, position)
        pnl = (mark - position.entry_price) * position.quantity
        margin = abs(position.quantity) * position.entry_price / position.leverage  # isolated margin posted at the entry
        assert position.isolated_margin == margin
        roi = (pnl / margin * 100).quantize(Decimal("0.01"))
        ratio = (abs(position.quantity) * mark * MAINTENANCE_MARGIN_RATE / (margin + pnl) * 100).quantize(Decimal("0.01"))
        assert f'data-testid="mark-price">{mark.normalize():f}</td>' in row
        assert f'<td class="num {colour}" data-testid="unrealized-pnl">{pnl.normalize():f}</td>' in row
        assert f'<td class="num {colour}">{roi} %</td>' in row
        assert f'<meter min="0" max="100" low="50" high="80" optimum="0" value="{ratio}"' in row
        assert f"<small>{ratio} %</small>" in row
    assert (
        Decimal(0)
        < Decimal(re.search(r'value="([\d.]+)"', _row(page, winner)).group(1))
        < Decimal(  # type: ignore[union-attr]
            re.search(r'value="([\d.]+)"', _row(page, loser)).group(1)  # type: ignore[union-attr]
        )
    )  # the losing, more leveraged position is nearer liquidation


def test_closing_a_position_with_a_limit_from_the_page_rests_a_reduce_only_limit_at_that_price(signed_in, trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    position = _open_perp(trader, account, perp, "0.1", leverage=5)
    price = perp.round_price(current_book(perp).best_ask * Decimal("1.05"), "up")  # above the market: a sell rests

    response = signed_in.post(f"/positions/{position.pk}/close/", {"price": str(price)}, follow=True)

    closing = Order.objects.get(account=account, reduce_only=True)
    assert (closing.order_type, closing.side, closing.price, closing.quantity, closing.status) == ("LIMIT", "SELL", price, Decimal("0.1"), "OPEN")
    assert "Closing BTC/USDT:USDT: open." in response.content.decode()
    position.refresh_from_db()
    assert position.quantity == Decimal("0.1")  # still open until the limit fills
    orders_page = signed_in.get("/orders/", {"table": "1", "tab": "open"}, headers=HTMX).content.decode()
    assert f'id="order-{closing.pk}"' in orders_page


def test_a_limit_close_at_an_unpriceable_value_is_refused_in_words(signed_in, trader, account, sim) -> None:
    position = _open_perp(trader, account, sim["BTC/USDT:USDT"], "0.1", leverage=5)

    response = signed_in.post(f"/positions/{position.pk}/close/", {"price": "abc"}, follow=True)

    assert "&#x27;abc&#x27; is not a price." in response.content.decode()
    assert not Order.objects.filter(account=account, reduce_only=True).exists()


def test_the_positions_page_offers_a_limit_close_priced_at_the_mark(signed_in, trader, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    position = _open_perp(trader, account, perp, "0.1", leverage=5)
    mark = perp.round_price(position.entry_price + 25)
    ticker_stored(perp, mark)

    page = signed_in.get("/positions/").content.decode()

    assert f'action="/positions/{position.pk}/close/"' in page
    assert 'data-testid="close-position-limit"' in page
    assert f'name="price" inputmode="decimal" required placeholder="limit price" value="{mark.normalize():f}"' in page
