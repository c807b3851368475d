"""Each built-in strategy on a small hand-made series whose trades can be stated in advance."""

from decimal import Decimal

import pytest

from apps.backtesting.domain.engine import BacktestConfig, run_backtest
from apps.exchanges.domain.types import MarketType
from apps.orders.domain.model import Liquidity, OrderSide
from apps.strategies.domain.registry import create_strategy
from apps.strategies.tests.bars import bars

D = Decimal
NO_FEES = {"maker_fee": D(0), "taker_fee": D(0)}
PERP = MarketType.LINEAR_PERPETUAL

# closes; a 2/4 SMA pair on them (from bar 3):
#   bar:   3    4     5     6   7   8   9   10  11  12
#   fast: 10   11    13    15  15  13  11   9   9  11
#   slow: 10   10.5  11.5  13  14  14  13  11  10  10
# bar 3 is a tie (no regime), bar 4 sets the regime (long) without a trade, the cross down is
# at bar 8 and the cross up at bar 12. Opens are the previous close + 0.5, so fills at the next
# open are recognisable.
SMA_CLOSES = [10, 10, 10, 10, 12, 14, 16, 14, 12, 10, 8, 10, 12, 13]
SMA_OPENS = [10] + [c + 0.5 for c in SMA_CLOSES[:-1]]


def sma(**params):
    return create_strategy("sma_cross", {"fast": 2, "slow": 4, "sizing": "quantity", "quantity": 1} | params)


def test_sma_cross_long_short_goes_short_on_the_cross_down_and_back_on_the_cross_up():
    result = run_backtest(sma(mode="long_short"), bars(SMA_CLOSES, SMA_OPENS), BacktestConfig(market_type=PERP, **NO_FEES))
    assert [(f.bar, f.fill.side, f.fill.price, f.fill.quantity) for f in result.fills] == [
        (9, OrderSide.SELL, D("12.5"), D(1)),  # decided at bar 8's close, filled at bar 9's open
        (13, OrderSide.BUY, D("12.5"), D(2)),  # the flip: close the short, open the long
    ]
    (trade,) = result.trades
    assert (trade.side, trade.entry_bar, trade.exit_bar, trade.entry_price, trade.exit_price, trade.pnl) == ("SHORT", 9, 13, D("12.5"), D("12.5"), D(0))
    assert result.open_trade is not None and result.open_trade.side == "LONG" and result.open_trade.entry_bar == 13
    assert [(line.bar, line.message) for line in result.log] == [(8, "fast SMA crossed below slow: go short"), (12, "fast SMA crossed above slow: go long")]


def test_sma_cross_long_only_stays_flat_on_the_cross_down():
    result = run_backtest(sma(mode="long_only"), bars(SMA_CLOSES, SMA_OPENS), BacktestConfig(**NO_FEES))
    assert [(f.bar, f.fill.side) for f in result.fills] == [(13, OrderSide.BUY)]
    assert result.trades == [] and result.open_trade is not None


def test_sma_cross_sizes_a_fraction_of_equity_at_the_close_of_the_crossing_bar():
    result = run_backtest(
        sma(sizing="fraction", fraction=0.5), bars(SMA_CLOSES, SMA_OPENS), BacktestConfig(market_type=PERP, initial_capital=D(1000), **NO_FEES)
    )
    # bar 8 closes at 12: 0.5 x 1000 / 12 = 41.66666666 (rounded down to the lot)
    assert result.fills[0].fill.quantity == D("41.66666666")


def test_grid_buys_the_dip_sells_one_level_up_and_buys_again():
    # levels 90, 100, 110; the first close 105 puts buys at 90 and 100
    closes = [105, 101, 108, 104, 104]
    lows = [104, 99, 100.5, 99.5, 103]
    highs = [106, 103, 111, 108, 105]
    opens = [105, 102, 101, 108, 104]
    strategy = create_strategy("grid", {"lower": 90, "upper": 110, "levels": 3, "quantity": 2})
    result = run_backtest(strategy, bars(closes, opens, highs, lows), BacktestConfig(**NO_FEES))
    assert [(f.bar, f.fill.side, f.fill.price, f.fill.liquidity) for f in result.fills] == [
        (1, OrderSide.BUY, D(100), Liquidity.MAKER),
        (2, OrderSide.SELL, D(110), Liquidity.MAKER),
        (3, OrderSide.BUY, D(100), Liquidity.MAKER),
    ]
    (trade,) = result.trades
    assert (trade.entry_price, trade.exit_price, trade.pnl) == (D(100), D(110), D(20))
    assert sorted(o.price for o in result.open_orders) == [D(90), D(110)]


