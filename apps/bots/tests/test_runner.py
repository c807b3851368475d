"""The runner: a paper bot on SIM processing closed bars exactly once, restoring its state, failing alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.bots.models import Bot, BotLogEntry, BotPerformanceSnapshot, BotStatus
from apps.bots.runner import BarRun, RunnerState, bot_process_bar, client_order_id, process_closed_candles
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.conftest import paper_account
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.exchanges.models import Symbol
from apps.orders.models import Order
from apps.orders.services.placement import OrderRequest, order_submit
from apps.portfolio.models import TradingAccount
from apps.strategies.domain import registry
from apps.strategies.domain.base import Strategy, StrategyParams

pytestmark = pytest.mark.django_db

DCA_EVERY_BAR = {"trigger": "periodic", "interval": 1, "order_quote": 100.0, "max_safety_orders": 0, "take_profit_percent": 50.0}


def _started_bot(user: Any, account: TradingAccount, symbol: Symbol, *, strategy: str = "dca", params: dict[str, Any] | None = None, name: str = "b") -> Bot:
    bot = bot_create(
        actor=user, name=name, account=account, symbol=symbol, timeframe="1m", strategy=strategy, params=DCA_EVERY_BAR if params is None else params
    )
    return bot_start(actor=user, bot_id=bot.pk)


@pytest.fixture
def market(sol: Symbol) -> Any:
    """60 stored 1m bars of SOL/USDT (the history), and 20 more to feed one by one."""
    data = walk(80, seed=7)
    store_bars(sol, data, range(60))
    set_book(sol, data.close[59])
    return data


def test_a_paper_bot_processes_a_bar_and_places_the_order_its_strategy_asked_for(trader, account, sol, market) -> None:
    bot = _started_bot(trader, account, sol)
    assert bot.last_processed_open_time == market.datetime_at(59)
    store_bars(sol, market, [60])
    set_book(sol, market.open[61])

    report = bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))

    assert report.processed == 1 and report.orders == 1
    order = Order.objects.get(bot=bot)
    assert order.source == "bot"
    assert order.side == "BUY" and order.order_type == "MARKET" and order.status == "FILLED"
    expected = (Decimal(100) / Decimal(repr(float(market.close[60])))).quantize(Decimal("0.001"), rounding="ROUND_DOWN")
    assert order.quantity == expected  # 100 USDT at the close, down to the lot
    assert order.client_order_id == client_order_id(bot.pk, market.datetime_at(60), 1)
    bot.refresh_from_db()
    assert bot.last_processed_open_time == market.datetime_at(60)
    assert bot.last_signal.startswith("periodic buy")
    assert BotPerformanceSnapshot.objects.filter(bot=bot).count() == 1
    messages = list(BotLogEntry.objects.filter(bot=bot).values_list("message", flat=True))
    assert any("periodic buy" in m for m in messages) and any(f"placed BUY {expected.normalize()} SOL/USDT market" in m for m in messages)
    # the fill is the strategy's news at the next bar, as a next-open fill is in a backtest
    assert RunnerState.from_state(bot.state, symbol="SOL/USDT", perpetual=False).position.quantity == 0
    store_bars(sol, market, [61])
    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(61))
    bot.refresh_from_db()
    book = RunnerState.from_state(bot.state, symbol="SOL/USDT", perpetual=False)
    assert book.position.quantity == expected
    assert book.position.entry_price == Decimal(repr(float(market.open[61])))


def test_each_decision_is_counted_with_its_lag_from_the_candle_close(trader, account, sol, market) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, labels: dict[str, str] | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    bot = _started_bot(trader, account, sol)
    ordered, lags = sample("tp_bot_decisions_total", {"outcome": "ordered"}), sample("tp_bot_decision_lag_seconds_count")
    store_bars(sol, market, [60])
    set_book(sol, market.open[61])

    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))

    assert sample("tp_bot_decisions_total", {"outcome": "ordered"}) == ordered + 1
    assert sample("tp_bot_decision_lag_seconds_count") == lags + 1


def test_the_same_bar_twice_places_no_second_order(trader, account, sol, market) -> None:
    bot = _started_bot(trader, account, sol)
    store_bars(sol, market, [60])

    first = bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))
    again = bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))  # a duplicated task
    also = process_closed_candles(symbol_id=sol.pk, timeframe="1m", open_time=market.datetime_at(60))  # the beat's fallback

    assert (first.processed, again.processed, also.processed) == (1, 0, 0)
    assert Order.objects.filter(bot=bot).count() == 1
    assert BotPerformanceSnapshot.objects.filter(bot=bot).count() == 1


class _Killed(BaseException):
    """Not an Exception: what a SIGKILL or a lost worker looks like to the code that was running."""


def test_a_task_killed_after_placing_its_order_places_no_duplicate_when_run_again(trader, account, sol, market, monkeypatch) -> None:
    bot = _started_bot(trader, account, sol)
    store_bars(sol, market, [60])
    real_save = BarRun._save

    def killed_before_saving(self: BarRun) -> None:
        assert Order.objects.filter(bot_id=self.bot.pk).count() == 1  # the order is placed...
        raise _Killed  # ...and the process dies before the bot's state is saved

    monkeypatch.setattr(BarRun, "_save", killed_before_saving)
    with pytest.raises(_Killed):
        bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))
    monkeypatch.setattr(BarRun, "_save", real_save)

    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING and bot.last_processed_open_time == market.datetime_at(59)
    assert not Order.objects.filter(bot=bot).exists()  # the bar was one transaction: nothing of it stayed

    report = bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))  # the redelivered task

    assert report.processed == 1
    orders = list(Order.objects.filter(account=account))
    assert len(orders) == 1 and orders[0].bot_id == bot.pk
    bot.refresh_from_db()
    book = RunnerState.from_state(bot.state, symbol="SOL/USDT", perpetual=False)
    assert list(book.orders) == [orders[0].client_order_id]
    assert bot.state["strategy"]["base_orders"] == [orders[0].client_order_id]


def test_an_order_that_exists_already_for_the_bar_is_adopted_not_placed_again(trader, account, sol, market) -> None:
    """Should an earlier attempt have committed its order without the bot's state, the deterministic id finds it."""
    bot = _started_bot(trader, account, sol)
    store_bars(sol, market, [60])
    cid = client_order_id(bot.pk, market.datetime_at(60), 1)
    earlier = order_submit(
        actor=trader,
        account=account,
        request=OrderRequest(symbol=sol, side="BUY", order_type="MARKET", quote_amount=Decimal(100), client_order_id=cid, source="bot"),
    )

    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))

    assert Order.objects.filter(account=account).count() == 1
    earlier.refresh_from_db()
    assert earlier.bot_id == bot.pk
    bot.refresh_from_db()
    assert list(RunnerState.from_state(bot.state, symbol="SOL/USDT", perpetual=False).orders) == [cid]


