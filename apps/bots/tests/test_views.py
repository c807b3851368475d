"""The Bots pages: cards with filters, the create form with its strategy parameters, the bot page, the buttons."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.bots.models import Bot, BotStatus
from apps.bots.runner import bot_process_bar
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.factories import BotFactory, set_book, store_bars, walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_client(client: Client, trader) -> Client:
    client.force_login(trader)
    return client


def _bot(trader, account, sol, name="trend", strategy="sma_cross", params=None):
    return bot_create(actor=trader, name=name, account=account, symbol=sol, timeframe="1m", strategy=strategy, params=params or {"fast": 3, "slow": 8})


def test_the_bots_page_shows_a_card_per_bot_and_filters_by_status_and_name(browser_client, trader, account, sol) -> None:
    BotFactory(owner=trader, account=account, name="alpha")
    BotFactory(owner=trader, account=account, name="beta", status=BotStatus.ERROR, error="strategy 'x' failed in on_bar: boom")
    BotFactory(name="someone else's")  # another trader's

    page = browser_client.get("/bots/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="bot-card"') == 2 and "alpha" in html and "failed in on_bar: boom" in html and "someone" not in html

    only_errors = browser_client.get("/bots/", {"status": "ERROR", "cards": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert only_errors.strip().startswith('<div id="bot-cards"') and "beta" in only_errors and "alpha" not in only_errors
    by_name = browser_client.get("/bots/", {"q": "ALP", "cards": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert "alpha" in by_name and "beta" not in by_name


def test_the_create_form_builds_the_parameter_fields_from_the_strategy_schema(browser_client, account, sol) -> None:
    form = browser_client.get("/bots/new/").content.decode()
    assert 'name="strategy"' in form and 'hx-get="/bots/params/"' in form

    swapped = browser_client.get("/bots/params/", {"strategy": "grid"}, headers={"HX-Request": "true"}).content.decode()
    assert swapped.strip().startswith('<fieldset id="strategy-params" data-strategy="grid"')
    for name in ("lower", "upper", "levels", "quantity"):
        assert f'name="param_{name}"' in swapped
    sma = browser_client.get("/bots/params/", {"strategy": "sma_cross"}).content.decode()
    assert 'name="param_fast"' in sma and 'value="10"' in sma and "<select" in sma  # mode and sizing are choices


def test_creating_a_bot_from_the_form(browser_client, trader, account, sol) -> None:
    response = browser_client.post(
        "/bots/new/",
        {
            "name": "grid bot",
            "account": account.pk,
            "symbol": sol.pk,
            "timeframe": "5m",
            "strategy": "grid",
            "param_lower": "100",
            "param_upper": "200",
            "param_levels": "5",
            "param_quantity": "0.5",
            "max_drawdown_percent": "20",
        },
    )

    bot = Bot.objects.get(owner=trader)
    assert response.status_code == 302 and response["Location"] == f"/bots/{bot.pk}/"
    assert bot.strategy == "grid" and bot.timeframe == "5m" and bot.params == {"lower": 100.0, "upper": 200.0, "levels": 5, "quantity": 0.5}
    assert str(bot.max_drawdown_percent) == "20.00"


def test_a_parameter_the_strategy_refuses_is_shown_on_its_field(browser_client, trader, account, sol) -> None:
    response = browser_client.post(
        "/bots/new/",
        {
            "name": "bad",
            "account": account.pk,
            "symbol": sol.pk,
            "timeframe": "1m",
            "strategy": "grid",
            "param_lower": "200",
            "param_upper": "100",
            "param_levels": "5",
            "param_quantity": "1",
        },
    )

    assert response.status_code == 400
    assert "must be above lower" in response.content.decode()
    assert 'id="id_param_upper_errors"' in response.content.decode()
    assert not Bot.objects.exists()


def test_the_bot_page_shows_metrics_trades_orders_and_the_log_and_its_buttons_work(browser_client, trader, account, sol) -> None:
    data = walk(40, seed=3)
    store_bars(sol, data, range(30))
    set_book(sol, data.close[29])
    bot = _bot(trader, account, sol, name="dca", strategy="dca", params={"interval": 1, "order_quote": 100.0, "lookback": 5, "max_safety_orders": 1})

    started = browser_client.post(f"/bots/{bot.pk}/start/")
    assert started.status_code == 302
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING
    for i in (30, 31):
        store_bars(sol, data, [i])
        bot_process_bar(bot_id=bot.pk, open_time=data.datetime_at(i))

    html = browser_client.get(f"/bots/{bot.pk}/").content.decode()
    assert 'data-testid="equity-chart"' in html and 'id="bot-equity-data"' in html and "uPlot.iife.min.js" in html
    assert 'data-testid="bot-trade"' in html and "periodic buy" in html
    assert 'data-testid="bot-stop"' in html and 'data-testid="bot-pause"' in html
    assert "Stop the bot to change its parameters" in html

    paused = browser_client.post(f"/bots/{bot.pk}/pause/", headers={"HX-Request": "true"})
    assert paused.status_code == 200 and 'data-status="PAUSED"' in paused.content.decode()
    assert paused.content.decode().strip().startswith(f'<section id="bot-status-{bot.pk}"')
    conflict = browser_client.post(f"/bots/{bot.pk}/pause/", headers={"HX-Request": "true"})
    assert 'data-testid="bot-action-error"' in conflict.content.decode() and "This bot is paused: it cannot be paused" in conflict.content.decode()
    on_the_list = browser_client.post(f"/bots/{bot.pk}/resume/", {"next": "list"}, headers={"HX-Request": "true"})
    assert on_the_list.content.decode().strip().startswith(f'<article class="bot-card" id="bot-card-{bot.pk}"')
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING


def test_parameters_are_edited_on_the_bot_page_while_stopped(browser_client, trader, account, sol) -> None:
    bot = _bot(trader, account, sol)
    page = browser_client.get(f"/bots/{bot.pk}/").content.decode()
    assert 'name="param_fast"' in page

    response = browser_client.post(
        f"/bots/{bot.pk}/",
        {"param_fast": "5", "param_slow": "20", "param_mode": "long_only", "param_sizing": "fraction", "param_fraction": "0.5", "param_quantity": "1"},
    )

    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.params["fast"] == 5 and bot.params["slow"] == 20


def test_another_traders_bot_pages_are_404s_and_their_buttons_do_nothing(client, trader, account, sol) -> None:
    data = walk(30, seed=3)
    store_bars(sol, data, range(30))
    bot = _bot(trader, account, sol)
    bot_start(actor=trader, bot_id=bot.pk)
    client.force_login(UserFactory())

    assert client.get(f"/bots/{bot.pk}/").status_code == 404
    assert "trend" not in client.get("/bots/").content.decode()
    for action in ("pause", "stop", "start", "resume"):
        client.post(f"/bots/{bot.pk}/{action}/")
    client.post(f"/bots/{bot.pk}/delete/")
    client.post(f"/bots/{bot.pk}/", {"param_fast": "4", "param_slow": "9"})

    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING and bot.deleted_at is None and bot.params["fast"] == 3


def test_the_pages_need_a_signed_in_user(client) -> None:
    assert client.get("/bots/").status_code == 302
