"""The Orders page: the order form (plain and htmx), the preview, the tables and cancel."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.portfolio.domain.margin import cross_liquidation_price, isolated_liquidation_price
from apps.portfolio.models import Balance, TradingAccount
from apps.risk.services import risk_limits_update

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


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


def test_without_an_account_the_page_offers_to_create_a_paper_one(client: Client, trader, sim) -> None:
    client.force_login(trader)

    page = client.get("/orders/").content.decode()

    assert "Create a paper account" in page and 'data-testid="place-order"' not in page


def test_creating_a_paper_account_from_the_page_lands_on_the_order_form(client: Client, trader, sim) -> None:
    client.force_login(trader)

    response = client.post("/positions/accounts/paper/", {"exchange": "SIM", "starting_usdt": "2500"}, follow=True)

    account = TradingAccount.objects.get(owner=trader)
    assert (account.mode, account.exchange.code) == ("paper", "SIM")
    assert Balance.objects.get(account=account, asset="USDT").free == Decimal("2500")
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/orders/"
    assert "Paper account created." in page and 'data-testid="place-order"' in page
    assert '<span data-testid="balance-free-USDT">2500</span>' in page


def test_the_paper_account_form_offers_the_venues_fee_tiers_and_keeps_them_to_their_venue(client: Client, trader, sim) -> None:
    client.force_login(trader)
    page = client.get("/orders/").content.decode()
    assert "SIM Market maker: spot -0.005 % / 0.03 %" in page and "BINANCE VIP 1" in page

    refused = client.post("/positions/accounts/paper/", {"exchange": "SIM", "starting_usdt": "2500", "fee_tier": "BINANCE:VIP 1"}, follow=True)
    assert "That tier is BINANCE" in refused.content.decode() and not TradingAccount.objects.filter(owner=trader).exists()

    client.post("/positions/accounts/paper/", {"exchange": "SIM", "starting_usdt": "2500", "fee_tier": "SIM:Market maker"})
    assert TradingAccount.objects.get(owner=trader).fee_tier == "Market maker"


def test_the_page_shows_the_form_balances_and_an_empty_table(signed_in, account) -> None:
    page = signed_in.get("/orders/").content.decode()

    assert 'id="order-form"' in page and "BTC/USDT · SIM" in page and "BTC/USDT:USDT · SIM" in page
    assert '<span data-testid="balance-free-USDT">100000</span>' in page
    assert "No orders here." in page


def test_posting_the_form_places_the_order_and_redirects_to_the_page(signed_in, account, sim) -> None:
    response = signed_in.post("/orders/", _form(sim["BTC/USDT"]))

    assert response.status_code == 302 and response["Location"] == "/orders/"
    order = Order.objects.get(account=account)
    assert (order.status, order.source, order.quantity) == ("FILLED", "ui", Decimal("0.01"))
    page = signed_in.get("/orders/?tab=history").content.decode()
    assert page.count("Buy 0.01 BTC/USDT: filled") == 1
    assert f'id="order-{order.pk}"' in page and 'data-testid="order-status">Filled<' in page


def test_posting_the_form_with_htmx_returns_the_trade_panel_with_a_fresh_order_id(signed_in, account, sim) -> None:
    form = _form(sim["BTC/USDT"], client_order_id="form-1")

    response = signed_in.post("/orders/", form, headers=HTMX)

    assert response.status_code == 200
    assert "orders-changed" in json.loads(response["HX-Trigger"])  # the order table reloads itself
    panel = response.content.decode()
    assert panel.lstrip().startswith('<section id="trade-panel">')
    assert "Buy 0.01 BTC/USDT: filled" in panel
    assert 'name="client_order_id" value="tp' in panel  # the next submit is a new order
    assert Order.objects.get(account=account).client_order_id == "form-1"
    assert Balance.objects.get(account=account, asset="BTC").free == Decimal("0.01")


def test_round_quantities_and_prices_read_as_written_not_in_e_notation(signed_in, account, sim) -> None:
    response = signed_in.post("/orders/", _form(sim["SOL/USDT"], quantity="10"), headers=HTMX)
    Order.objects.filter(account=account).update(price=Decimal("150"))  # as a limit at a round price would show

    table = signed_in.get("/orders/", {"table": "1", "tab": "all"}, headers=HTMX).content.decode()

    assert "Buy 10 SOL/USDT: filled" in response.content.decode()
    assert '<td class="num">10 / 10</td>' in table and '<td class="num">150<' in table
    assert "E+" not in table


def test_a_double_submitted_form_places_one_order(signed_in, account, sim) -> None:
    form = _form(sim["BTC/USDT"], client_order_id="double-click-1")

    signed_in.post("/orders/", form, headers=HTMX)
    signed_in.post("/orders/", form, headers=HTMX)

    assert Order.objects.filter(account=account).count() == 1


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"quantity": "-1"}, "id_quantity_errors", "greater than or equal to 0"),
        ({"quantity": ""}, "id_quantity_errors", "Give a quantity, or an amount in the quote currency."),
        ({"order_type": "LIMIT", "price": "50000.005"}, "id_price_errors", "is not a multiple of the tick size 0.01."),
        ({"quantity": "50"}, "id_quantity_errors", "Not enough USDT."),
        ({"leverage": "5"}, "id_leverage_errors", "only for perpetual markets"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_a_bad_order_shows_the_error_on_its_field_and_places_nothing(signed_in, account, sim, fields, field_id, message, htmx) -> None:
    response = signed_in.post("/orders/", _form(sim["BTC/USDT"], **fields), headers=HTMX if htmx else {})

    assert response.status_code == 400
    page = response.content.decode()
    error = page[page.index(f'id="{field_id}"') :]
    assert message in error[: error.index("</small>")]
    assert not Order.objects.exists()
    assert Balance.objects.get(account=account, asset="USDT").locked == 0


def test_a_risk_refusal_is_shown_on_top_of_the_form(signed_in, trader, account, sim) -> None:
    risk_limits_update(actor=trader, max_order_notional=Decimal("10"))

    response = signed_in.post("/orders/", _form(sim["BTC/USDT"]), headers=HTMX)

    assert response.status_code == 400
    assert "Your risk limits: order value" in response.content.decode()
    assert not Order.objects.exists()


def test_the_order_table_refreshes_alone_for_htmx_and_filters(signed_in, trader, account, sim) -> None:
    btc = order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.01")))
    eth = order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim["ETH/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.1")))

    response = signed_in.get("/orders/", {"table": "1", "tab": "history", "symbol": "ETH"}, headers=HTMX)

    table = response.content.decode()
    assert table.lstrip().startswith('<div id="order-table"')
    assert f'id="order-{eth.pk}"' in table and f'id="order-{btc.pk}"' not in table


def test_canceling_from_the_page_releases_the_hold(signed_in, trader, account, sim) -> None:
    price = (current_book(sim["BTC/USDT"]).bids[0].price * Decimal("0.9")).quantize(Decimal("0.01"))
    order = order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="LIMIT", quantity=Decimal("0.1"), price=price)
    )
    assert f'action="/orders/{order.pk}/cancel/"' in signed_in.get("/orders/").content.decode()

    response = signed_in.post(f"/orders/{order.pk}/cancel/", headers=HTMX)

    assert response.status_code == 204
    order.refresh_from_db()
    assert order.status == "CANCELED"
    assert Balance.objects.get(account=account, asset="USDT").locked == 0


def test_canceling_a_filled_order_from_the_page_says_why(signed_in, trader, account, sim) -> None:
    order = order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.01")))

    htmx = signed_in.post(f"/orders/{order.pk}/cancel/", headers=HTMX)
    plain = signed_in.post(f"/orders/{order.pk}/cancel/", follow=True)

    assert htmx.status_code == 409 and htmx.content.decode() == "This order is filled; only open orders can be canceled."
    assert "This order is filled; only open orders can be canceled." in plain.content.decode()


# Preview ----------------------------------------------------------------------------------


def test_the_preview_of_a_perpetual_shows_cost_fee_hold_and_liquidation_price(signed_in, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    price = (current_book(perp).bids[0].price * Decimal("0.98")).quantize(Decimal("0.1"))
    quantity, leverage = Decimal("0.5"), 10
    notional = quantity * price
    liquidation = perp.round_price(
        isolated_liquidation_price(quantity=quantity, entry_price=price, leverage=leverage, maintenance_margin_rate=Decimal("0.005"))
    )

    response = signed_in.post(
        "/orders/preview/", _form(perp, order_type="LIMIT", price=str(price), quantity=str(quantity), leverage=str(leverage)), headers=HTMX
    )

    preview = response.content.decode()
    assert response.status_code == 200
    assert f"<dt>Cost</dt><dd>{notional.normalize():f}</dd>" in preview
    assert f"<dt>Fee (est.)</dt><dd>{(notional * Decimal('0.0005')).normalize():f}</dd>" in preview
    assert f"<dt>Held</dt><dd>{(notional / leverage + notional * Decimal('0.0005')).normalize():f} USDT</dd>" in preview
    assert f'<dd data-testid="preview-liquidation">{liquidation.normalize():f}</dd>' in preview
    assert 'role="alert"' not in preview
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("symbol", "fields", "words"),
    [
        ("BTC/USDT", {"quantity": "50"}, "Not enough USDT: needs"),
        ("ETH/USDT:USDT", {"leverage": "110", "quantity": "0.1"}, "Leverage 110x is above the maximum of 100x for ETH/USDT:USDT."),
        ("BTC/USDT", {"order_type": "LIMIT", "price": "50000.005"}, "Price 50000.005 is not a multiple of the tick size 0.01."),
        ("BTC/USDT", {"quantity": "0.00001"}, "is below the minimum of 5 USDT."),
    ],
)
def test_the_preview_explains_a_rejection_in_words(signed_in, account, sim, symbol, fields, words) -> None:
    response = signed_in.post("/orders/preview/", _form(sim[symbol], **fields), headers=HTMX)

    alerts = [part.split("</p>")[0] for part in response.content.decode().split('<p class="field-error" role="alert">')[1:]]
    assert any(words in alert for alert in alerts), alerts


def test_the_preview_explains_a_risk_refusal(signed_in, trader, account, sim) -> None:
    risk_limits_update(actor=trader, max_leverage=3)

    response = signed_in.post("/orders/preview/", _form(sim["BTC/USDT:USDT"], leverage="20"), headers=HTMX)

    assert "Your risk limits: leverage 20x is above the limit of 3x." in response.content.decode()


def test_a_cross_margin_preview_backs_the_position_with_the_whole_wallet(signed_in, account, sim) -> None:
    perp = sim["BTC/USDT:USDT"]
    Balance.objects.filter(account=account, asset="USDT").update(free=Decimal(5000))
    price = (current_book(perp).bids[0].price * Decimal("0.98")).quantize(Decimal("0.1"))
    quantity, leverage = Decimal("0.5"), 10
    mmr = Decimal("0.005")
    cross = perp.round_price(cross_liquidation_price(quantity=quantity, entry_price=price, maintenance_margin_rate=mmr, wallet_balance=Decimal(5000)))
    isolated = perp.round_price(isolated_liquidation_price(quantity=quantity, entry_price=price, leverage=leverage, maintenance_margin_rate=mmr))
    assert cross < isolated  # the whole wallet stands behind it, not just a tenth of the notional

    form = _form(perp, order_type="LIMIT", price=str(price), quantity=str(quantity), leverage=str(leverage), margin_mode="CROSS")
    preview = signed_in.post("/orders/preview/", form, headers=HTMX).content.decode()

    assert f'<dd data-testid="preview-liquidation">{cross.normalize():f}</dd>' in preview
