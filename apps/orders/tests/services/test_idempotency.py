"""A client_order_id places at most one order, however often (and however concurrently) it is sent."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.accounts.tests.factories import UserFactory
from apps.orders.models import Order
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.orders.tests.factories import TradingAccountFactory, sim_markets
from apps.portfolio.models import Balance


def _limit_buy(symbol, client_order_id: str) -> OrderRequest:
    price = (current_book(symbol).bids[0].price * Decimal("0.9")).quantize(Decimal("0.01"))
    return OrderRequest(symbol=symbol, side="BUY", order_type="LIMIT", quantity=Decimal("0.1"), price=price, client_order_id=client_order_id)


@pytest.mark.django_db
def test_submitting_the_same_client_order_id_twice_returns_the_first_order(trader, account, sim) -> None:
    request = _limit_buy(sim["BTC/USDT"], "my-order-1")
    first = order_submit(actor=trader, account=account, request=request)
    usdt = Balance.objects.get(account=account, asset="USDT")

    again = order_submit(actor=trader, account=account, request=request)

    assert again.pk == first.pk
    assert Order.objects.filter(account=account).count() == 1
    usdt_after = Balance.objects.get(account=account, asset="USDT")
    assert (usdt_after.free, usdt_after.locked) == (usdt.free, usdt.locked) == (Decimal("100000") - first.locked_amount, first.locked_amount)


@pytest.mark.django_db
def test_a_repeated_client_order_id_returns_the_first_order_even_if_the_second_asks_for_something_else(trader, account, sim) -> None:
    first = order_submit(actor=trader, account=account, request=_limit_buy(sim["BTC/USDT"], "retry-42"))

    again = order_submit(
        actor=trader,
        account=account,
        request=OrderRequest(symbol=sim["ETH/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("1"), client_order_id="retry-42"),
    )

    assert again.pk == first.pk and again.symbol.symbol == "BTC/USDT"
    assert Order.objects.count() == 1 and not Balance.objects.filter(account=account, asset="ETH").exists()


@pytest.mark.django_db
def test_the_same_client_order_id_on_two_accounts_is_two_orders(trader, account, sim) -> None:
    other = TradingAccountFactory(owner=UserFactory(), balances={"USDT": "100000"})

    mine = order_submit(actor=trader, account=account, request=_limit_buy(sim["BTC/USDT"], "shared-id"))
    theirs = order_submit(actor=other.owner, account=other, request=_limit_buy(sim["BTC/USDT"], "shared-id"))

    assert mine.pk != theirs.pk and Order.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_submits_place_exactly_one_order_and_one_hold() -> None:
    symbol = sim_markets()["BTC/USDT"]
    trader = UserFactory()
    account = TradingAccountFactory(owner=trader, balances={"USDT": "100000"})
    request = _limit_buy(symbol, "double-click")  # also warms the cached book every thread reads
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    results: list[str] = []
    errors: list[Exception] = []

    def submit() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(str(order_submit(actor=trader, account=account, request=request).pk))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == threads_count and len(set(results)) == 1
    order = Order.objects.get(account=account)
    assert str(order.pk) == results[0] and order.client_order_id == "double-click"
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert usdt.locked == order.locked_amount > 0
    assert usdt.free == Decimal("100000") - order.locked_amount
