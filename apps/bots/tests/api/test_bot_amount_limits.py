"""Bot amounts have upper bounds and ASCII digits: a bot that could only fail at its first bar is refused when created."""

from __future__ import annotations

import pytest

from apps.bots.models import Bot
from apps.orders.tests.factories import JsonApi

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, trader):
    return JsonApi(client, trader)


def _create(api, account, **changes):
    body = {"name": "dca", "account": str(account.pk), "symbol": "SOL/USDT", "timeframe": "1m", "strategy": "dca", "params": {}} | changes
    return api.post("/api/v1/bots/", body)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"params": {"order_quote": 1e308}}, "params.order_quote"),
        ({"params": {"order_quote": 2e15}}, "params.order_quote"),
        ({"strategy": "grid", "params": {"lower": 1, "upper": 1e300}}, "params.upper"),
        ({"strategy": "sma_cross", "params": {"sizing": "quantity", "quantity": 1e20}}, "params.quantity"),
        ({"max_position_notional": "1e300"}, "max_position_notional"),
        ({"max_daily_loss": "1000000000000000"}, "max_daily_loss"),
        ({"max_daily_loss": "١٠٠"}, "max_daily_loss"),
    ],
)
def test_an_amount_beyond_the_bound_or_in_other_digits_is_a_400_naming_it(api, account, sol, changes, field) -> None:
    response = _create(api, account, **changes)

    assert response.status_code == 400, response.content
    assert field in response.json()["extra"]["fields"]
    assert not Bot.objects.exists()


def test_a_large_but_sane_order_quote_is_accepted(api, account, sol) -> None:
    response = _create(api, account, params={"order_quote": 1_000_000}, max_daily_loss="999999999999999")

    assert response.status_code == 201, response.content
