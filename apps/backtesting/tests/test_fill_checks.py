"""Cash and margin are checked when an order fills, at the fill price; what cannot be carried is refused or re-sized, and counted."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtesting.domain.accounting import Account
from apps.backtesting.domain.engine import BacktestConfig, default_rules, run_backtest
from apps.exchanges.domain.types import MarketType
from apps.orders.domain.model import Fill, Liquidity, OrderSide
from apps.strategies.domain.base import Strategy
from apps.strategies.domain.registry import create_strategy
from apps.strategies.tests.bars import bars, random_walk

D = Decimal
PERP = MarketType.LINEAR_PERPETUAL
FEE = D("0.001")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Scripted(Strategy):
    name = "scripted"
    description = "test double"

    def __init__(self, script):
        super().__init__()
        self.script = script

    def on_bar(self, ctx, bar):
        action = self.script.get(bar.index)
        if action is not None:
            action(ctx)


def spot_cash_after_each_fill(result, initial):
    cash, path = initial, []
    for record in result.fills:
        fill = record.fill
        if fill.side is OrderSide.BUY:
            cash -= fill.price * fill.quantity + fill.fee
        else:
            cash += fill.price * fill.quantity - fill.fee
        path.append(cash)
    return path


def test_a_perpetual_that_cannot_carry_its_flips_refuses_them_and_never_trades_below_zero():
    # GBM around 10,000-25,000, capital 12,000, one unit long/short, 0.1 % fee: the flips used to
    # pass unchecked and the account traded on at negative equity (about -6,600 at the low).
    data = random_walk(3000, 3, sigma=0.01, start=10_000.0)
    strategy = create_strategy("sma_cross", {"fast": 5, "slow": 20, "mode": "long_short", "sizing": "quantity", "quantity": 1})
    config = BacktestConfig(initial_capital=D(12_000), maker_fee=FEE, taker_fee=FEE, market_type=PERP)
    result = run_backtest(strategy, data, config)
    assert result.equity.min() > 0
    assert result.refusals, "some flips cannot be carried"
    assert set(result.refusal_counts()) == {"refused: perpetual: not enough free margin at the fill price"}
    assert sum(result.refusal_counts().values()) == len(result.refusals) == len(result.rejections)
    assert result.warning() is not None and result.warning().startswith(f"Warning: {len(result.refusals)} refused: perpetual")


@pytest.mark.parametrize("fraction", [0.999, 1.0])
def test_spot_buys_sized_by_fraction_are_resized_at_the_fill_so_cash_never_goes_below_zero(fraction):
    data = random_walk(2000, 0, sigma=0.01)
    strategy = create_strategy("sma_cross", {"fast": 5, "slow": 20, "mode": "long_only", "fraction": fraction})
    result = run_backtest(strategy, data, BacktestConfig(initial_capital=D(10_000), maker_fee=FEE, taker_fee=FEE))
    assert len(result.trades) > 40  # fraction 1.0 used to make no trade at all (the fee did not fit)
    assert min(spot_cash_after_each_fill(result, D(10_000))) >= 0
    resized = [r for r in result.refusals if r.resized]
    assert resized and all(r.filled < r.quantity for r in resized)
    assert set(result.refusal_counts()) == {"re-sized: spot: not enough cash at the fill price"}


def test_a_fraction_sized_buy_is_resized_to_what_the_cash_buys_at_the_open_with_the_fee():
    # all-in at the close of 100; the next bar opens at 110: 1000 / (110 x 1.001) = 9.08182...
    data = bars([100, 100, 110, 110], [100, 100, 110, 110])
    result = run_backtest(Scripted({1: lambda ctx: ctx.target_exposure(1)}), data, BacktestConfig(initial_capital=D(1000), taker_fee=FEE))
    (record,) = result.fills
    assert record.bar == 2 and record.fill.price == D(110)
    assert record.fill.quantity == D("9.08182726")
    assert record.fill.price * record.fill.quantity + record.fill.fee <= D(1000)
    (refusal,) = result.refusals
    assert (refusal.quantity, refusal.filled, refusal.resized) == (D(10), D("9.08182726"), True)
    assert any("re-sized to 9.08182726" in line.message for line in result.log)


def test_a_buy_of_a_fixed_quantity_that_the_cash_cannot_pay_at_the_open_is_refused_not_resized():
    data = bars([100, 100, 110, 110], [100, 100, 110, 110])
    result = run_backtest(Scripted({1: lambda ctx: ctx.buy(9.5)}), data, BacktestConfig(initial_capital=D(1000), taker_fee=FEE))
    assert result.fills == []
    assert result.refusal_counts() == {"refused: spot: not enough cash at the fill price": 1}
    assert result.warning() == "Warning: 1 refused: spot: not enough cash at the fill price"


def test_a_perpetual_flip_sized_by_fraction_is_resized_to_the_free_margin_at_the_fill_price():
    # long 9 at 100 on 1000 (2x); the flip to -100 % of equity meets an open of 100: it closes the long and
    # opens only what the remaining margin carries
    data = bars([100, 100, 100, 100, 100], [100, 100, 100, 100, 100])
    script = {0: lambda ctx: ctx.buy(9), 1: lambda ctx: ctx.target_exposure(-3)}
    config = BacktestConfig(initial_capital=D(1000), taker_fee=FEE, market_type=PERP, leverage=2)
    result = run_backtest(Scripted(script), data, config)
    flip = result.fills[1].fill
    (refusal,) = result.refusals
    assert refusal.resized and flip.quantity == refusal.filled < refusal.quantity
    short = result.position_final
    assert short.quantity < 0
    # what is left carries the short's margin
    equity = D(1000) + short.net_realized
    assert equity >= abs(short.quantity) * short.entry_price / 2


def test_fast_and_slow_paths_refuse_and_resize_the_same_orders():
    data = random_walk(3000, 3, sigma=0.01, start=10_000.0)
    for params, config in [
        (
            {"fast": 5, "slow": 20, "mode": "long_short", "sizing": "quantity", "quantity": 1},
            BacktestConfig(initial_capital=D(12_000), market_type=PERP, taker_fee=FEE),
        ),
        ({"fast": 4, "slow": 15, "mode": "long_only", "fraction": 1.0}, BacktestConfig(initial_capital=D(11_000), taker_fee=FEE)),
        (
            {"fast": 4, "slow": 15, "mode": "long_short", "fraction": 3.0},
            BacktestConfig(initial_capital=D(11_000), market_type=PERP, leverage=3, taker_fee=FEE),
        ),
    ]:
        fast = run_backtest(create_strategy("sma_cross", params), data, replace(config, mode="fast"))
        slow = run_backtest(create_strategy("sma_cross", params), data, replace(config, mode="slow"))
        assert fast.refusals and fast.refusals == slow.refusals
        assert fast.fills == slow.fills and fast.trades == slow.trades
        assert np.array_equal(fast.equity, slow.equity)
        assert fast.log == slow.log


class ExactAccount(Account):
    """The account without its float pre-test: every fill goes through the exact Decimal test."""

    __slots__ = ()

    def _clearly_carried(self, fill, held, after_quantity):
        return False


def _fill(side, price, quantity, fee_rate=FEE):
    return Fill("o1", "BTC/USDT:USDT", side, price, quantity, price * quantity * fee_rate, "USDT", Liquidity.TAKER, T0)


@settings(max_examples=300, deadline=None)
@given(
    leverage=st.integers(1, 125),
    capital=st.decimals("10", "100000", places=2),
    first=st.tuples(st.booleans(), st.decimals("1", "1000", places=2), st.decimals("0.001", "50", places=3)),
    second=st.tuples(st.booleans(), st.decimals("1", "1000", places=2), st.decimals("0.001", "100", places=3)),
)
def test_the_quick_margin_test_never_passes_a_fill_the_exact_test_refuses(leverage, capital, first, second):
    rules = default_rules(PERP)
    accounts = [Account(capital, rules, leverage), ExactAccount(capital, rules, leverage)]
    for buy, price, quantity in (first, second):
        fill = _fill(OrderSide.BUY if buy else OrderSide.SELL, price, quantity)
        verdicts = [account.refusal(fill) for account in accounts]
        assert verdicts[0] == verdicts[1]
        if verdicts[0] is None:
            for account in accounts:
                account.apply_fill(fill, 0)


@settings(max_examples=300, deadline=None)
@given(
    leverage=st.integers(1, 125),
    long=st.booleans(),
    entry=st.decimals("0.01", "100000", places=2),
    quantity=st.decimals("0.001", "1000", places=3),
)
def test_the_float_liquidation_bound_never_lies_nearer_to_the_entry_than_the_liquidation_price(leverage, long, entry, quantity):
    account = Account(entry * quantity, default_rules(PERP), leverage)
    account.apply_fill(_fill(OrderSide.BUY if long else OrderSide.SELL, entry, quantity, D(0)), 0)
    price, bound = account.liquidation_price(), account.liquidation_bound()
    if price is None:
        return
    assert (bound >= price) if long else (bound <= price)
