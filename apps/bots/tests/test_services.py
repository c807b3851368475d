"""The bot lifecycle: create with validated parameters, the transition table, audit, soft delete."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.bots.models import Bot, BotLogEntry, BotStatus
from apps.bots.runner import bot_process_bar
from apps.bots.services import (
    TRANSITIONS,
    BotLimits,
    BotNotReady,
    InvalidBotTransition,
    bot_create,
    bot_delete,
    bot_pause,
    bot_resume,
    bot_start,
    bot_stop,
    bot_update_params,
)
from apps.bots.tests.conftest import paper_account
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.core.errors import ConflictError, NotFoundError, ValidationError
from apps.orders.models import Order
from apps.strategies.domain.registry import get_strategy

pytestmark = pytest.mark.django_db

SMA = {"fast": 3, "slow": 8}


def _bot(trader, account, sol, **kwargs):
    values = {"name": "trend", "account": account, "symbol": sol, "timeframe": "1m", "strategy": "sma_cross", "params": SMA} | kwargs
    return bot_create(actor=trader, **values)


@pytest.fixture
def history(sol):
    data = walk(40, seed=3)
    store_bars(sol, data, range(30))
    set_book(sol, data.close[29])
    return data


def _actions(trader, bot_id):
    return {
        "start": lambda: bot_start(actor=trader, bot_id=bot_id),
        "pause": lambda: bot_pause(actor=trader, bot_id=bot_id),
        "resume": lambda: bot_resume(actor=trader, bot_id=bot_id),
        "stop": lambda: bot_stop(actor=trader, bot_id=bot_id),
    }


def test_a_new_bot_is_stopped_with_its_parameters_completed_by_the_defaults_and_audited(trader, account, sol) -> None:
    bot = _bot(trader, account, sol, limits=BotLimits(Decimal(500), Decimal(100), Decimal("12.5")))

    assert bot.status == BotStatus.STOPPED
    defaults = get_strategy("sma_cross").Params().to_dict()
    assert bot.params == {**defaults, "fast": 3, "slow": 8} and set(bot.params) == {"fast", "slow", "mode", "sizing", "fraction", "quantity"}
    assert (bot.max_position_notional, bot.max_daily_loss, bot.max_drawdown_percent) == (Decimal(500), Decimal(100), Decimal("12.5"))
    event = AuditEvent.objects.get(action="bot.created", target_id=str(bot.pk))
    assert event.actor_id == trader.pk and "sma_cross on SOL/USDT 1m" in event.summary


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"fast": 30, "slow": 10}, "params.fast", "shorter than slow"),
        ({"fast": 2.5}, "params.fast", "integer"),
        ({"fraction": 0}, "params.fraction", "greater than 0"),
        ({"mode": "sideways"}, "params.mode", "one of"),
        ({"colour": "red"}, "params.colour", "unknown parameter"),
    ],
)
def test_parameters_are_checked_against_the_strategy_and_the_error_names_the_field(trader, account, sol, params, field, words) -> None:
    with pytest.raises(ValidationError) as caught:
        _bot(trader, account, sol, params=params)
    assert list(caught.value.extra["fields"]) == [field]
    assert words in caught.value.extra["fields"][field][0]
    assert not Bot.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"strategy": "martingale"}, "strategy"),
        ({"timeframe": "2m"}, "timeframe"),
        ({"limits": BotLimits(max_drawdown_percent=Decimal(150))}, "max_drawdown_percent"),
        ({"limits": BotLimits(max_daily_loss=Decimal(-1))}, "max_daily_loss"),
    ],
)
def test_bad_fields_are_named(trader, account, sol, changes, field) -> None:
    with pytest.raises(ValidationError) as caught:
        _bot(trader, account, sol, **changes)
    assert field in caught.value.extra["fields"]


def test_the_symbol_must_be_on_the_accounts_exchange_and_the_account_the_traders(trader, account, sim) -> None:
    from apps.exchanges.tests.factories import ExchangeFactory, SymbolFactory

    binance_symbol = SymbolFactory(exchange=ExchangeFactory(code="BINANCE"), symbol="SOL/USDT")
    with pytest.raises(ValidationError) as caught:
        _bot(trader, account, binance_symbol)
    assert "symbol" in caught.value.extra["fields"]
    with pytest.raises(NotFoundError):
        _bot(UserFactory(), account, sim["SOL/USDT"])


def test_a_name_is_unique_per_trader_among_bots_not_deleted(trader, account, sol, history) -> None:
    first = _bot(trader, account, sol)
    with pytest.raises(ValidationError) as caught:
        _bot(trader, account, sol)
    assert "already have a bot named" in caught.value.extra["fields"]["name"][0]
    bot_delete(actor=trader, bot_id=first.pk)
    assert _bot(trader, account, sol).name == "trend"


def test_the_lifecycle_follows_the_transition_table_and_audits_every_change(trader, account, sol, history) -> None:
    bot = _bot(trader, account, sol)
    assert bot_start(actor=trader, bot_id=bot.pk).status == BotStatus.RUNNING
    assert bot_pause(actor=trader, bot_id=bot.pk).status == BotStatus.PAUSED
    assert bot_resume(actor=trader, bot_id=bot.pk).status == BotStatus.RUNNING
    assert bot_stop(actor=trader, bot_id=bot.pk).status == BotStatus.STOPPED

    actions = list(AuditEvent.objects.filter(target_id=str(bot.pk)).order_by("created_at").values_list("action", "changes"))
    assert [a for a, _ in actions] == ["bot.created", "bot.started", "bot.paused", "bot.resumed", "bot.stopped"]
    assert actions[1][1] == {"status": ["STOPPED", "RUNNING"]}
    assert BotLogEntry.objects.filter(bot=bot).count() == 4


@pytest.mark.parametrize("status", BotStatus.values)
def test_every_action_its_status_does_not_allow_is_a_409_that_says_what_it_can_do(trader, account, sol, history, status) -> None:
    bot = _bot(trader, account, sol)
    Bot.objects.filter(pk=bot.pk).update(status=status)
    for action, run in _actions(trader, bot.pk).items():
        sources, _ = TRANSITIONS[action]
        if status in sources:
            continue
        with pytest.raises(InvalidBotTransition) as caught:
            run()
        assert caught.value.status_code == 409
        assert f"is {BotStatus(status).label.lower()}" in caught.value.message
        assert Bot.objects.get(pk=bot.pk).status == status


def test_a_bot_cannot_start_without_enough_stored_candles_and_the_error_names_the_symbol_and_timeframe(trader, account, sol) -> None:
    store_bars(sol, walk(5, seed=1), range(5))
    bot = _bot(trader, account, sol, params={"fast": 10, "slow": 30})

    with pytest.raises(BotNotReady) as caught:
        bot_start(actor=trader, bot_id=bot.pk)

    assert caught.value.status_code == 409
    assert "SOL/USDT" in caught.value.message and "5 stored 1m candles" in caught.value.message and "at least 30" in caught.value.message
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_starting_begins_with_the_next_bar_and_measures_the_capital(trader, account, sol, history) -> None:
    bot = bot_start(actor=trader, bot_id=_bot(trader, account, sol).pk)

    assert bot.last_processed_open_time == history.datetime_at(29)
    assert bot.state["runner"]["capital"] == "10000" and bot.state["runner"]["started"] is False
    assert bot.started_at is not None and bot.error == ""


def test_parameters_change_only_while_stopped_and_reset_the_strategy_state(trader, account, sol, history) -> None:
    bot = _bot(trader, account, sol)
    bot_start(actor=trader, bot_id=bot.pk)
    with pytest.raises(ConflictError) as caught:
        bot_update_params(actor=trader, bot_id=bot.pk, params={"fast": 4, "slow": 9})
    assert caught.value.status_code == 409 and "Stop the bot" in caught.value.message

    bot_stop(actor=trader, bot_id=bot.pk)
    Bot.objects.filter(pk=bot.pk).update(state={"strategy": {"memory": 1}, "runner": {"capital": "10000"}})
    updated = bot_update_params(actor=trader, bot_id=bot.pk, params={"fast": 4, "slow": 9})

    assert updated.params["fast"] == 4 and updated.params["slow"] == 9
    assert updated.state["strategy"] == {} and updated.state["runner"] == {"capital": "10000"}
    event = AuditEvent.objects.get(action="bot.params_updated", target_id=str(bot.pk))
    assert event.changes["fast"] == [3, 4]
    with pytest.raises(ValidationError):
        bot_update_params(actor=trader, bot_id=bot.pk, params={"fast": 9, "slow": 4})


def test_stopping_cancels_the_bots_working_orders(trader, account, sol, history) -> None:
    bot = _bot(trader, account, sol, strategy="grid", params={"lower": 120.0, "upper": 160.0, "levels": 9, "quantity": 0.1})
    bot_start(actor=trader, bot_id=bot.pk)
    store_bars(sol, history, [30])
    bot_process_bar(bot_id=bot.pk, open_time=history.datetime_at(30))
    assert Order.objects.filter(bot=bot, status="OPEN").count() >= 1

    bot_stop(actor=trader, bot_id=bot.pk)

    assert not Order.objects.filter(bot=bot, status="OPEN").exists()
    assert "canceled" in BotLogEntry.objects.filter(bot=bot).order_by("-created_at").first().message


def test_deleting_stops_a_running_bot_first_then_hides_it(trader, account, sol, history) -> None:
    bot = _bot(trader, account, sol)
    bot_start(actor=trader, bot_id=bot.pk)

    bot_delete(actor=trader, bot_id=bot.pk)

    assert not Bot.objects.filter(pk=bot.pk).exists()
    gone = Bot.all_objects.get(pk=bot.pk)
    assert gone.status == BotStatus.STOPPED and gone.deleted_at is not None
    actions = list(AuditEvent.objects.filter(target_id=str(bot.pk)).order_by("created_at").values_list("action", flat=True))
    assert actions[-2:] == ["bot.stopped", "bot.deleted"]
    with pytest.raises(NotFoundError):
        bot_start(actor=trader, bot_id=bot.pk)


def test_resuming_after_a_risk_pause_measures_drawdown_again_from_the_last_equity(trader, account, sol, history) -> None:
    bot = _bot(trader, account, sol)
    bot_start(actor=trader, bot_id=bot.pk)
    runner = {**Bot.objects.get(pk=bot.pk).state["runner"], "equity": "9000", "day_equity": "10000"}
    Bot.objects.filter(pk=bot.pk).update(
        status=BotStatus.PAUSED, error="drawdown reached", peak_equity=Decimal(10000), state={"strategy": {}, "runner": runner}
    )

    resumed = bot_resume(actor=trader, bot_id=bot.pk)

    assert resumed.status == BotStatus.RUNNING and resumed.error == ""
    assert resumed.peak_equity == Decimal(9000) and resumed.state["runner"]["day_equity"] == "9000"
    assert "it was paused: drawdown reached" in BotLogEntry.objects.filter(bot=bot).order_by("-created_at").first().message


def test_another_traders_bot_does_not_exist_for_the_services(trader, account, sol, history) -> None:
    bot = _bot(trader, account, sol)
    mallory = UserFactory()
    paper_account(mallory)
    for action in _actions(mallory, bot.pk).values():
        with pytest.raises(NotFoundError):
            action()
    with pytest.raises(NotFoundError):
        bot_update_params(actor=mallory, bot_id=bot.pk, params=SMA)
    with pytest.raises(NotFoundError):
        bot_delete(actor=mallory, bot_id=bot.pk)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
