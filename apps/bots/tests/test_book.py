"""The bot's book keeps the same account as a backtest: equity, free cash and trades from the same fills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtesting.domain.accounting import Account, FundingEvent, round_trips
from apps.backtesting.domain.engine import default_rules
from apps.bots.runner import RunnerState
from apps.exchanges.domain.types import MarketType
from apps.orders.domain.model import Fill, Liquidity, OrderSide
from apps.portfolio.domain.positions import Position

START = datetime(2026, 1, 1, tzinfo=UTC)
FEE_RATE = Decimal("0.0005")

fill_steps = st.lists(
    st.tuples(st.sampled_from([OrderSide.BUY, OrderSide.SELL]), st.integers(1, 50), st.integers(9_000, 11_000)),
    min_size=1,
    max_size=12,
)


def _fills(steps: list[tuple[OrderSide, int, int]], symbol: str) -> list[Fill]:
    fills = []
    for n, (side, lots, cents) in enumerate(steps):
        quantity, price = Decimal(lots) / 10, Decimal(cents) / 100
        fee = (price * quantity * FEE_RATE).quantize(Decimal("0.00000001"))
        fills.append(Fill(f"o{n}", symbol, side, price, quantity, fee, "USDT", Liquidity.TAKER, START + timedelta(minutes=n), f"t{n}"))
    return fills


@settings(max_examples=60, deadline=None)
@given(
    steps=fill_steps,
    leverage=st.integers(1, 20),
    mark=st.integers(9_000, 11_000),
    funded=st.lists(st.booleans(), min_size=12, max_size=12),
    rate=st.sampled_from([Decimal("0.0001"), Decimal("-0.0003")]),
)
def test_a_perpetual_bot_book_has_the_equity_free_cash_and_trades_of_a_backtest_account(
    steps: list[tuple[OrderSide, int, int]], leverage: int, mark: int, funded: list[bool], rate: Decimal
) -> None:
    rules = default_rules(MarketType.LINEAR_PERPETUAL)
    fills = _fills(steps, rules.symbol)
    account = Account(Decimal(100_000), rules, leverage)
    book = RunnerState(symbol=rules.symbol, perpetual=True, capital=Decimal(100_000), leverage=leverage, position=Position(rules.symbol))
    funding: list[FundingEvent] = []
    for bar, fill in enumerate(fills):
        if funded[bar]:  # funding falls due at this fill's time: settled before it, as at a bar's open
            funding.append(FundingEvent(fill.timestamp, rate, fill.price))
            account.apply_funding(rate, fill.price)
            book.position, _ = book.position.apply_funding(rate, fill.price)
        account.apply_fill(fill, bar)
        book.apply_fill(fill)
    price = Decimal(mark) / 100
    assert book.position == account.position
    assert book.equity_at(price) == account.equity(price)
    assert book.free_cash() == account.free_cash()  # the wallet less the rounded-up margin, in both
    assert round_trips(rules.symbol, fills, funding) == account.round_trips.all_trades(account.position)


@settings(max_examples=40, deadline=None)
@given(steps=fill_steps, mark=st.integers(9_000, 11_000))
def test_a_spot_bot_book_has_the_cash_and_equity_of_a_backtest_account(steps: list[tuple[OrderSide, int, int]], mark: int) -> None:
    rules = default_rules(MarketType.SPOT)
    fills = _fills(steps, rules.symbol)
    account = Account(Decimal(100_000), rules, 1)
    book = RunnerState(symbol=rules.symbol, perpetual=False, capital=Decimal(100_000), cash=Decimal(100_000), position=Position(rules.symbol))
    for bar, fill in enumerate(fills):
        account.apply_fill(fill, bar)
        book.apply_fill(fill)
    price = Decimal(mark) / 100
    assert book.cash == account.cash
    assert book.equity_at(price) == account.equity(price)
    assert book.free_cash() == account.free_cash()
