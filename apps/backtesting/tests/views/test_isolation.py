"""Another user sees none of my backtests: not in the list, not by address, not in a comparison."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.backtesting.tests.factories import BacktestFactory

pytestmark = pytest.mark.django_db


def test_another_user_cannot_see_my_backtests_anywhere(client: Client, trader) -> None:
    mine = BacktestFactory(owner=trader, name="secret sauce")
    theirs = BacktestFactory(name="their own")
    client.force_login(theirs.owner)

    listing = client.get("/backtests/").content.decode()
    pages = [
        client.get(url)
        for url in (f"/backtests/{mine.pk}/", f"/backtests/{mine.pk}/status/", f"/backtests/{mine.pk}/trades.csv", f"/backtests/{mine.pk}/equity.csv")
    ]
    compare = client.get("/backtests/compare/", {"ids": [str(mine.pk), str(theirs.pk)]})

    assert "secret sauce" not in listing and str(mine.pk) not in listing and "their own" in listing
    assert [page.status_code for page in pages] == [404, 404, 404, 404]
    assert compare.status_code == 404 and "secret sauce" not in compare.content.decode()


def test_an_address_that_is_not_a_backtest_is_a_404(client: Client) -> None:
    client.force_login(UserFactory())

    assert client.get("/backtests/01900000-0000-7000-8000-000000000000/").status_code == 404
    assert client.get("/backtests/not-an-id/").status_code == 404
