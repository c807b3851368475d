"""Trades between closes: strategies with `on_tick` hear them in paper bots, once each, after the last close."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from apps.bots import tasks
from apps.bots.models import Bot, BotLogEntry, BotPerformanceSnapshot, BotStatus
from apps.bots.runner import RunnerState, bot_process_bar, bot_process_tick, tick_order_id, ticking_bot_ids, ticking_symbol_ids
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.exchanges.domain.types import Side, Trade
from apps.exchanges.models import Symbol
from apps.orders.models import Order
from apps.portfolio.models import TradingAccount
from apps.strategies.domain import registry
from apps.strategies.domain.base import Strategy, StrategyParams, Tick

pytestmark = pytest.mark.django_db


class DipBuyer(Strategy):
    """Buys 1 SOL on the first trade more than 1 % under the last close; logs every trade it sees."""

    name = "dip_buyer"
    description = "Buys a dip seen between closes."
    Params = StrategyParams

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.state["close"] = bar.close

    def on_tick(self, ctx: Any, tick: Tick) -> None:
        self.state["ticks"] = self.state.get("ticks", 0) + 1
        if not self.state.get("bought") and float(tick.price) < self.state["close"] * 0.99:
            self.state["bought"] = True
            ctx.log(f"dip to {tick.price}: buying")
            ctx.buy(1)


class TickBomb(DipBuyer):
    name = "tick_bomb"
    description = "Fails on a trade."

    def on_tick(self, ctx: Any, tick: Tick) -> None:
        raise RuntimeError("no ticks for me")


@pytest.fixture
def market(sol: Symbol) -> Any:
    data = walk(70, seed=11)
    store_bars(sol, data, range(61))
    set_book(sol, data.close[60])
    return data


@pytest.fixture
def strategies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._REGISTRY, "dip_buyer", DipBuyer)
    monkeypatch.setitem(registry._REGISTRY, "tick_bomb", TickBomb)


def _running(trader: Any, account: TradingAccount, sol: Symbol, market: Any, strategy: str = "dip_buyer", name: str = "ticks") -> Bot:
    """A started bot that has processed its first bar (bar 60), so `on_start` has run."""
    bot = bot_create(actor=trader, name=name, account=account, symbol=sol, timeframe="1m", strategy=strategy, params={})
    bot_start(actor=trader, bot_id=bot.pk)
    Bot.objects.filter(pk=bot.pk).update(last_processed_open_time=market.datetime_at(59))
    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))
    bot.refresh_from_db()
    assert bot.last_processed_open_time == market.datetime_at(60)
    return bot


def _tick(market: Any, *, seconds_after_close: int, below_close: float) -> Tick:
    close_time = market.datetime_at(60) + timedelta(minutes=1)
    price = Decimal(repr(round(float(market.close[60]) * (1 - below_close), 2)))
    return Tick(price=price, quantity=Decimal("0.5"), time=close_time + timedelta(seconds=seconds_after_close))


def test_a_dip_between_closes_places_the_strategys_order_at_once(trader, account, sol, market, strategies) -> None:
    bot = _running(trader, account, sol, market)
    snapshots = BotPerformanceSnapshot.objects.filter(bot=bot).count()
    tick = _tick(market, seconds_after_close=20, below_close=0.02)
    set_book(sol, tick.price)

    placed = bot_process_tick(bot_id=bot.pk, tick=tick)

    assert placed == 1
    order = Order.objects.get(bot=bot)
    assert (order.side, order.order_type, order.quantity, order.status, order.source) == ("BUY", "MARKET", Decimal(1), "FILLED", "bot")
    assert order.client_order_id == tick_order_id(bot.pk, tick.time, 1)
    bot.refresh_from_db()
    assert bot.last_processed_open_time == market.datetime_at(60)  # the bar cursor stays with the bars
    assert BotPerformanceSnapshot.objects.filter(bot=bot).count() == snapshots
    assert bot.state["strategy"]["bought"] is True and bot.state["runner"]["last_tick"] == tick.time.isoformat()
    assert bot.last_signal == f"dip to {tick.price}: buying"
    assert BotLogEntry.objects.filter(bot=bot, message__startswith="placed BUY 1 SOL/USDT market").exists()


def test_the_fill_of_a_tick_order_reaches_the_bots_book_at_the_next_bar(trader, account, sol, market, strategies) -> None:
    bot = _running(trader, account, sol, market)
    tick = _tick(market, seconds_after_close=5, below_close=0.03)
    set_book(sol, tick.price)
    bot_process_tick(bot_id=bot.pk, tick=tick)
    store_bars(sol, market, [61])

    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(61))

    bot.refresh_from_db()
    book = RunnerState.from_state(bot.state, symbol="SOL/USDT", perpetual=False)
    order = Order.objects.get(bot=bot)
    assert book.position.quantity == Decimal(1) and book.position.entry_price == order.average_price
    assert book.orders == {}


def test_a_trade_is_heard_once_and_never_before_the_last_close(trader, account, sol, market, strategies) -> None:
    bot = _running(trader, account, sol, market)
    tick = _tick(market, seconds_after_close=30, below_close=0.0)

    assert bot_process_tick(bot_id=bot.pk, tick=tick) == 0
    assert bot_process_tick(bot_id=bot.pk, tick=tick) is None  # the same trade again
    assert bot_process_tick(bot_id=bot.pk, tick=_tick(market, seconds_after_close=10, below_close=0.05)) is None  # older
    inside_the_decided_bar = _tick(market, seconds_after_close=-30, below_close=0.05)
    assert bot_process_tick(bot_id=bot.pk, tick=inside_the_decided_bar) is None

    bot.refresh_from_db()
    assert bot.state["strategy"]["ticks"] == 1
    assert not Order.objects.filter(bot=bot).exists()


def test_bots_without_on_tick_or_not_running_hear_nothing(trader, account, sol, market, strategies) -> None:
    ticking = _running(trader, account, sol, market)
    bar_only = bot_create(
        actor=trader,
        name="dca",
        account=account,
        symbol=sol,
        timeframe="1m",
        strategy="dca",
        params={"trigger": "periodic", "interval": 1, "order_quote": 100.0},
    )
    bot_start(actor=trader, bot_id=bar_only.pk)

    assert ticking_bot_ids(symbol_id=sol.pk) == [ticking.pk]
    assert ticking_symbol_ids() == {sol.pk}
    assert bot_process_tick(bot_id=bar_only.pk, tick=_tick(market, seconds_after_close=5, below_close=0.05)) is None

    Bot.objects.filter(pk=ticking.pk).update(status=BotStatus.PAUSED)
    assert ticking_bot_ids(symbol_id=sol.pk) == []
    assert bot_process_tick(bot_id=ticking.pk, tick=_tick(market, seconds_after_close=5, below_close=0.05)) is None


def test_a_strategy_failing_on_a_trade_stops_that_bot_with_the_reason(trader, account, sol, market, strategies) -> None:
    bot = _running(trader, account, sol, market, strategy="tick_bomb")

    assert bot_process_tick(bot_id=bot.pk, tick=_tick(market, seconds_after_close=5, below_close=0.0)) is None

    bot.refresh_from_db()
    assert bot.status == BotStatus.ERROR
    assert "on_tick" in bot.error and "no ticks for me" in bot.error


def test_the_task_runs_every_ticking_bot_of_the_symbol(trader, account, sol, market, strategies) -> None:
    bot = _running(trader, account, sol, market)
    tick = _tick(market, seconds_after_close=15, below_close=0.02)
    set_book(sol, tick.price)

    report = tasks.process_tick_task(str(sol.pk), str(tick.price), str(tick.quantity), tick.time.isoformat())

    assert report == {"bots": 1, "orders": 1, "skipped": 0}
    assert Order.objects.filter(bot=bot).count() == 1


def test_the_stream_hands_a_symbols_latest_trade_on_at_most_once_a_second(trader, account, sol, market, strategies, monkeypatch) -> None:
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.process_tick_task, "delay", lambda *args: sent.append(args))
    now = [100.0]
    dispatcher = tasks.TickDispatcher(interval=1.0, refresh=15.0, clock=lambda: now[0])
    tick = _tick(market, seconds_after_close=1, below_close=0.0)
    trade = Trade("SOL/USDT", "1", tick.price, tick.quantity, Side.BUY, tick.time)

    assert not dispatcher.offer(sol.pk, trade)  # no bot on SOL wants trades yet
    _running(trader, account, sol, market)
    now[0] += 15.0  # the dispatcher looks again
    assert dispatcher.offer(sol.pk, trade)
    now[0] += 0.5
    assert not dispatcher.offer(sol.pk, trade)
    now[0] += 0.6
    assert dispatcher.offer(sol.pk, trade)

    assert sent == [(str(sol.pk), str(tick.price), str(tick.quantity), tick.time.isoformat())] * 2
