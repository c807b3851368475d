"""A bot's worker process killed (SIGKILL) in the middle of a decision: nothing of that bar is kept,
and processing the bar again places exactly one order.

The child process runs the real runner on a strategy that, once its order has been accepted by
`order_submit` (inside the bar's transaction, before the commit), says so in a file and waits.
The parent kills it there. PostgreSQL rolls back the dead connection's transaction, so the
order, the strategy's state and the bar cursor all stay as they were; the bar is then processed
again, as the retried task would, and places its one order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from apps.bots.models import Bot
from apps.bots.runner import bot_process_bar, client_order_id
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.exchanges.models import Symbol
from apps.orders.models import Order
from apps.portfolio.models import TradingAccount
from apps.strategies.domain import registry
from apps.strategies.domain.base import OrderUpdate, Strategy, StrategyParams

ROOT = Path(__file__).resolve().parents[3]


class BuyThenWait(Strategy):
    """Buys 1 SOL at every bar; in a process given WAIT_FILE, stops dead once its order is accepted."""

    name = "buy_then_wait"
    description = "Buys, then waits to be killed."
    Params = StrategyParams

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.state["bars"] = self.state.get("bars", 0) + 1
        ctx.buy(1)

    def on_order_update(self, ctx: Any, update: OrderUpdate) -> None:
        wait_file = os.environ.get("WAIT_FILE")
        if wait_file and update.kind == "accepted":
            Path(wait_file).write_text(update.order_id)
            time.sleep(120)  # killed long before


CHILD = """
import django
django.setup()
from apps.strategies.domain import registry
from apps.bots.tests.test_worker_killed import BuyThenWait
from apps.bots.runner import bot_process_bar
from datetime import datetime
registry._REGISTRY["buy_then_wait"] = BuyThenWait
bot_process_bar(bot_id=BOT_ID, open_time=datetime.fromisoformat(OPEN_TIME))
"""


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_decision_keeps_nothing_and_the_retried_bar_orders_once(
    trader: Any, account: TradingAccount, sol: Symbol, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(registry._REGISTRY, "buy_then_wait", BuyThenWait)
    data = walk(70, seed=3)
    store_bars(sol, data, range(61))
    set_book(sol, data.close[60])
    bot = bot_create(actor=trader, name="killed", account=account, symbol=sol, timeframe="1m", strategy="buy_then_wait", params={})
    bot_start(actor=trader, bot_id=bot.pk)
    Bot.objects.filter(pk=bot.pk).update(last_processed_open_time=data.datetime_at(59))
    before = Bot.objects.get(pk=bot.pk)
    bar = data.datetime_at(60)

    wait_file = tmp_path / "accepted"
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="trading_platform.settings.test", DATABASE_NAME=str(connection.settings_dict["NAME"]), PYTHONPATH=str(ROOT))
    env["WAIT_FILE"] = str(wait_file)
    code = CHILD.replace("BOT_ID", repr(str(bot.pk))).replace("OPEN_TIME", repr(bar.isoformat()))
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not wait_file.exists():
        assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
        assert time.monotonic() < deadline, "the child never reached its decision"
        time.sleep(0.05)
    assert wait_file.read_text() == client_order_id(bot.pk, bar, 1)  # accepted by order_submit, not yet committed
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    after_kill = Bot.objects.get(pk=bot.pk)
    assert not Order.objects.filter(account=account).exists()  # the dead transaction left no order...
    assert (after_kill.last_processed_open_time, after_kill.state) == (before.last_processed_open_time, before.state)  # ...nor state

    # The retried task: until PostgreSQL has noticed the dead connection, the bot's row is still
    # locked and the runner skips it (a "busy" report), as a real retry would be told to wait.
    deadline = time.monotonic() + 30
    report = bot_process_bar(bot_id=bot.pk, open_time=bar)
    while report.busy and time.monotonic() < deadline:
        time.sleep(0.1)
        report = bot_process_bar(bot_id=bot.pk, open_time=bar)
    assert (report.processed, report.orders) == (1, 1)
    assert bot_process_bar(bot_id=bot.pk, open_time=bar).orders == 0  # and once more: the bar is done

    (order,) = Order.objects.filter(account=account)
    assert (order.client_order_id, order.status, order.bot_id) == (client_order_id(bot.pk, bar, 1), "FILLED", bot.pk)
    bot.refresh_from_db()
    assert bot.last_processed_open_time == bar and bot.state["strategy"] == {"bars": 1}
