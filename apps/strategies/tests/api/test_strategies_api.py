"""/api/v1/strategies/: the built-in strategies with the JSON schema of their parameters."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.orders.tests.factories import JsonApi

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client: Client) -> JsonApi:
    return JsonApi(client, UserFactory())


def test_the_list_has_every_built_in_strategy_with_its_parameter_schema(api) -> None:
    response = api.get("/api/v1/strategies/")

    assert response.status_code == 200
    strategies = {s["name"]: s for s in response.json()}
    assert {"sma_cross", "mean_reversion", "momentum", "grid", "dca"} <= set(strategies)
    sma = strategies["sma_cross"]
    assert sma["description"].startswith("Fast/slow simple moving average")
    fast = sma["schema"]["properties"]["fast"]
    assert (fast["type"], fast["default"], fast["minimum"], fast["maximum"]) == ("integer", 10, 1, 1000)
    assert sma["schema"]["properties"]["mode"]["enum"] == ["long_only", "long_short"]
    assert strategies["grid"]["schema"]["properties"]["lower"]["exclusiveMinimum"] == 0


def test_one_strategy_by_name_and_an_unknown_one_is_a_404_naming_the_known_ones(api) -> None:
    grid = api.get("/api/v1/strategies/grid/")
    unknown = api.get("/api/v1/strategies/moon/")

    assert grid.status_code == 200 and grid.json()["name"] == "grid"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "strategy_unknown" and "sma_cross" in unknown.json()["message"]


def test_strategies_need_a_signed_in_user(client: Client) -> None:
    assert client.get("/api/v1/strategies/").status_code == 401
