"""/api/v1/bots/: create, list, detail, params, delete, lifecycle actions; another trader's bots do not exist."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.bots.models import Bot, BotStatus
from apps.bots.tests.conftest import paper_account
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.orders.tests.factories import JsonApi as BaseJsonApi

pytestmark = pytest.mark.django_db


class JsonApi(BaseJsonApi):
    def delete(self, url: str):  # type: ignore[no-untyped-def]
        return self.client.delete(url, headers=self.headers)


@pytest.fixture
def api(client, trader):
    return JsonApi(client, trader)


@pytest.fixture
def history(sol):
    data = walk(40, seed=3)
    store_bars(sol, data, range(30))
    set_book(sol, data.close[29])
    return data


def _create(api, account, **changes):
    body = {
        "name": "trend",
        "account": str(account.pk),
        "symbol": "SOL/USDT",
        "timeframe": "1m",
        "strategy": "sma_cross",
        "params": {"fast": 3, "slow": 8},
        "max_drawdown_percent": "15",
    } | changes
    return api.post("/api/v1/bots/", body)


def test_creating_a_bot_returns_it_stopped_with_its_parameters_and_limits(api, account, sol) -> None:
    response = _create(api, account)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "STOPPED" and body["symbol"] == "SOL/USDT" and body["exchange"] == "SIM" and body["mode"] == "paper"
    assert body["params"]["fast"] == 3 and body["params"]["slow"] == 8 and "fraction" in body["params"]
    assert body["max_drawdown_percent"] == "15" and body["max_position_notional"] is None
    assert body["actions"] == ["start"]
    assert body["performance"]["open_orders"] == 0


def test_a_bad_parameter_is_a_400_naming_it(api, account, sol) -> None:
    response = _create(api, account, params={"fast": 20, "slow": 10})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "strategy_parameter_invalid"
    assert "params.fast" in body["extra"]["fields"]
    assert "shorter than slow" in body["extra"]["fields"]["params.fast"][0]


def test_a_symbol_the_accounts_exchange_does_not_list_is_a_400_naming_it(api, account, sol) -> None:
    response = _create(api, account, symbol="DOGE/USDT")
    assert response.status_code == 400
    assert "symbol" in response.json()["extra"]["fields"]


def test_lifecycle_actions_and_a_409_for_one_the_status_does_not_allow(api, account, sol, history) -> None:
    bot_id = _create(api, account).json()["id"]

    paused_too_soon = api.post(f"/api/v1/bots/{bot_id}/pause/")
    assert paused_too_soon.status_code == 409
    assert paused_too_soon.json()["code"] == "bot_invalid_transition"
    assert paused_too_soon.json()["extra"]["allowed"] == ["start"]

    started = api.post(f"/api/v1/bots/{bot_id}/start/")
    assert started.status_code == 200 and started.json()["status"] == "RUNNING"
    assert started.json()["actions"] == ["pause", "stop"]
    assert api.post(f"/api/v1/bots/{bot_id}/pause/").json()["status"] == "PAUSED"
    assert api.post(f"/api/v1/bots/{bot_id}/resume/").json()["status"] == "RUNNING"
    assert api.post(f"/api/v1/bots/{bot_id}/start/").status_code == 409
    assert api.post(f"/api/v1/bots/{bot_id}/stop/").json()["status"] == "STOPPED"


def test_starting_without_enough_candles_is_a_409_naming_the_symbol_and_timeframe(api, account, sol) -> None:
    bot_id = _create(api, account).json()["id"]

    response = api.post(f"/api/v1/bots/{bot_id}/start/")

    assert response.status_code == 409
    assert response.json()["code"] == "bot_not_enough_candles"
    assert "SOL/USDT" in response.json()["message"] and "1m" in response.json()["message"]


def test_params_can_be_patched_only_while_stopped_and_nothing_else(api, account, sol, history) -> None:
    bot_id = _create(api, account).json()["id"]

    patched = api.patch(f"/api/v1/bots/{bot_id}/", {"params": {"fast": 4, "slow": 12}})
    assert patched.status_code == 200 and patched.json()["params"]["slow"] == 12

    other_field = api.patch(f"/api/v1/bots/{bot_id}/", {"params": {"fast": 4, "slow": 12}, "name": "renamed"})
    assert other_field.status_code == 400 and "name" in other_field.json()["extra"]["fields"]

    api.post(f"/api/v1/bots/{bot_id}/start/")
    running = api.patch(f"/api/v1/bots/{bot_id}/", {"params": {"fast": 5, "slow": 12}})
    assert running.status_code == 409 and running.json()["code"] == "bot_not_stopped"


def test_list_filters_by_status_and_name_and_delete_hides_the_bot(api, account, sol, history) -> None:
    first = _create(api, account, name="alpha trend").json()["id"]
    _create(api, account, name="beta grid")
    api.post(f"/api/v1/bots/{first}/start/")

    assert [b["name"] for b in api.get("/api/v1/bots/").json()["results"]] == ["beta grid", "alpha trend"]
    assert [b["name"] for b in api.get("/api/v1/bots/", {"status": "running"}).json()["results"]] == ["alpha trend"]
    assert [b["name"] for b in api.get("/api/v1/bots/", {"search": "GRID"}).json()["results"]] == ["beta grid"]
    assert api.get("/api/v1/bots/", {"status": "sleeping"}).status_code == 400

    assert api.delete(f"/api/v1/bots/{first}/").status_code == 204
    assert Bot.all_objects.get(pk=first).status == BotStatus.STOPPED
    assert api.get(f"/api/v1/bots/{first}/").status_code == 404
    assert [b["name"] for b in api.get("/api/v1/bots/").json()["results"]] == ["beta grid"]


def test_another_trader_can_neither_see_nor_control_my_bots(client, api, account, sol, history) -> None:
    bot_id = _create(api, account).json()["id"]
    mallory = UserFactory()
    mallorys_account = paper_account(mallory)
    theirs = JsonApi(client, mallory)

    assert theirs.get("/api/v1/bots/").json()["results"] == []
    assert theirs.get(f"/api/v1/bots/{bot_id}/").status_code == 404
    assert theirs.get(f"/api/v1/bots/{bot_id}/log/").status_code == 404
    for action in ("start", "pause", "resume", "stop"):
        assert theirs.post(f"/api/v1/bots/{bot_id}/{action}/").status_code == 404
    assert theirs.patch(f"/api/v1/bots/{bot_id}/", {"params": {"fast": 4, "slow": 9}}).status_code == 404
    assert theirs.delete(f"/api/v1/bots/{bot_id}/").status_code == 404
    # nor put a bot on my account
    stolen = _create(theirs, account, name="stolen")
    assert stolen.status_code == 404 and "account" in stolen.json()["extra"]["fields"]
    assert _create(theirs, mallorys_account, name="own").status_code == 201

    bot = Bot.objects.get(pk=bot_id)
    assert bot.status == BotStatus.STOPPED and bot.params["fast"] == 3 and bot.deleted_at is None


def test_the_api_needs_authentication(client) -> None:
    assert client.get("/api/v1/bots/").status_code == 401
