"""Idempotent-Replayed is true exactly for the responses that did not place the order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.tests.factories import TradingAccountFactory, bearer, sim_markets
from apps.portfolio.models import Balance

SUBMITTERS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_submissions_of_one_client_order_id_place_one_order_and_only_its_response_says_new() -> None:
    symbol = sim_markets()["BTC/USDT"]
    trader = UserFactory()
    account = TradingAccountFactory(owner=trader, balances={"USDT": "100000"})
    price = str((current_book(symbol).bids[0].price * Decimal("0.9")).quantize(Decimal("0.01")))
    body = {"account": str(account.pk), "symbol": "BTC/USDT", "side": "BUY", "order_type": "LIMIT", "quantity": "0.01", "price": price}
    body["client_order_id"] = "race-0001"
    headers = bearer(trader)
    start_together = threading.Barrier(SUBMITTERS)

    def submit(_: int) -> tuple[int, str, str]:
        try:
            start_together.wait(timeout=30)
            response = Client().post("/api/v1/orders/", body, content_type="application/json", headers=headers)
            return response.status_code, response["Idempotent-Replayed"], response.json()["id"]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=SUBMITTERS) as pool:
        results = list(pool.map(submit, range(SUBMITTERS)))

    order = Order.objects.get(account=account, client_order_id="race-0001")
    assert Order.objects.filter(account=account).count() == 1
    assert {order_id for _, _, order_id in results} == {str(order.pk)}
    assert sorted((status, replayed) for status, replayed, _ in results) == [(200, "true")] * (SUBMITTERS - 1) + [(201, "false")]
    assert Balance.objects.get(account=account, asset="USDT").locked == order.locked_amount


@pytest.mark.django_db
def test_a_resend_long_after_is_replayed_and_a_new_id_is_not() -> None:
    sim_markets()
    trader = UserFactory()
    account = TradingAccountFactory(owner=trader, balances={"USDT": "100000"})
    client, headers = Client(), bearer(trader)
    body = {"account": str(account.pk), "symbol": "BTC/USDT", "side": "BUY", "order_type": "MARKET", "quantity": "0.01", "client_order_id": "bot-1"}

    first = client.post("/api/v1/orders/", body, content_type="application/json", headers=headers)
    again = client.post("/api/v1/orders/", body, content_type="application/json", headers=headers)
    other = client.post("/api/v1/orders/", {**body, "client_order_id": "bot-2"}, content_type="application/json", headers=headers)

    assert [(r.status_code, r["Idempotent-Replayed"]) for r in (first, again, other)] == [(201, "false"), (200, "true"), (201, "false")]