def test_dca_adds_a_safety_order_and_takes_profit_on_the_average_entry():
    # bar 0 buys 100 USDT at bar 1's open (100): 1 unit; a safety buy rests at 80 for 200 USDT (2.5 units)
    # and a take-profit at 110. Bar 2 trades down to 79: the safety fills at 80, the average entry
    # becomes 300 / 3.5 = 85.714..., the take-profit moves to 94.29 (x 1.1, rounded up to the tick);
    # bar 4 reaches 95: sold.
    closes = [100, 100, 85, 90, 94, 94]
    opens = [100, 100, 99, 85, 90, 94]
    lows = [100, 99, 79, 84, 89, 93]
    highs = [100, 101, 99, 91, 95, 94]
    params = {"interval": 1000, "order_quote": 100, "take_profit_percent": 10, "max_safety_orders": 1, "step_percent": 20, "volume_multiplier": 2}
    result = run_backtest(create_strategy("dca", params), bars(closes, opens, highs, lows), BacktestConfig(**NO_FEES))
    assert [(f.bar, f.fill.side, f.fill.price, f.fill.quantity) for f in result.fills] == [
        (1, OrderSide.BUY, D(100), D(1)),
        (2, OrderSide.BUY, D(80), D("2.5")),
        (4, OrderSide.SELL, D("94.29"), D("3.5")),
    ]
    (trade,) = result.trades
    assert trade.exit_price == D("94.29")
    assert abs(trade.pnl - (D("3.5") * D("94.29") - D(300))) < D("1e-20")  # the average entry 300 / 3.5 is recurring
    assert result.open_orders == []


def test_dca_dip_trigger_buys_when_the_close_falls_below_the_recent_high():
    closes = [100, 100, 100, 89, 90, 91]
    params = {"trigger": "dip", "lookback": 3, "dip_percent": 10, "order_quote": 89, "max_safety_orders": 0}
    result = run_backtest(create_strategy("dca", params), bars(closes), BacktestConfig(**NO_FEES))
    # bought at bar 4's open (89); the 2 % take-profit at 90.78 is sold in bar 5 (high 91)
    assert [(f.bar, f.fill.side, f.fill.price) for f in result.fills] == [(4, OrderSide.BUY, D(89)), (5, OrderSide.SELL, D("90.78"))]


def test_momentum_enters_on_a_breakout_and_is_stopped_out_at_the_gapped_open():
    # bars 0-4 trade 99-101 (TR 2); bar 5 breaks out to a close of 103 above the 3-bar high 101
    # ATR(2): 2 at bar 4, (2 + 4) / 2 = 3 at bar 5 -> long risk 1 % of 10,000 / (1 x 3) = 33.33333333 units,
    # filled at bar 6's open 103. At bar 6's close (103) ATR = (3 + 2) / 2 = 2.5: stop at 100.5.
    # Bar 7: ATR 2.25, the trail (102 - 2.25) is lower: unchanged. Bar 8 opens at 100, below the stop.
    closes = [100, 100, 100, 100, 100, 103, 103, 102, 100, 100]
    opens = [100, 100, 100, 100, 100, 100, 103, 103, 100, 100]
    highs = [101, 101, 101, 101, 101, 104, 104, 103.5, 100.5, 101]
    lows = [99, 99, 99, 99, 99, 100, 102, 101.5, 98.5, 99]
    params = {"lookback": 3, "atr_period": 2, "atr_multiple": 1, "risk_fraction": 0.01}
    result = run_backtest(create_strategy("momentum", params), bars(closes, opens, highs, lows), BacktestConfig(**NO_FEES))
    assert [(f.bar, f.fill.side, f.fill.price, f.fill.quantity) for f in result.fills] == [
        (6, OrderSide.BUY, D(103), D("33.33333333")),
        (8, OrderSide.SELL, D(100), D("33.33333333")),
    ]
    assert [line.bar for line in result.log if "stop" in line.message] == [6, 8]


def test_mean_reversion_buys_oversold_below_the_band_and_exits_at_the_mid_band():
    # bar 4: RSI(2) = 7.1 < 30 and the close 95 is below the lower band (99.33 - 3.09): long at bar 5's open
    # bar 5: mid of (101, 95, 97) = 97.67 > 97; bar 6: mid of (95, 97, 99) = 97 <= 99: exit at bar 7's open
    closes = [100, 101, 102, 101, 95, 97, 99, 100]
    params = {"rsi_period": 2, "bb_period": 3, "bb_std": 1.0}
    result = run_backtest(create_strategy("mean_reversion", params), bars(closes), BacktestConfig(**NO_FEES))
    assert [(f.bar, f.fill.side, f.fill.price) for f in result.fills] == [(5, OrderSide.BUY, D(95)), (7, OrderSide.SELL, D(99))]
    (trade,) = result.trades
    assert trade.pnl == (D(99) - D(95)) * trade.quantity


@pytest.mark.parametrize("exit_rule", ["mid", "rsi"])
def test_mean_reversion_exit_rules_both_close_the_trade(exit_rule):
    closes = [100, 101, 102, 101, 95, 97, 99, 100, 101]
    params = {"rsi_period": 2, "bb_period": 3, "bb_std": 1.0, "exit": exit_rule}
    result = run_backtest(create_strategy("mean_reversion", params), bars(closes), BacktestConfig(**NO_FEES))
    assert len(result.trades) == 1 and result.trades[0].entry_bar == 5
