"""One rule for paper trading and backtests: the same bars liquidate a paper position and the
backtest engine's account (the same domain functions) at the same fill, fee and equity.

A bar is fed to the paper matcher as marks in the order the backtest tests them: the open,
then the adverse extreme (low for a long, high for a short), then the other extreme and the
close. A gap in the bars (an open beyond the liquidation price) is a mark first seen beyond
it: the matcher starts at that bar, as after an outage of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.backtesting.domain.accounting import Account
from apps.exchanges.domain.types import Ticker
from apps.exchanges.models import Symbol
from apps.market.services.demo import sim_symbols_prepare
from apps.orders.domain.model import Fill as FillValue
from apps.orders.domain.model import Liquidity, MarginMode, OrderSide
from apps.orders.models import Fill
from apps.orders.services.market_inputs import symbol_rules
from apps.orders.services.paper import PaperMatcher
from apps.orders.tests.factories import TradingAccountFactory
from apps.portfolio.domain.margin import initial_margin
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db
ZERO = Decimal(0)
SIM_LIQUIDATION_FEE = Decimal("0.005")
WALLET = Decimal(1000)


@dataclass(frozen=True)
class Bar:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


def bars(*rows: tuple[str, str, str, str]) -> list[Bar]:
    return [Bar(*(Decimal(v) for v in row)) for row in rows]


@pytest.fixture
def perp() -> Symbol:
    sim_symbols_prepare()
    return Symbol.objects.select_related("exchange").get(exchange__code="SIM", symbol="BTC/USDT:USDT")


def _paper_position(perp: Symbol, quantity: Decimal, entry: Decimal, leverage: int) -> Position:
    margin = initial_margin(abs(quantity) * entry, leverage)
    account = TradingAccountFactory(exchange=perp.exchange)
    Balance.objects.create(account=account, asset="USDT", free=WALLET - margin, locked=margin)
    return Position.objects.create(account=account, symbol=perp, quantity=quantity, entry_price=entry, leverage=leverage, isolated_margin=margin)


@dataclass(frozen=True)
class BacktestLiquidation:
    bar: int
    price: Decimal
    fee: Decimal
    loss: Decimal
    equity: Decimal


def _backtest(perp: Symbol, quantity: Decimal, entry: Decimal, leverage: int, series: list[Bar]) -> BacktestLiquidation | None:
    """The backtest engine's account (`apps.backtesting.domain.accounting.Account`), as the engine drives it:
    the position opened at `entry`, then on each bar the adverse extreme tested against the liquidation
    price before anything else, filled at it or at the bar's open when the open is already beyond it."""
    account = Account(WALLET, symbol_rules(perp), leverage, MarginMode.ISOLATED)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    side = OrderSide.BUY if quantity > 0 else OrderSide.SELL
    account.apply_fill(FillValue("open", perp.symbol, side, entry, abs(quantity), ZERO, perp.quote, Liquidity.TAKER, start, "open"), 0)
    for index, bar in enumerate(series):
        adverse = bar.low if quantity > 0 else bar.high
        outcome = account.liquidate_if_reached(
            bar=index, when=start + timedelta(minutes=index), adverse=adverse, reference=bar.open, fee_rate=SIM_LIQUIDATION_FEE
        )
        if outcome is not None:
            record, _ = outcome
            return BacktestLiquidation(index, record.price, record.fee, record.loss, account.equity(bar.close))
    return None


def _paper(perp: Symbol, position: Position, series: list[Bar], start: datetime) -> int | None:
    """Feed the bars as marks; the index of the bar that liquidated the position (None if none did)."""
    matcher = PaperMatcher()
    matcher.sync([perp.pk])
    for index, bar in enumerate(series):
        adverse, favourable = (bar.low, bar.high) if position.quantity > 0 else (bar.high, bar.low)
        for step, mark in enumerate((bar.open, adverse, favourable, bar.close)):
            at = start + timedelta(minutes=index, seconds=step * 15)
            ticker = Ticker(perp.symbol, mark, None, None, None, None, None, None, None, at, mark=mark)
            if matcher.on_mark(perp, ticker):
                return index
    return None


def stored(value: Decimal) -> Decimal:
    """As a balance is stored: 18 decimal places."""
    return value.quantize(Decimal("1e-18"))


def _assert_same(position: Position, expected: BacktestLiquidation) -> None:
    fill = Fill.objects.get(account_id=position.account_id, liquidity="LIQUIDATION")
    assert fill.price == expected.price  # fills keep the exact price (their table has no scale)
    assert fill.fee == expected.fee
    assert fill.quantity == abs(position.quantity)
    assert -(fill.realized_pnl - fill.fee) == expected.loss
    equity = Balance.objects.get(account_id=position.account_id, asset="USDT").total
    assert equity == stored(expected.equity)  # flat after the liquidation: equity is the wallet


@pytest.mark.parametrize(
    ("quantity", "series"),
    [
        (
            Decimal("0.1"),  # 50x long at 60 000: liquidation at 59 095.5
            bars(("60000", "60100", "59500", "59700"), ("59700", "59800", "59200", "59300"), ("59300", "59400", "58900", "59000")),
        ),
        (
            Decimal("-0.1"),  # 50x short at 60 000: liquidation at 60 895.5
            bars(("60000", "60300", "59900", "60200"), ("60200", "61000", "60100", "60900")),
        ),
    ],
    ids=["long", "short"],
)
def test_the_same_bars_liquidate_a_paper_position_and_a_backtest_at_the_same_fill_fee_and_equity(perp, quantity, series) -> None:
    entry, leverage = Decimal(60000), 50
    position = _paper_position(perp, quantity, entry, leverage)

    backtest = _backtest(perp, quantity, entry, leverage, series)
    paper_bar = _paper(perp, position, series, datetime(2026, 12, 1, tzinfo=UTC))

    assert backtest is not None
    assert paper_bar == backtest.bar == len(series) - 1
    assert backtest.price not in (bar.open for bar in series)  # at the liquidation price itself, not at a bar's price
    _assert_same(position, backtest)


def test_a_bar_that_opens_beyond_the_liquidation_price_fills_both_at_its_open(perp) -> None:
    entry, leverage, quantity = Decimal(60000), 50, Decimal("0.1")
    position = _paper_position(perp, quantity, entry, leverage)
    gap = bars(("58000", "58200", "57800", "58100"))

    backtest = _backtest(perp, quantity, entry, leverage, gap)
    paper_bar = _paper(perp, position, gap, datetime(2026, 12, 1, tzinfo=UTC))

    assert backtest is not None and paper_bar == backtest.bar == 0
    assert backtest.price == Decimal(58000)
    _assert_same(position, backtest)


def test_bars_that_stay_short_of_the_liquidation_price_liquidate_neither(perp) -> None:
    entry, leverage, quantity = Decimal(60000), 50, Decimal("0.1")
    position = _paper_position(perp, quantity, entry, leverage)
    calm = bars(("60000", "60100", "59200", "59300"), ("59300", "59400", "59100", "59200"))  # 59 100 > 59 095.5

    assert _backtest(perp, quantity, entry, leverage, calm) is None
    assert _paper(perp, position, calm, datetime(2026, 12, 1, tzinfo=UTC)) is None
    position.refresh_from_db()
    assert position.quantity == quantity
