"""A paper order's placement time is observed by venue and mode, for the operator's dashboards."""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from apps.orders.services.placement import OrderRequest, order_submit

pytestmark = pytest.mark.django_db


def _placements(venue: str, mode: str) -> float:
    return REGISTRY.get_sample_value("tp_order_placement_seconds_count", {"venue": venue, "mode": mode}) or 0.0


def test_a_paper_order_is_timed_under_its_venue(trader, account, sim) -> None:
    before = _placements("SIM", "paper")

    order_submit(actor=trader, account=account, request=OrderRequest(symbol=sim["BTC/USDT"], side="BUY", order_type="MARKET", quantity=Decimal("0.01")))

    assert _placements("SIM", "paper") == before + 1
    assert _placements("SIM", "live") == 0.0
