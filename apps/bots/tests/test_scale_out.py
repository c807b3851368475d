"""Two Celery workers taking the same bots queue: every bot's bar is processed once, however often it is enqueued."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.bots import tasks
from apps.bots.models import Bot
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.conftest import paper_account
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.market.sharding import shard_parse
from apps.orders.models import Order
from apps.orders.tests.factories import sim_markets
from trading_platform.celery import app

DCA_EVERY_BAR = {"trigger": "periodic", "interval": 1, "order_quote": 100.0, "lookback": 5, "max_safety_orders": 0, "take_profit_percent": 50.0}
BOTS_PER_SYMBOL = 3
DELIVERIES = 4  # each bar enqueued by its stream shard, again by the beat fallback, and redelivered


def _tasks_run_by_worker() -> Counter[str]:
    stats: dict[str, Any] = app.control.inspect(timeout=2).stats() or {}
    return Counter({node: sum(info.get("total", {}).values()) for node, info in stats.items()})


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_process_every_bot_bar_of_two_stream_shards_once(celery_worker_process, bots_worker_process) -> None:  # type: ignore[no-untyped-def]
    markets = sim_markets()
    # one symbol of each of two stream shards: each shard stores its own symbols' bars and enqueues them
    first, second = shard_parse("1/2"), shard_parse("2/2")
    symbols = [markets["BTC/USDT"], markets["SOL/USDT"]]
    assert first.owns("SIM", symbols[0].symbol) and second.owns("SIM", symbols[1].symbol)
    data = walk(40, seed=11)
    bots = []
    for symbol in symbols:
        store_bars(symbol, data, range(30))
        for n in range(BOTS_PER_SYMBOL):
            user = cast(User, UserFactory())
            bot = bot_create(actor=user, name=f"scale-{n}", account=paper_account(user), symbol=symbol, timeframe="1m", strategy="dca", params=DCA_EVERY_BAR)
            bots.append(bot_start(actor=user, bot_id=bot.pk))
        store_bars(symbol, data, [30])
        set_book(symbol, data.open[31])
    before = _tasks_run_by_worker()

    sent = [tasks.process_closed_candles_task.delay(str(symbol.pk), "1m", data.datetime_at(30).isoformat()) for _ in range(DELIVERIES) for symbol in symbols]
    reports = [result.get(timeout=120) for result in sent]

    assert sum(report["bars"] for report in reports) == len(bots)  # each bot's bar once, over all deliveries
    assert sum(report["errors"] + report["deferred"] for report in reports) == 0
    assert Counter(Order.objects.filter(bot__in=bots).values_list("bot_id", flat=True)) == {bot.pk: 1 for bot in bots}
    assert set(Bot.objects.filter(pk__in=[b.pk for b in bots]).values_list("last_processed_open_time", flat=True)) == {data.datetime_at(30)}
    ran = _tasks_run_by_worker() - before
    assert len(ran) == 2 and sum(ran.values()) >= len(sent), f"both workers took tasks: {dict(ran)}"
