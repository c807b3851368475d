"""The pre-trade check refuses an order whose resulting perpetual position would open beyond its maintenance margin."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.orders.errors import RiskRejectedError
from apps.orders.services.market_inputs import current_book
from apps.orders.services.placement import OrderRequest, order_submit
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def under_water(account, sim) -> Position:
    """An isolated long whose mark has moved past its liquidation price before the matcher saw it."""
    perp = sim["BTC/USDT:USDT"]
    mid = current_book(perp).mid
    margin = Decimal("10")
    Balance.objects.filter(account=account, asset="USDT").update(locked=margin)
    return Position.objects.create(
        account=account, symbol=perp, quantity=Decimal("0.1"), entry_price=perp.round_price(mid * Decimal("1.05")), leverage=10, isolated_margin=margin
    )


def _order(sim, side: str, quantity: str, leverage: int = 10, **extra) -> OrderRequest:
    return OrderRequest(symbol=sim["BTC/USDT:USDT"], side=side, order_type="MARKET", quantity=Decimal(quantity), leverage=leverage, **extra)


def test_adding_to_a_position_beyond_its_maintenance_margin_is_refused_with_the_reason(trader, account, sim, under_water) -> None:
    with pytest.raises(RiskRejectedError) as refused:
        order_submit(actor=trader, account=account, request=_order(sim, "BUY", "0.01"))

    assert refused.value.extra["rule"] == "maintenance_margin"
    assert "beyond its maintenance margin" in refused.value.message and "liquidated at 100 %" in refused.value.message
    under_water.refresh_from_db()
    assert under_water.quantity == Decimal("0.1")
    assert AuditEvent.objects.filter(owner=trader, action="order.rejected_by_risk").exists()


def test_reducing_it_is_always_allowed(trader, account, sim, under_water) -> None:
    order = order_submit(actor=trader, account=account, request=_order(sim, "SELL", "0.05", reduce_only=True))
    assert order.status == "FILLED"


def test_a_flip_is_judged_by_the_position_it_opens(trader, account, sim, under_water) -> None:
    order = order_submit(actor=trader, account=account, request=_order(sim, "SELL", "0.2", leverage=20))

    assert order.status == "FILLED"
    under_water.refresh_from_db()
    assert under_water.quantity == Decimal("-0.1")


def test_a_fresh_position_at_the_highest_leverage_opens(trader, account, sim) -> None:
    order = order_submit(actor=trader, account=account, request=_order(sim, "BUY", "0.01", leverage=125))
    assert order.status == "FILLED"


def test_the_api_answers_a_refusal_with_a_4xx_and_the_reason(trader, account, sim, under_water, client) -> None:
    from apps.orders.tests.factories import JsonApi

    api = JsonApi(client, trader)
    response = api.post(
        "/api/v1/orders/",
        {"account": str(account.pk), "symbol": "BTC/USDT:USDT", "side": "BUY", "order_type": "MARKET", "quantity": "0.01", "leverage": 10},
    )

    assert response.status_code == 422, response.content
    assert "beyond its maintenance margin" in response.json()["message"]
