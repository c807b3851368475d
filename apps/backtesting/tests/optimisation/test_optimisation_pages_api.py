from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import bearer
from apps.backtesting.models import Optimisation, OptimisationResult
from apps.backtesting.optimisation.services import finish_batch, first_candidates, run_candidates
from apps.exchanges.models import Symbol
from apps.market.services.demo import sim_history_seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim_btc():
    sim_history_seed(days=1)
    return Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT")


def _window() -> tuple[datetime, datetime]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    return end - timedelta(hours=20), end


def test_the_page_offers_a_range_per_numeric_parameter(client) -> None:
    client.force_login(UserFactory())

    html = client.get("/backtests/optimisations/?strategy=sma_cross").content.decode()

    assert 'name="r-fast-min"' in html and 'name="r-slow-step"' in html
    assert 'name="r-mode-min"' not in html  # an enum is not a range


def test_posting_the_form_starts_an_optimisation_and_a_bad_range_is_a_form_error(client, sim_btc) -> None:
    user = UserFactory()
    client.force_login(user)
    start, end = _window()
    form = {
        "strategy": "sma_cross",
        "symbol": str(sim_btc.pk),
        "timeframe": "1m",
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": end.strftime("%Y-%m-%dT%H:%M"),
        "initial_capital": "10000",
        "fee": "0.001",
        "slippage_bps": "0",
        "objective": "sharpe",
        "method": "grid",
        "max_runs": "10",
        "in_sample_fraction": "0.7",
        "walk_forward_windows": "0",
        "r-fast-min": "5",
        "r-fast-max": "10",
        "r-fast-step": "5",
    }

    bad = client.post("/backtests/optimisations/", {**form, "r-slow-min": "x", "r-slow-max": "60"})
    assert bad.status_code == 400 and "whole numbers please" in bad.content.decode()

    response = client.post("/backtests/optimisations/", form)
    assert response.status_code == 302
    optimisation = Optimisation.objects.get(owner=user)
    assert optimisation.param_space == {"fast": {"min": 5, "max": 10, "step": 5}}


def test_the_results_table_shows_in_and_out_of_sample_and_sorts(client, sim_btc) -> None:
    user = UserFactory()
    client.force_login(user)
    start, end = _window()
    created = client.post(
        "/api/v1/optimisations/",
        {
            "strategy": "sma_cross",
            "param_space": {"fast": {"values": [5, 10]}, "slow": {"values": [30, 60]}},
            "exchange": "SIM",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        content_type="application/json",
        headers=bearer(user),
    )
    assert created.status_code == 201, created.content
    optimisation = Optimisation.objects.get(pk=created.json()["id"])
    Optimisation.objects.filter(pk=optimisation.pk).update(status="running")
    run_candidates(optimisation_id=optimisation.pk, candidates=first_candidates(optimisation))
    finish_batch(optimisation_id=optimisation.pk)

    page = client.get(f"/backtests/optimisations/{optimisation.pk}/?sort=oos_sharpe&dir=asc").content.decode()
    detail = client.get(f"/api/v1/optimisations/{optimisation.pk}/", headers=bearer(user)).json()

    assert "OOS Sharpe ▲" in page and "fast=5, slow=30" in page
    assert detail["status"] == "done" and len(detail["results"]) == 4
    assert "sharpe" in detail["results"][0]["in_sample"]
    assert OptimisationResult.objects.filter(optimisation=optimisation).count() == 4


def test_another_users_optimisation_is_invisible(client, sim_btc) -> None:
    owner, intruder = UserFactory(), UserFactory()
    start, end = _window()
    created = client.post(
        "/api/v1/optimisations/",
        {
            "strategy": "sma_cross",
            "param_space": {"fast": {"values": [5]}},
            "exchange": "SIM",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        content_type="application/json",
        headers=bearer(owner),
    )
    optimisation_id = created.json()["id"]

    assert client.get(f"/api/v1/optimisations/{optimisation_id}/", headers=bearer(intruder)).status_code == 404
    assert client.get("/api/v1/optimisations/", headers=bearer(intruder)).json()["results"] == []
    client.force_login(intruder)
    assert client.get(f"/backtests/optimisations/{optimisation_id}/").status_code == 404


def test_the_api_names_a_bad_field(client) -> None:
    response = client.post("/api/v1/optimisations/", {"strategy": "sma_cross"}, content_type="application/json", headers=bearer(UserFactory()))

    assert response.status_code == 400
    assert {"param_space", "exchange", "symbol"} <= set(response.json()["extra"]["fields"])


def test_one_click_on_a_row_creates_a_stopped_bot_with_its_parameters(client, sim_btc) -> None:
    from apps.bots.models import Bot
    from apps.exchanges.selectors import builtin_exchange
    from apps.portfolio.services import paper_account_create

    user = UserFactory()
    paper_account_create(actor=user, exchange=builtin_exchange("SIM"), initial_balances={"USDT": "10000"})
    client.force_login(user)
    start, end = _window()
    created = client.post(
        "/api/v1/optimisations/",
        {
            "strategy": "sma_cross",
            "param_space": {"fast": {"values": [5]}, "slow": {"values": [30]}},
            "exchange": "SIM",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        content_type="application/json",
        headers=bearer(user),
    )
    optimisation_id = created.json()["id"]

    response = client.post(f"/bots/from-optimisation/{optimisation_id}/", {"params": '{"fast": 5, "slow": 30}'})

    bot = Bot.objects.get(owner=user)
    assert response.status_code == 302 and response["Location"] == f"/bots/{bot.pk}/"
    assert (bot.strategy, bot.timeframe, bot.status, bot.params["fast"], bot.params["slow"]) == ("sma_cross", "1m", "STOPPED", 5, 30)


def test_one_click_without_an_account_on_the_exchange_explains_what_to_do(client, sim_btc) -> None:
    user = UserFactory()
    client.force_login(user)
    start, end = _window()
    created = client.post(
        "/api/v1/optimisations/",
        {
            "strategy": "sma_cross",
            "param_space": {"fast": {"values": [5]}},
            "exchange": "SIM",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        content_type="application/json",
        headers=bearer(user),
    )

    response = client.post(f"/bots/from-optimisation/{created.json()['id']}/", {"params": '{"fast": 5}'}, follow=True)

    assert "You have no paper account on Simulated exchange" in response.content.decode()
