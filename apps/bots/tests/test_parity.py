"""PARITY: the same strategy on the same candles makes the same trades in a backtest and in a paper bot.

The bot is fed the candles one closed bar at a time through the runner (`bot_process_bar`),
as `stream_market` would; `run_backtest` replays the same stored candles (read by
`stored_bars`, so both see the very same floats) through the same strategy class.

How the two fill models are made to meet, and why this is the honest comparison
- The backtest runs with its default `fill_at="next_open"`: a market order decided at the close
  of bar t fills at the open of bar t+1 (no slippage here), and the strategy hears of the fill
  at bar t+1.
- The paper bot's market order is placed by `order_submit` while bar t is being processed,
  which in production is seconds after bar t closed: the market then IS bar t+1's open. The
  test makes that literal: while bar t is processed, the live book (in Redis, as the stream keeps
  it) is a deep book at bar t+1's open price (bid = ask, so buys and sells both fill at that one
  price: a book walk adds no slippage, like the backtest with slippage 0), and the clock reads
  bar t+1's open time (so fill times compare). The runner reports that fill to the strategy
  at bar t+1, as the backtest does.
- Resting orders (limits, take-profits, stops) of a paper bot are matched by the runner
  against each new bar with the same `MatchingEngine.on_bar` as the backtest; a limit that is
  already marketable when placed fills at once at the book (bar t+1's open) as a taker, which is
  what the backtest does with a limit gapped through at the next open.
- Fees are the paper account's maker/taker rates in both; the capital is the account's USDT.

The bot starts with W stored candles and decides from bar W on. A strategy with indicators
(sma_cross) is backtested over all the candles and cannot trade before bar W (W is its longest
period, the first bar where it can see a cross); the strategies whose bar numbers or `on_start`
matter (dca counts bars, grid lays its grid at its first bar) are backtested from bar W, the
bot's bar 0. Strategies whose indicators are ready before their warm-up ends (momentum's
breakouts and ATR stops, mean_reversion's RSI and bands) get candles that stay at one price
until bar W: both drivers compute every indicator from the first candle, and neither can
trade before the bot could. The bot processes bars up to N-2, so that every order it decides has a next bar to
fill in, as every backtest fill has.

Compared one by one, with no tolerance: every fill (time, side, quantity, price, fee,
maker/taker), then every trade (entry/exit times, side, quantity, entry/exit prices, P&L), and
the equity at each processed close. A limit placed exactly at the next open is the edge that
matters: the paper book takes it (a bid equal to the best ask is marketable) and so does the
bar engine (a last price equal to the limit counts as a one-price book), both as a taker at once.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from apps.accounts.tests.factories import UserFactory
from apps.backtesting.data import stored_bars
from apps.backtesting.domain.engine import BacktestConfig, run_backtest
from apps.bots.models import BotLogEntry, BotPerformanceSnapshot
from apps.bots.runner import RunnerState, bot_process_bar, required_bars
from apps.bots.selectors import bot_fills, bot_trades
from apps.bots.services import bot_create, bot_start
from apps.bots.tests.conftest import paper_account
from apps.bots.tests.factories import set_book, store_bars, walk
from apps.exchanges.domain.types import MarketType
from apps.exchanges.models import Symbol
from apps.orders.services.market_inputs import symbol_rules
from apps.orders.services.paper import funding_settle
from apps.strategies.domain.data import OHLCV, to_decimal
from apps.strategies.domain.registry import create_strategy

pytestmark = pytest.mark.django_db

N = 160

CASES = [
    pytest.param("sma_cross", {"fast": 3, "slow": 8, "mode": "long_only", "sizing": "fraction", "fraction": 0.5}, 21, "10000", False, id="sma_cross"),
    pytest.param(
        "dca",
        {"trigger": "periodic", "interval": 8, "order_quote": 400.0, "max_safety_orders": 2, "step_percent": 0.35, "take_profit_percent": 0.3},
        3,
        "100000",
        True,
        id="dca-resting-orders",
    ),
    pytest.param("grid", {"lower": 139.0, "upper": 147.0, "levels": 9, "quantity": 0.5}, 5, "100000", True, id="grid-resting-orders"),
    pytest.param(
        "momentum",
        {"entry": "breakout", "lookback": 10, "atr_period": 5, "atr_multiple": 1.5, "risk_fraction": 0.05, "max_exposure": 0.5},
        4,
        "100000",
        "flat",
        id="momentum-atr-stops",
    ),
    pytest.param(
        "mean_reversion",
        {"rsi_period": 5, "oversold": 35.0, "overbought": 65.0, "bb_period": 10, "bb_std": 1.5, "exit": "mid", "fraction": 0.5},
        6,
        "100000",
        "flat",
        id="mean_reversion",
    ),
]


def _flat_until(data: OHLCV, w: int) -> OHLCV:
    """The walk, with bars before `w` all at bar w's open: strategies whose indicators are ready
    before their warm-up (RSI, Bollinger Bands, breakouts) see nothing to trade until the bot
    can, while both still compute every indicator from the very first candle."""
    level = data.open[w]
    prices = [np.concatenate((np.full(w, level), column[w:])) for column in (data.open, data.high, data.low, data.close)]
    return OHLCV(data.time, *prices, data.volume)


def _fill_key(fill: Any) -> tuple[Any, ...]:
    return (fill.timestamp, fill.side, fill.quantity, fill.price, fill.liquidity, fill.fee)


def _trades_key(trades: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            t.side,
            t.entry_time,
            t.exit_time,
            t.quantity.normalize(),
            t.entry_price.normalize(),
            None if t.exit_price is None else t.exit_price.normalize(),
        )
        for t in trades
    ]


PERPETUAL_CASES = [
    pytest.param(
        "sma_cross", {"fast": 3, "slow": 8, "mode": "long_only", "sizing": "fraction", "fraction": 0.3}, 21, "100000", False, {"LONG"}, None, id="perp-long"
    ),
    pytest.param(
        "sma_cross",
        {"fast": 3, "slow": 8, "mode": "long_short", "sizing": "fraction", "fraction": 0.3},
        21,
        "100000",
        False,
        {"LONG", "SHORT"},
        None,
        id="perp-short-and-flip",
    ),
    pytest.param(
        "mean_reversion",
        {"rsi_period": 5, "oversold": 35.0, "overbought": 65.0, "bb_period": 10, "bb_std": 1.5, "exit": "mid", "fraction": 0.5},
        6,
        "100000",
        "flat",
        {"LONG"},
        None,
        id="perp-mean_reversion",
    ),
    pytest.param(
        "sma_cross",
        {"fast": 3, "slow": 8, "mode": "long_short", "sizing": "fraction", "fraction": 0.3},
        21,
        "100000",
        False,
        {"LONG", "SHORT"},
        Decimal("0.0005"),
        id="perp-funding",
    ),
]
FUNDING_INTERVAL = timedelta(hours=1)  # the funding cases settle hourly, so that the candles span funding times


@pytest.mark.parametrize(("strategy", "params", "seed", "capital", "start_at"), CASES)
def test_a_strategy_trades_the_same_in_a_backtest_and_in_a_paper_bot_fed_the_same_candles(
    sim: dict[str, Symbol], monkeypatch: pytest.MonkeyPatch, strategy: str, params: dict[str, Any], seed: int, capital: str, start_at: bool | str
) -> None:
    _assert_parity(sim["SOL/USDT"], monkeypatch, strategy, params, seed, capital, start_at)


@pytest.mark.parametrize(("strategy", "params", "seed", "capital", "start_at", "sides", "funding"), PERPETUAL_CASES)
def test_a_strategy_trades_a_perpetual_the_same_in_a_backtest_and_in_a_paper_bot(
    sim: dict[str, Symbol],
    monkeypatch: pytest.MonkeyPatch,
    strategy: str,
    params: dict[str, Any],
    seed: int,
    capital: str,
    start_at: bool | str,
    sides: set[str],
    funding: Decimal | None,
) -> None:
    trades = _assert_parity(sim["ETH/USDT:USDT"], monkeypatch, strategy, params, seed, capital, start_at, funding)
    assert {trade.side for trade in trades} == sides
    if "SHORT" in sides:  # a cross from long to short is one fill that closes a trade and opens the next
        flips = [a for a, b in zip(trades, trades[1:], strict=False) if a.exit_time == b.entry_time and a.side != b.side]
        assert flips, "the case should flip"


def _assert_parity(
    sol: Symbol,
    monkeypatch: pytest.MonkeyPatch,
    strategy: str,
    params: dict[str, Any],
    seed: int,
    capital: str,
    start_at: bool | str,
    funding: Decimal | None = None,
) -> list[Any]:
    """Run the bot bar by bar and the backtest over the same stored candles; compare fills, trades and equity; the bot's trades."""
    w = required_bars(create_strategy(strategy, params).params)  # the fewest candles it may start with
    data = walk(N, seed=seed, start=143.0, sigma=0.003)
    if start_at == "flat":
        data = _flat_until(data, w)
    from_bar_w = start_at is True
    user = UserFactory()
    account = paper_account(user, usdt=capital)
    bot = bot_create(actor=user, name="parity", account=account, symbol=sol, timeframe="1m", strategy=strategy, params=params)
    store_bars(sol, data, range(w))
    set_book(sol, data.open[w])
    bot = bot_start(actor=user, bot_id=bot.pk)
    assert bot.last_processed_open_time == data.datetime_at(w - 1)

    clock = {"now": timezone.now()}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])
    for t in range(w, N - 1):
        store_bars(sol, data, [t])
        set_book(sol, data.open[t + 1])  # the market when bar t has just closed: bar t+1's open
        clock["now"] = data.datetime_at(t + 1)
        if funding is not None and data.datetime_at(t + 1).timestamp() % FUNDING_INTERVAL.total_seconds() == 0:
            # the stream settles paper positions when a funding time passes, at the mark then: bar t+1's open
            funding_settle(symbol=sol, rate=funding, mark=to_decimal(data.open[t + 1]), at=data.datetime_at(t + 1))
        report = bot_process_bar(bot_id=bot.pk, open_time=data.datetime_at(t))
        assert report.processed == 1 and not report.errors
    store_bars(sol, data, [N - 1])
    monkeypatch.undo()
    bot.refresh_from_db()

    start = data.datetime_at(w if from_bar_w else 0)
    bars = stored_bars(symbol=sol, timeframe="1m", start=start, end=data.datetime_at(N - 1) + timedelta(minutes=1))
    config = BacktestConfig(
        initial_capital=Decimal(capital),
        maker_fee=account.maker_fee_rate,
        taker_fee=account.taker_fee_rate,
        slippage_bps=Decimal(0),
        rules=symbol_rules(sol),
        market_type=MarketType.LINEAR_PERPETUAL if sol.is_perpetual else MarketType.SPOT,
        mode="slow",
        funding_rate=funding,
        funding_interval_hours=int(FUNDING_INTERVAL.total_seconds()) // 3600,
    )
    result = run_backtest(create_strategy(strategy, params), bars, config)
    offset = 0 if from_bar_w else w  # the backtest bar of the bot's first bar
    assert not result.rejections, "the capital is ample: no order may be refused in either"
    assert all(record.bar > offset for record in result.fills), "the backtest traded before the bot could decide"
    assert not BotLogEntry.objects.filter(bot=bot, level__in=["warning", "error"]).exists()

    backtest_fills = [record.fill for record in result.fills]
    assert len(backtest_fills) >= 4, "the case should trade"
    ours_fills = bot_fills(bot=bot)
    assert len(ours_fills) == len(backtest_fills)
    for i, (mine, theirs) in enumerate(zip(ours_fills, backtest_fills, strict=True)):
        assert _fill_key(mine) == _fill_key(theirs), f"fill {i}"

    backtest_trades = list(result.trades) + ([result.open_trade] if result.open_trade else [])
    assert len(result.trades) >= 2, "the case should close trades"
    ours = bot_trades(bot=bot)
    assert _trades_key(ours) == _trades_key(backtest_trades)
    assert [trade.pnl for trade in ours] == [trade.pnl for trade in backtest_trades]

    snapshots = dict(BotPerformanceSnapshot.objects.filter(bot=bot).values_list("taken_at", "equity"))
    for t in range(w, N - 1):
        equity = snapshots[data.datetime_at(t)]
        assert float(equity) == pytest.approx(result.equity[t - w + offset], abs=1e-6)
    if funding is not None:
        assert result.funding_paid != 0, "the case should pay funding"
        book = RunnerState.from_state(bot.state, symbol=sol.symbol, perpetual=True)
        assert book.position.funding_paid == result.funding_paid
        assert sum((trade.funding for trade in ours), Decimal(0)) == result.funding_paid
    return ours
