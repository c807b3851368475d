"""Bot tasks: queue, the stream's hook, the beat fallback, and the real worker running a bot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.bots import tasks
from apps.bots.models import Bot, BotStatus
from apps.bots.runner import completed_buckets
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.conftest import paper_account
from apps.bots.tests.factories import candles_of, set_book, store_bars, walk
from apps.core.schedules import PLATFORM_SCHEDULES
from apps.market.streaming import store_closed_candles
from apps.orders.models import Order
from apps.orders.tests.factories import sim_markets
from trading_platform.celery import app

DCA_EVERY_BAR = {"trigger": "periodic", "interval": 1, "order_quote": 100.0, "lookback": 5, "max_safety_orders": 0, "take_profit_percent": 50.0}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_bot_tasks_go_to_the_bots_queue_and_the_fallback_runs_every_minute() -> None:
    for task in (tasks.process_closed_candles_task, tasks.run_due_bots_task, tasks.process_bot_task):
        assert app.amqp.router.route(task._get_exec_options(), task.name)["queue"].name == "bots"
    schedule = next(s for s in PLATFORM_SCHEDULES if s.task == "bots.run_due_bots")
    assert (schedule.every_seconds, schedule.queue) == (60, "bots")
    assert "bots.run_due_bots" in app.tasks and "bots.process_closed_candles" in app.tasks


@pytest.mark.parametrize(
    ("first", "last", "done"),
    [
        ("2026-01-01 10:04", "2026-01-01 10:04", {"1m": "10:04", "5m": "10:00"}),
        ("2026-01-01 10:03", "2026-01-01 10:03", {"1m": "10:03"}),
        ("2026-01-01 10:50", "2026-01-01 10:59", {"1m": "10:59", "5m": "10:55", "15m": "10:45", "1h": "10:00"}),
        ("2026-01-01 23:59", "2026-01-01 23:59", {"1m": "23:59", "5m": "23:55", "15m": "23:45", "1h": "23:00", "4h": "20:00", "1d": "00:00"}),
    ],
)
def test_the_buckets_that_closed_1m_candles_complete(first: str, last: str, done: dict[str, str]) -> None:
    result = completed_buckets(_at(first), _at(last), ["1m", "5m", "15m", "1h", "4h", "1d"])
    assert {tf: f"{when:%H:%M}" for tf, when in result.items()} == done


@pytest.mark.django_db
def test_storing_closed_candles_enqueues_the_runner_for_timeframes_with_running_bots(sim, sol, monkeypatch) -> None:
    user = UserFactory()
    account = paper_account(user)
    data = walk(20, seed=5, end=datetime(2026, 1, 1, 10, 4, tzinfo=UTC))
    store_bars(sol, data, range(15))
    for timeframe in ("1m", "5m", "1h"):
        bot = bot_create(actor=user, name=timeframe, account=account, symbol=sol, timeframe=timeframe, strategy="grid", params={})
        Bot.objects.filter(pk=bot.pk).update(status=BotStatus.RUNNING if timeframe != "1h" else BotStatus.STOPPED)
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.process_closed_candles_task, "delay", lambda *args: sent.append(args))

    store_closed_candles(symbol=sol, candles=candles_of(data, [19]))  # 10:04 closes the 10:00 5m bucket

    assert sorted(sent) == sorted([(str(sol.pk), "1m", data.datetime_at(19).isoformat()), (str(sol.pk), "5m", data.datetime_at(15).isoformat())])


@pytest.mark.django_db
def test_the_fallback_enqueues_the_symbols_whose_running_bots_are_behind(sim, sol, monkeypatch) -> None:
    user = UserFactory()
    data = walk(30, seed=5)
    store_bars(sol, data, range(20))
    bot = bot_create(actor=user, name="b", account=paper_account(user), symbol=sol, timeframe="1m", strategy="grid", params={})
    bot_start(actor=user, bot_id=bot.pk)
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.process_closed_candles_task, "delay", lambda *args: sent.append(args))

    assert tasks.run_due_bots_task() == 0  # up to date
    store_bars(sol, data, [20, 21])
    assert tasks.run_due_bots_task() == 1
    assert sent == [(str(sol.pk), "1m", data.datetime_at(21).isoformat())]


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_a_bot_on_a_closed_candle(celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    sol = sim_markets()["SOL/USDT"]
    user = UserFactory()
    account = paper_account(user)
    data = walk(40, seed=9)
    store_bars(sol, data, range(30))
    bot = bot_create(actor=user, name="worker", account=account, symbol=sol, timeframe="1m", strategy="dca", params=DCA_EVERY_BAR)
    bot_start(actor=user, bot_id=bot.pk)
    store_bars(sol, data, [30])
    set_book(sol, data.open[31])

    result = tasks.process_closed_candles_task.delay(str(sol.pk), "1m", data.datetime_at(30).isoformat()).get(timeout=60)

    assert result == {"bots": 1, "bars": 1, "orders": 1, "errors": 0, "busy": 0, "deferred": 0}
    order = Order.objects.get(bot=bot)
    assert order.status == "FILLED" and order.source == "bot"
    assert Bot.objects.get(pk=bot.pk).last_processed_open_time == data.datetime_at(30)
    # the same message again (a redelivery) does nothing
    assert tasks.process_closed_candles_task.delay(str(sol.pk), "1m", data.datetime_at(30).isoformat()).get(timeout=60)["bars"] == 0
    assert Order.objects.filter(bot=bot).count() == 1


@pytest.mark.django_db
def test_a_candle_for_many_bots_is_shared_out_in_chunks(sim, sol, monkeypatch) -> None:
    user = UserFactory()
    account = paper_account(user)
    data = walk(30, seed=5)
    store_bars(sol, data, range(20))
    bots = []
    for n in range(5):
        bot = bot_create(actor=user, name=f"b{n}", account=account, symbol=sol, timeframe="1m", strategy="grid", params={"lower": 100.0, "upper": 110.0})
        bots.append(bot_start(actor=user, bot_id=bot.pk))
    store_bars(sol, data, [20])
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks, "CHUNK", 2)
    monkeypatch.setattr(tasks.process_bots_task, "delay", lambda *args: sent.append(args))

    result = tasks.process_closed_candles_task.apply(args=(str(sol.pk), "1m", data.datetime_at(20).isoformat())).get()

    assert result["bots"] == 2  # the first chunk, here
    handed = [chunk for *_, chunk in sent]
    assert handed == [[str(bots[2].pk), str(bots[3].pk)], [str(bots[4].pk)]]
    for args in sent:
        tasks.process_bots_task.apply(args=args).get()
    assert set(Bot.objects.values_list("last_processed_open_time", flat=True)) == {data.datetime_at(20)}
