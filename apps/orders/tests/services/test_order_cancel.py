"""Cancelling paper orders: the hold comes back; what has ended cannot be canceled."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.core.errors import NotFoundError
from apps.orders.errors import OrderNotCancelableError
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_cancel, order_submit
from apps.portfolio.models import Balance

pytestmark = pytest.mark.django_db


def _resting_buy(trader, account, symbol):
    price = (current_book(symbol).bids[0].price * Decimal("0.9")).quantize(Decimal("0.01"))
    return order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=symbol, side="BUY", order_type="LIMIT", quantity=Decimal("0.5"), price=price)
    )


def test_canceling_a_resting_order_releases_its_hold(trader, account, sim) -> None:
    order = _resting_buy(trader, account, sim["BTC/USDT"])
    assert Balance.objects.get(account=account, asset="USDT").locked > 0

    canceled = order_cancel(actor=trader, order_id=order.pk)

    canceled.refresh_from_db()
    assert canceled.status == "CANCELED" and canceled.reject_reason == "canceled by you"
    assert canceled.closed_at is not None and canceled.locked_amount == 0
    usdt = Balance.objects.get(account=account, asset="USDT")
    assert (usdt.free, usdt.locked) == (Decimal("100000"), Decimal(0))
    assert AuditEvent.objects.filter(action="order.canceled", target_id=str(order.pk)).exists()


def test_canceling_a_filled_order_is_a_409_that_says_why(trader, account, sim) -> None:
    filled = order_submit(
        actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.01"))
    )
    before = Balance.objects.get(account=account, asset="USDT").free

    with pytest.raises(OrderNotCancelableError) as refused:
        order_cancel(actor=trader, order_id=filled.pk)

    assert refused.value.status_code == 409
    assert refused.value.message == "This order is filled; only open orders can be canceled."
    filled.refresh_from_db()
    assert filled.status == "FILLED"
    assert Balance.objects.get(account=account, asset="USDT").free == before


def test_canceling_twice_is_refused_the_second_time(trader, account, sim) -> None:
    order = _resting_buy(trader, account, sim["BTC/USDT"])
    order_cancel(actor=trader, order_id=order.pk)

    with pytest.raises(OrderNotCancelableError, match="This order is canceled"):
        order_cancel(actor=trader, order_id=order.pk)


@pytest.mark.parametrize("order_id", ["not-a-uuid", "0190a3f0-0000-7000-8000-000000000000"])
def test_canceling_an_unknown_order_is_not_found(trader, order_id) -> None:
    with pytest.raises(NotFoundError, match=r"No such order\."):
        order_cancel(actor=trader, order_id=order_id)


def test_another_user_cannot_cancel_my_order(trader, account, sim) -> None:
    order = _resting_buy(trader, account, sim["BTC/USDT"])

    with pytest.raises(NotFoundError):
        order_cancel(actor=UserFactory(), order_id=order.pk)

    order.refresh_from_db()
    assert order.status == "OPEN" and order.locked_amount > 0
