"""The Strategies page: each built-in strategy with its description and parameters (type, default, range)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def _row(html: str, strategy: str, name: str) -> str:
    found = re.search(rf'<tr data-testid="param-{strategy}-{name}">(.*?)</tr>', html, re.S)
    assert found is not None, (strategy, name)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_every_strategy_is_described_with_its_parameters(signed_in: Client) -> None:
    html = signed_in.get("/strategies/").content.decode()

    assert html.count('data-testid="strategy"') == 5
    assert "Fast/slow simple moving average crossover" in html
    assert _row(html, "sma_cross", "fast") == "fast integer 10 1 to 1000 Bars in the fast simple moving average."
    assert _row(html, "sma_cross", "mode").startswith("mode string long_only one of long_only, long_short")
    assert _row(html, "grid", "lower").startswith("lower number 90.0 above 0, up to 1000000000000000 ")
    assert _row(html, "dca", "dip_percent").startswith("dip_percent number 3.0 above 0, up to 90 ")
    assert _row(html, "mean_reversion", "allow_short").startswith("allow_short boolean false true or false")
    assert _row(html, "dca", "order_quote").startswith("order_quote number 100.0 above 0, up to 1000000000000000 Quote")
    assert 'href="/backtests/?strategy=momentum"' in html


def test_the_navigation_leads_to_strategies_and_backtests(signed_in: Client) -> None:
    html = signed_in.get("/strategies/").content.decode()

    assert 'href="/strategies/" aria-current="page"' in html and 'href="/backtests/"' in html