def _orders_of(bot: Bot) -> list[tuple[str, str, str, Decimal, Decimal | None, str]]:
    rows = Order.objects.filter(bot=bot).order_by("client_order_id")
    return [(o.client_order_id.split("-", 1)[1], o.side, o.order_type, o.quantity, o.price, o.status) for o in rows]


def _without_tag(value: Any, tag: str) -> Any:
    if isinstance(value, str):
        return value.replace(tag, "*")
    if isinstance(value, list):
        return [_without_tag(v, tag) for v in value]
    if isinstance(value, dict):
        return {k.replace(tag, "*"): _without_tag(v, tag) for k, v in value.items()}
    return value


def test_a_restarted_bot_continues_from_its_saved_state_as_if_it_had_never_stopped(sim, sol, market) -> None:
    """Two identical DCA bots (safety orders and take-profits resting, state in JSON): one processes every
    bar as it closes, the other half of them, then (after a 'restart': nothing survives but the database)
    catches up on the rest in one call. They end with the same orders and the same state."""
    params = {"trigger": "periodic", "interval": 4, "order_quote": 200.0, "max_safety_orders": 2, "step_percent": 0.3, "take_profit_percent": 0.4}
    alice, bob = UserFactory(), UserFactory()
    steady = _started_bot(alice, paper_account(alice), sol, params=params, name="steady")
    restarted = _started_bot(bob, paper_account(bob), sol, params=params, name="restarted")
    for i in range(60, 80):
        set_book(sol, market.close[59])  # one price for market orders throughout: the catch-up sees the same market
        store_bars(sol, market, [i])
        bot_process_bar(bot_id=steady.pk, open_time=market.datetime_at(i))
        if i < 70:
            bot_process_bar(bot_id=restarted.pk, open_time=market.datetime_at(i))
    set_book(sol, market.close[59])
    report = bot_process_bar(bot_id=restarted.pk, open_time=market.datetime_at(79))

    assert report.processed == 10
    steady.refresh_from_db()
    restarted.refresh_from_db()
    assert _orders_of(steady) == _orders_of(restarted)
    assert len(_orders_of(steady)) > 5 and any(o[2] == "LIMIT" for o in _orders_of(steady))  # base buys, safety orders, take-profits
    assert any(o[2] == "LIMIT" and o[5] == "FILLED" for o in _orders_of(steady))  # resting orders met the bars
    tag_a, tag_b = steady.pk.hex[-12:], restarted.pk.hex[-12:]
    for bot in (steady, restarted):
        for tracked in bot.state["runner"]["orders"].values():
            tracked.pop("id")  # the database ids of their orders differ, naturally
    assert _without_tag(steady.state, tag_a) == _without_tag(restarted.state, tag_b)
    assert restarted.last_processed_open_time == market.datetime_at(79)
    assert BotPerformanceSnapshot.objects.filter(bot=restarted).count() == 20


