"""/api/v1/risk-limits/: read and change the trader's limits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import api_key_header
from apps.orders.tests.factories import JsonApi
from apps.risk.models import RiskLimits
from apps.risk.services import risk_limits_get

pytestmark = pytest.mark.django_db

URL = "/api/v1/risk-limits/"
ALL = {"max_order_notional": "5000", "max_position_notional": "20000.5", "max_leverage": 10, "max_open_positions": 3, "max_daily_loss": "750"}


def test_limits_start_empty(api) -> None:
    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ALL} == dict.fromkeys(ALL)


def test_put_replaces_every_limit_and_money_comes_back_as_strings(api, trader) -> None:
    response = api.put(URL, ALL)

    assert response.status_code == 200, response.json()
    assert {k: response.json()[k] for k in ALL} == ALL
    assert risk_limits_get(actor=trader).max_position_notional == Decimal("20000.5")
    assert {k: api.get(URL).json()[k] for k in ALL} == ALL


def test_put_with_null_removes_a_limit(api, trader) -> None:
    api.put(URL, ALL)

    response = api.put(URL, {**ALL, "max_leverage": None})

    assert response.json()["max_leverage"] is None and risk_limits_get(actor=trader).max_leverage is None


def test_put_needs_every_limit_and_names_the_missing_one(api) -> None:
    body = dict(ALL)
    del body["max_daily_loss"]

    response = api.put(URL, body)

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"max_daily_loss": ["This field is required."]}


def test_patch_changes_only_what_is_given(api) -> None:
    api.put(URL, ALL)

    response = api.patch(URL, {"max_order_notional": "100"})

    assert response.status_code == 200
    assert {k: response.json()[k] for k in ALL} == {**ALL, "max_order_notional": "100"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_order_notional": "-1"}, "max_order_notional"),
        ({"max_position_notional": "0"}, "max_position_notional"),
        ({"max_daily_loss": "lots"}, "max_daily_loss"),
        ({"max_daily_loss": "1e40"}, "max_daily_loss"),
        ({"max_leverage": 0}, "max_leverage"),
        ({"max_leverage": 126}, "max_leverage"),
        ({"max_open_positions": 0}, "max_open_positions"),
        ({"max_open_positions": 10**12}, "max_open_positions"),
    ],
)
def test_an_out_of_range_limit_is_a_400_naming_it_and_nothing_changes(api, trader, change, field) -> None:
    response = api.patch(URL, change)

    assert response.status_code == 400, response.json()
    assert list(response.json()["extra"]["fields"]) == [field]
    limits = RiskLimits.objects.filter(owner=trader).first()
    assert limits is None or getattr(limits, field) is None


def test_limits_are_my_own(client: Client, api, trader) -> None:
    api.put(URL, ALL)
    stranger = JsonApi(client, UserFactory())

    assert stranger.get(URL).json()["max_leverage"] is None
    stranger.patch(URL, {"max_leverage": 2})
    assert risk_limits_get(actor=trader).max_leverage == 10


def test_risk_limits_work_with_an_api_key_and_refuse_anonymous_clients(client: Client, trader) -> None:
    key = api_key_create(actor=trader, name="risk bot")

    assert client.get(URL, headers=api_key_header(key.plaintext)).status_code == 200
    assert client.get(URL).status_code == 401
