"""A Redis outage never stops a bot: the bar it decided is stored, the live update after the commit is retried."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from apps.bots.models import BotStatus
from apps.bots.runner import bot_process_bar
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.core import after_commit
from apps.core.tests.test_health import _start_throwaway_redis
from apps.orders.models import Order

pytestmark = pytest.mark.django_db(transaction=True)  # after-commit hooks run at a real commit

DCA_EVERY_BAR = {"trigger": "periodic", "interval": 1, "order_quote": 100.0, "max_safety_orders": 0, "take_profit_percent": 50.0}


def _redis_settings(socket_path: Path) -> Any:
    url = f"unix://{socket_path}?db=1"
    return override_settings(
        REDIS_CHANNELS_URL=url,
        CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [{"address": url}]}}},
    )


def test_a_push_that_meets_redis_down_after_the_bars_commit_is_retried_and_the_bot_keeps_running(trader, account, sol, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(after_commit, "retrier", after_commit.HookRetrier(base=0.05, cap=0.2, attempts=200))
    data = walk(80, seed=7)
    store_bars(sol, data, range(60))
    set_book(sol, data.close[59])
    bot = bot_create(actor=trader, name="b", account=account, symbol=sol, timeframe="1m", strategy="dca", params=DCA_EVERY_BAR)
    bot = bot_start(actor=trader, bot_id=bot.pk)
    store_bars(sol, data, [60])
    socket_path = tmp_path / "redis.sock"
    server = _start_throwaway_redis(socket_path)
    try:
        with _redis_settings(socket_path):
            server.terminate()  # Redis goes away: the channel layer cannot publish
            server.wait(timeout=5)

            report = bot_process_bar(bot_id=bot.pk, open_time=data.datetime_at(60))

            bot.refresh_from_db()
            assert (bot.status, bot.error) == (BotStatus.RUNNING, "")
            assert report.processed == 1 and report.errors == 0
            assert bot.last_processed_open_time == data.datetime_at(60)
            assert Order.objects.filter(bot=bot).count() == 1
            assert after_commit.retrier.pending() >= 1, "the failed pushes wait for Redis"

            server = _start_throwaway_redis(socket_path)  # Redis is back
            deadline = time.monotonic() + 10
            while after_commit.retrier.pending() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert after_commit.retrier.pending() == 0
            assert after_commit.retrier.succeeded >= 1 and after_commit.retrier.abandoned == 0
    finally:
        if server.poll() is None:
            server.kill()


def test_redis_trouble_during_a_bar_leaves_it_for_a_retry_and_the_bot_running(trader, account, sol, monkeypatch) -> None:
    import redis

    from apps.bots import runner

    data = walk(80, seed=7)
    store_bars(sol, data, range(60))
    set_book(sol, data.close[59])
    bot = bot_start(
        actor=trader, bot_id=bot_create(actor=trader, name="b", account=account, symbol=sol, timeframe="1m", strategy="dca", params=DCA_EVERY_BAR).pk
    )
    store_bars(sol, data, [60])

    def redis_away(*args: Any, **kwargs: Any) -> None:
        raise redis.exceptions.ConnectionError("Error 2 connecting to unix socket: /run/redis.sock. No such file or directory.")

    monkeypatch.setattr(runner.BarRun, "execute", redis_away)  # what a cache read inside the bar meets
    report = bot_process_bar(bot_id=bot.pk, open_time=data.datetime_at(60))

    bot.refresh_from_db()
    assert report.deferred == 1 and report.errors == 0
    assert bot.status == BotStatus.RUNNING
    assert bot.last_processed_open_time == data.datetime_at(59)
