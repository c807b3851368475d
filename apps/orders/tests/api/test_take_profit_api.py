"""/api/v1/orders/ with TAKE_PROFIT orders: placed resting with their trigger, refused without one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.portfolio.models import Balance

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


def _take_profit(account, **fields) -> dict:
    return {"account": str(account.pk), "symbol": "BTC/USDT", "side": "BUY", "order_type": "TAKE_PROFIT", "quantity": "0.01", **fields}


def test_a_take_profit_is_placed_resting_with_its_stop_price_as_a_string(api, account, sim) -> None:
    btc = sim["BTC/USDT"]
    stop = btc.round_price(current_book(btc).best_bid * Decimal("0.9"), "down")  # a buy take-profit waits for a fall to here

    response = api.post(ORDERS, _take_profit(account, stop_price=str(stop)))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["order_type"] == "TAKE_PROFIT" and body["status"] in ("OPEN", "NEW")
    assert body["stop_price"] == f"{stop.normalize():f}" and isinstance(body["stop_price"], str)
    assert (body["price"], body["filled_quantity"], body["average_price"]) == (None, "0", None)
    order = Order.objects.get(pk=body["id"])
    assert (order.order_type, order.stop_price, order.status) == ("TAKE_PROFIT", stop, body["status"])
    assert Decimal(body["held_amount"]) == Decimal("0.01") * stop * Decimal("1.02") * (1 + account.taker_fee_rate)
    assert api.get(ORDERS, {"status": "OPEN_ANY"}).json()["results"][0]["id"] == body["id"]


def test_a_take_profit_without_a_stop_price_is_a_400_naming_stop_price(api, account) -> None:
    response = api.post(ORDERS, _take_profit(account))

    assert response.status_code == 400, response.json()
    error = response.json()
    assert "stop_price" in error["extra"]["fields"], error
    assert "needs a stop price" in " ".join(error["extra"]["fields"]["stop_price"])
    assert not Order.objects.exists()
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert (usdt.free, usdt.locked) == (Decimal("100000"), Decimal(0))