class Exploding(Strategy):
    name = "exploding"
    description = "Raises on its third bar."
    Params = StrategyParams

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.state["bars"] = self.state.get("bars", 0) + 1
        if self.state["bars"] == 3:
            raise ZeroDivisionError("the strategy divided by zero")


def test_a_strategy_exception_stops_that_bot_with_the_reason_and_no_other(trader, account, sol, market, monkeypatch) -> None:
    monkeypatch.setitem(registry._REGISTRY, "exploding", Exploding)
    broken = _started_bot(trader, account, sol, strategy="exploding", params={}, name="broken")
    other_user = UserFactory()
    healthy = _started_bot(other_user, paper_account(other_user), sol, name="healthy")

    for i in range(60, 64):
        store_bars(sol, market, [i])
        process_closed_candles(symbol_id=sol.pk, timeframe="1m", open_time=market.datetime_at(i))

    broken.refresh_from_db()
    healthy.refresh_from_db()
    assert broken.status == BotStatus.ERROR
    assert "exploding" in broken.error and "on_bar" in broken.error and "ZeroDivisionError: the strategy divided by zero" in broken.error
    assert broken.last_processed_open_time == market.datetime_at(61)  # the failed bar was not processed
    assert broken.state["strategy"] == {"bars": 2}  # nor its half-made state saved
    assert BotLogEntry.objects.filter(bot=broken, level="error", message__contains="divided by zero").exists()
    assert AuditEvent.objects.filter(action="bot.errored", target_id=str(broken.pk)).exists()
    assert healthy.status == BotStatus.RUNNING and healthy.last_processed_open_time == market.datetime_at(63)
    assert Order.objects.filter(bot=healthy, order_type="MARKET").count() == 4  # a buy at each bar (and take-profits)


def test_catching_up_processes_missed_bars_in_order(trader, account, sol, market) -> None:
    bot = _started_bot(trader, account, sol)
    store_bars(sol, market, range(60, 65))

    report = process_closed_candles(symbol_id=sol.pk, timeframe="1m", open_time=market.datetime_at(64))

    assert report.processed == 5
    bars = [o.client_order_id.split("-")[1] for o in Order.objects.filter(bot=bot).order_by("created_at")]
    assert bars == sorted(bars) and len(set(bars)) == 5
    assert list(BotPerformanceSnapshot.objects.filter(bot=bot).values_list("taken_at", flat=True)) == [market.datetime_at(i) for i in range(60, 65)]


def test_a_breached_drawdown_pauses_the_bot_with_the_reason(trader, account, sol, market) -> None:
    bot = bot_create(
        actor=trader,
        name="careful",
        account=account,
        symbol=sol,
        timeframe="1m",
        strategy="dca",
        params={**DCA_EVERY_BAR, "order_quote": 3000.0},
    )
    Bot.objects.filter(pk=bot.pk).update(max_drawdown_percent=Decimal("0.01"))
    bot_start(actor=trader, bot_id=bot.pk)
    for i in range(60, 63):
        set_book(sol, Decimal(repr(float(market.close[59]))) * 2)  # it buys at twice the price: an instant loss
        store_bars(sol, market, [i])
        bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(i))

    bot.refresh_from_db()
    assert bot.status == BotStatus.PAUSED
    assert "drawdown" in bot.error and "limit of 0.01 %" in bot.error
    assert BotLogEntry.objects.filter(bot=bot, message__startswith="paused: drawdown").exists()
    assert AuditEvent.objects.filter(action="bot.paused_by_risk", target_id=str(bot.pk)).exists()
    assert bot.last_processed_open_time == market.datetime_at(61)  # it paused at the bar where it saw the loss


