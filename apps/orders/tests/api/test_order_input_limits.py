"""Order ids and numbers are ASCII; amounts have an upper bound. Each refusal names the field and writes nothing."""

from __future__ import annotations

import pytest

from apps.orders.models import Order

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


def _market_buy(account, **fields) -> dict:
    return {"account": str(account.pk), "symbol": "BTC/USDT", "side": "BUY", "order_type": "MARKET", "quantity": "0.01", **fields}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_order_id": "bot-é-1"}, "client_order_id"),
        ({"client_order_id": "ботик"}, "client_order_id"),
        ({"client_order_id": "bot-١٢"}, "client_order_id"),
        ({"client_order_id": "bot 1"}, "client_order_id"),
        ({"quantity": "٠.٠١"}, "quantity"),
        ({"quantity": "０.０１"}, "quantity"),
        ({"leverage": "２"}, "leverage"),
        ({"quantity": "1000000000000000"}, "quantity"),
        ({"order_type": "LIMIT", "price": "1e16"}, "price"),
        ({"quantity": None, "quote_amount": "5e15"}, "quote_amount"),
    ],
)
def test_non_ascii_ids_and_digits_and_huge_amounts_are_refused_naming_the_field(api, account, change, field) -> None:
    response = api.post(ORDERS, _market_buy(account, **change))

    assert response.status_code == 400, response.json()
    assert field in response.json()["extra"]["fields"]
    assert not Order.objects.exists()


def test_an_ascii_id_with_dashes_and_underscores_is_kept(api, account) -> None:
    response = api.post(ORDERS, _market_buy(account, client_order_id="Bot_7-0001"))

    assert response.status_code == 201, response.json()
    assert response.json()["client_order_id"] == "Bot_7-0001"


def test_the_service_refuses_non_ascii_ids_from_every_entry_point(trader, account, sim) -> None:
    from apps.core.errors import ValidationError
    from apps.orders.services.placement import OrderRequest, order_submit

    request = OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="MARKET", client_order_id="ид-1")
    with pytest.raises(ValidationError) as refused:
        order_submit(actor=trader, account=account, request=request)

    assert "client_order_id" in refused.value.extra["fields"]
