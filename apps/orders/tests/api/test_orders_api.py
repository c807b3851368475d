"""/api/v1/orders/ and /api/v1/fills/: placing, reading and canceling orders as a bot would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.test import Client

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import api_key_header
from apps.exchanges.enums import ConnectionStatus
from apps.exchanges.tests.factories import SymbolFactory
from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.tests.factories import FillFactory, JsonApi, OrderFactory, TradingAccountFactory
from apps.portfolio.models import Balance
from apps.risk.services import risk_limits_update

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


def _market_buy(account, **fields) -> dict:
    return {"account": str(account.pk), "symbol": "BTC/USDT", "side": "BUY", "order_type": "MARKET", "quantity": "0.01", **fields}


def _below_market(symbol) -> str:
    return str((current_book(symbol).bids[0].price * Decimal("0.9")).quantize(Decimal("0.01")))


# Placing ----------------------------------------------------------------------------------


def test_a_market_buy_is_placed_filled_and_returned_with_money_as_strings(api, account) -> None:
    response = api.post(ORDERS, _market_buy(account))

    assert response.status_code == 201, response.json()
    assert response["Idempotent-Replayed"] == "false"
    body = response.json()
    assert (body["status"], body["side"], body["order_type"], body["symbol"], body["exchange"], body["source"]) == (
        "FILLED",
        "BUY",
        "MARKET",
        "BTC/USDT",
        "SIM",
        "api",
    )
    assert body["account"] == str(account.pk)
    for name in ("quantity", "filled_quantity", "remaining_quantity", "average_price", "fees", "held_amount"):
        assert isinstance(body[name], str), name
    assert (body["quantity"], body["filled_quantity"], body["remaining_quantity"], body["held_amount"]) == ("0.01", "0.01", "0", "0")
    order = Order.objects.get(pk=body["id"])
    assert Decimal(body["average_price"]) == order.average_price and Decimal(body["fees"]) == order.fees
    assert body["client_order_id"] == order.client_order_id and body["client_order_id"].startswith("tp")


def test_a_limit_order_by_slug_in_lower_case_rests_with_its_hold(api, account, sim) -> None:
    price = _below_market(sim["BTC/USDT"])

    response = api.post(ORDERS, _market_buy(account, symbol="btc-usdt", order_type="limit", side="buy", price=price, quantity="0.5"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "OPEN" and body["price"] == price.rstrip("0").rstrip(".")
    assert body["held_asset"] == "USDT" and Decimal(body["held_amount"]) == Decimal("0.5") * Decimal(price) * Decimal("1.0005")


def test_a_perpetual_order_with_leverage_and_exits(api, account, sim) -> None:
    mid = current_book(sim["BTC/USDT:USDT"]).mid
    stop_loss = str((mid * Decimal("0.9")).quantize(Decimal("0.1")))

    response = api.post(ORDERS, _market_buy(account, symbol="BTC-USDT-PERP", leverage=5, margin_mode="isolated", stop_loss=stop_loss))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["symbol"], body["leverage"], body["margin_mode"], body["take_profit"]) == ("BTC/USDT:USDT", 5, "ISOLATED", None)
    assert Decimal(body["stop_loss"]) == Decimal(stop_loss)


def test_an_amount_in_quote_is_converted_into_a_quantity(api, account, sim) -> None:
    mid = current_book(sim["BTC/USDT"]).mid

    response = api.post(ORDERS, {**_market_buy(account), "quantity": None, "quote_amount": "250"})

    assert response.status_code == 201, response.json()
    assert Decimal(response.json()["quantity"]) == (Decimal("250") / mid).quantize(Decimal("0.00001"), rounding=ROUND_DOWN)


def test_an_api_key_can_place_orders(client: Client, trader, account) -> None:
    created = api_key_create(actor=trader, name="grid bot", scopes=["read", "trade"])

    response = client.post(ORDERS, _market_buy(account), content_type="application/json", headers=api_key_header(created.plaintext))

    assert response.status_code == 201 and response.json()["source"] == "api"


def test_anonymous_clients_are_401(client: Client, account) -> None:
    assert client.post(ORDERS, _market_buy(account), content_type="application/json").status_code == 401
    assert client.get(ORDERS).json()["code"] == "not_authenticated"
    assert not Order.objects.exists()


# Idempotency -----------------------------------------------------------------------------


def test_the_same_client_order_id_twice_returns_the_first_order_with_200_and_says_so(api, account, sim) -> None:
    body = _market_buy(account, order_type="LIMIT", price=_below_market(sim["BTC/USDT"]), client_order_id="bot-7-0001")
    first = api.post(ORDERS, body)
    held = Balance.objects.get(account=account, asset="USDT").locked

    again = api.post(ORDERS, body)

    assert (first.status_code, first["Idempotent-Replayed"]) == (201, "false")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert again.json()["id"] == first.json()["id"] and again.json()["client_order_id"] == "bot-7-0001"
    assert Order.objects.count() == 1 and Balance.objects.get(account=account, asset="USDT").locked == held


# Bad input: the field is named and nothing is written -------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"quantity": "-1"}, 400, "invalid", "quantity"),
        ({"quantity": "0.000001"}, 400, "invalid_order", "quantity"),
        ({"quantity": "abc"}, 400, "invalid", "quantity"),
        ({"quantity": "1e30"}, 400, "invalid", "quantity"),
        ({"quantity": "NaN"}, 400, "invalid", "quantity"),
        ({"quantity": None}, 400, "invalid", "quantity"),
        ({"quote_amount": "100"}, 400, "invalid", "quote_amount"),
        ({"order_type": "LIMIT", "price": "50000.001"}, 400, "invalid_order", "price"),
        ({"order_type": "LIMIT", "price": "50000.005"}, 400, "invalid_order", "price"),
        ({"side": "HOLD"}, 400, "invalid", "side"),
        ({"side": None}, 400, "invalid", "side"),
        ({"leverage": 0}, 400, "invalid", "leverage"),
        ({"leverage": 500}, 400, "invalid", "leverage"),
        ({"symbol": "ETH/USDT:USDT", "leverage": 101}, 400, "invalid_order", "leverage"),
        ({"symbol": "DOGE/USDT"}, 404, "unknown_symbol", "symbol"),
        ({"account": "not-an-id"}, 400, "invalid", "account"),
        ({"account": "0190a3f0-0000-7000-8000-000000000000"}, 404, "not_found", "account"),
        ({"quantity": "100"}, 400, "insufficient_balance", "quantity"),
        ({"client_order_id": "x" * 40}, 400, "invalid", "client_order_id"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_written(api, account, change, status, code, field) -> None:
    body = {**_market_buy(account), **change}

    response = api.post(ORDERS, body)

    assert response.status_code == status, response.json()
    error = response.json()
    assert set(error) == {"code", "message", "extra"}
    assert error["code"] == code, error
    assert field in error["extra"]["fields"], error
    assert not Order.objects.exists()
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert (usdt.free, usdt.locked) == (Decimal("100000"), Decimal(0))


def test_an_order_refused_by_risk_is_a_422_with_the_reason(api, trader, account) -> None:
    risk_limits_update(actor=trader, max_order_notional=Decimal("100"))

    response = api.post(ORDERS, _market_buy(account))

    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "risk_rejected" and error["extra"] == {"rule": "max_order_notional"}
    assert "is above the limit of 100.00 per order" in error["message"]


def test_invalid_json_is_a_400_parse_error(api) -> None:
    response = api.client.post(ORDERS, "{not json", content_type="application/json", headers=api.headers)

    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_an_order_on_someone_elses_account_is_404(api) -> None:
    theirs = TradingAccountFactory(balances={"USDT": "100000"})

    response = api.post(ORDERS, _market_buy(theirs))

    assert response.status_code == 404 and response.json()["extra"]["fields"] == {"account": ["No such trading account."]}
    assert not Order.objects.exists()


# Reading ----------------------------------------------------------------------------------


def test_orders_are_listed_newest_first_paginated_and_only_mine(api, account, sim) -> None:
    old = OrderFactory(account=account, symbol=sim["BTC/USDT"])
    new = OrderFactory(account=account, symbol=sim["BTC/USDT"])
    OrderFactory(symbol=sim["BTC/USDT"])  # someone else's

    body = api.get(ORDERS, {"page_size": 1}).json()

    assert body["count"] == 2 and body["next"] is not None
    assert [o["id"] for o in body["results"]] == [str(new.pk)]
    assert [o["id"] for o in api.get(ORDERS, {"page": 2, "page_size": 1}).json()["results"]] == [str(old.pk)]


def test_orders_filter_by_account_status_symbol_mode_and_since(api, trader, account, sim) -> None:
    btc = OrderFactory(account=account, symbol=sim["BTC/USDT"], status="OPEN")
    perp = OrderFactory(account=account, symbol=sim["BTC/USDT:USDT"], status="FILLED", filled_quantity=Decimal("0.01"), price=Decimal("50000.0"))
    partial = OrderFactory(account=account, symbol=sim["ETH/USDT"], status="PARTIALLY_FILLED", filled_quantity=Decimal("0.001"))
    live = TradingAccountFactory(owner=trader, live=True)
    live_order = OrderFactory(account=live)
    Order.objects.filter(pk=btc.pk).update(created_at=datetime.now(UTC) - timedelta(days=3))

    def ids(**params) -> set[str]:
        response = api.get(ORDERS, params)
        assert response.status_code == 200, response.json()
        return {o["id"] for o in response.json()["results"]}

    assert ids(symbol="BTC/USDT") == {str(btc.pk), str(live_order.pk)}  # exact: not the perpetual
    assert ids(symbol="BTC/USDT", mode="paper") == {str(btc.pk)}
    assert ids(symbol="btc-usdt-perp") == {str(perp.pk)}
    assert ids(status="filled") == {str(perp.pk)}
    assert ids(status="OPEN_ANY") == {str(btc.pk), str(partial.pk), str(live_order.pk)}
    assert ids(account=str(account.pk)) == {str(btc.pk), str(perp.pk), str(partial.pk)}
    assert ids(mode="live") == {str(live_order.pk)}
    assert ids(since=(datetime.now(UTC) - timedelta(days=1)).isoformat()) == {str(perp.pk), str(partial.pk), str(live_order.pk)}


@pytest.mark.parametrize(
    ("params", "field"), [({"status": "DONE"}, "status"), ({"since": "yesterday"}, "since"), ({"mode": "demo"}, "mode"), ({"account": "nope"}, "account")]
)
def test_bad_filters_are_refused_naming_the_parameter(api, params, field) -> None:
    response = api.get(ORDERS, params)

    assert response.status_code in (400, 404)
    assert field in response.json()["extra"]["fields"]


def test_one_order_is_read_by_id_and_someone_elses_is_404(api, account, sim) -> None:
    mine = OrderFactory(account=account, symbol=sim["BTC/USDT"])
    theirs = OrderFactory(symbol=sim["BTC/USDT"])

    assert api.get(f"{ORDERS}{mine.pk}/").json()["id"] == str(mine.pk)
    response = api.get(f"{ORDERS}{theirs.pk}/")
    assert response.status_code == 404 and response.json() == {"code": "not_found", "message": "No such order.", "extra": {}}


# Canceling --------------------------------------------------------------------------------


def test_canceling_an_open_order_returns_it_canceled_and_releases_the_hold(api, account, sim) -> None:
    placed = api.post(ORDERS, _market_buy(account, order_type="LIMIT", price=_below_market(sim["BTC/USDT"]))).json()

    response = api.post(f"{ORDERS}{placed['id']}/cancel/")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["held_amount"], response.json()["reason"]) == ("CANCELED", "0", "canceled by you")
    assert Balance.objects.get(account=account, asset="USDT").locked == 0


def test_canceling_a_filled_order_is_a_409_with_a_clear_message(api, account) -> None:
    placed = api.post(ORDERS, _market_buy(account)).json()

    response = api.post(f"{ORDERS}{placed['id']}/cancel/")

    assert response.status_code == 409
    assert response.json() == {"code": "order_not_cancelable", "message": "This order is filled; only open orders can be canceled.", "extra": {}}


def test_canceling_someone_elses_order_is_404_and_leaves_it_open(api, sim) -> None:
    theirs = OrderFactory(symbol=sim["BTC/USDT"])

    response = api.post(f"{ORDERS}{theirs.pk}/cancel/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "OPEN"


# Fills ------------------------------------------------------------------------------------


def test_fills_are_listed_with_strings_and_filtered_by_order_symbol_and_account(api, account, sim) -> None:
    placed = api.post(ORDERS, _market_buy(account)).json()
    other = FillFactory(order__account=account, order__symbol=sim["ETH/USDT"])
    FillFactory()  # someone else's

    everything = api.get("/api/v1/fills/").json()
    by_order = api.get("/api/v1/fills/", {"order": placed["id"]}).json()["results"]

    assert {f["order"] for f in everything["results"]} == {placed["id"], str(other.order_id)}
    assert by_order and all(f["symbol"] == "BTC/USDT" and f["liquidity"] == "TAKER" and f["fee_currency"] == "USDT" for f in by_order)
    assert sum(Decimal(f["quantity"]) for f in by_order) == Decimal("0.01")
    assert all(isinstance(f[name], str) for f in by_order for name in ("price", "quantity", "fee", "realized_pnl"))
    assert [f["order"] for f in api.get("/api/v1/fills/", {"symbol": "ETH/USDT"}).json()["results"]] == [str(other.order_id)]
    assert api.get("/api/v1/fills/", {"account": str(account.pk)}).json()["count"] == everything["count"]
    assert api.get("/api/v1/fills/", {"order": "nope"}).json()["extra"]["fields"] == {"order": ["order 'nope' is not an order id."]}


def test_another_user_sees_none_of_my_orders_or_fills(client: Client, account) -> None:
    mine = JsonApi(client, account.owner).post(ORDERS, _market_buy(account)).json()
    stranger = JsonApi(client, UserFactory())

    assert stranger.get(ORDERS).json()["count"] == 0
    assert stranger.get("/api/v1/fills/").json()["count"] == 0
    assert stranger.get(f"{ORDERS}{mine['id']}/").status_code == 404
    assert stranger.get(ORDERS, {"account": str(account.pk)}).status_code == 404


def test_a_live_order_without_a_verified_connection_is_a_400_naming_the_account_and_sends_nothing(api, trader) -> None:
    live = TradingAccountFactory(owner=trader, live=True, balances={"USDT": "1000"})
    live.api_connection.status = ConnectionStatus.FAILED
    live.api_connection.save(update_fields=["status"])
    SymbolFactory(exchange=live.exchange, symbol="BTC/USDT")

    response = api.post(ORDERS, {"account": str(live.pk), "symbol": "BTC/USDT", "side": "BUY", "order_type": "LIMIT", "quantity": "0.01", "price": "50000"})

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "live_account_not_ready" and list(error["extra"]["fields"]) == ["account"]
    assert "not verified" in error["message"]
    assert not Order.objects.exists()
    assert Balance.objects.get(account=live, asset="USDT").locked == 0