def test_the_bots_own_position_limit_refuses_orders_beyond_it(trader, account, sol, market) -> None:
    bot = bot_create(actor=trader, name="small", account=account, symbol=sol, timeframe="1m", strategy="dca", params=DCA_EVERY_BAR)
    Bot.objects.filter(pk=bot.pk).update(max_position_notional=Decimal(50))
    bot_start(actor=trader, bot_id=bot.pk)
    store_bars(sol, market, [60])

    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))

    assert not Order.objects.filter(bot=bot).exists()
    refusal = BotLogEntry.objects.get(bot=bot, level="warning")
    assert "refused" in refusal.message and "limits" in refusal.message
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING


def test_a_daily_loss_beyond_the_bots_limit_pauses_it_with_the_reason(trader, account, sol, market) -> None:
    bot = bot_create(actor=trader, name="daily", account=account, symbol=sol, timeframe="1m", strategy="dca", params={**DCA_EVERY_BAR, "order_quote": 3000.0})
    Bot.objects.filter(pk=bot.pk).update(max_daily_loss=Decimal(5))
    bot_start(actor=trader, bot_id=bot.pk)
    for i in range(60, 63):
        set_book(sol, Decimal(repr(float(market.close[59]))) * 2)  # it buys at twice the price: an instant loss
        store_bars(sol, market, [i])
        bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(i))

    bot.refresh_from_db()
    assert bot.status == BotStatus.PAUSED
    assert "today (UTC)" in bot.error and "the daily limit is 5 USDT" in bot.error
    assert AuditEvent.objects.filter(action="bot.paused_by_risk", target_id=str(bot.pk)).exists()


def test_the_traders_own_limits_refuse_a_bots_order_with_the_reason(trader, account, sol, market) -> None:
    from apps.risk.services import risk_limits_update

    risk_limits_update(actor=trader, max_order_notional=Decimal(20))
    bot = _started_bot(trader, account, sol)
    store_bars(sol, market, [60])

    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(60))

    assert not Order.objects.filter(bot=bot).exists()
    refusal = BotLogEntry.objects.get(bot=bot, level="warning")
    assert "refused" in refusal.message and "Your risk limits" in refusal.message
    assert AuditEvent.objects.filter(action="order.rejected_by_risk", owner_id=trader.pk).exists()
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING


class Peeking(Strategy):
    """Records what it is shown: the newest candle its indicators are prepared with, and its context's newest bar."""

    name = "peeking"
    description = "Looks as far ahead as it is allowed to."
    Params = StrategyParams
    prepared_until: list[Any] = []
    seen: list[tuple[Any, Any, Any]] = []

    def prepare(self, data: Any) -> dict[str, Any]:
        Peeking.prepared_until.append(data.datetime_at(len(data) - 1))
        return {}

    def on_bar(self, ctx: Any, bar: Any) -> None:
        Peeking.seen.append((bar.time, ctx.bars.datetime_at(len(ctx.bars) - 1), ctx.time))


def test_no_look_ahead_a_bar_caught_up_sees_only_the_candles_up_to_itself(trader, account, sol, market, monkeypatch) -> None:
    monkeypatch.setitem(registry._REGISTRY, "peeking", Peeking)
    monkeypatch.setattr(Peeking, "prepared_until", [])
    monkeypatch.setattr(Peeking, "seen", [])
    bot = _started_bot(trader, account, sol, strategy="peeking", params={})
    store_bars(sol, market, range(60, 66))  # six bars closed while the worker was down

    bot_process_bar(bot_id=bot.pk, open_time=market.datetime_at(65))

    bars = [market.datetime_at(i) for i in range(60, 66)]
    assert [seen[0] for seen in Peeking.seen] == bars
    assert all(bar == newest == now for bar, newest, now in Peeking.seen)
    assert Peeking.prepared_until == bars  # indicators computed over candles up to the bar, never later ones
