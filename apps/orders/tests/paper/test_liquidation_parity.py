"""One rule for paper trading and backtests: the same bars liquidate a paper position and the
backtest's pure domain functions at the same fill, fee and equity.

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

from apps.exchanges.domain.types import Ticker
from apps.exchanges.models import Symbol
from apps.market.services.demo import sim_symbols_prepare
from apps.orders.models import Fill
from apps.orders.services.paper import PaperMatcher
from apps.orders.tests.factories import TradingAccountFactory
from apps.portfolio.domain.liquidation import Liquidation, liquidate, liquidation_reached
from apps.portfolio.domain.margin import initial_margin, isolated_liquidation_price
from apps.portfolio.models import Balance, Position

pytestmark = pytest.mark.django_db
MMR = Decimal("0.005")
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


def _backtest(perp: Symbol, quantity: Decimal, entry: Decimal, leverage: int, series: list[Bar]) -> tuple[int, Liquidation] | None:
    """What the backtest engine does with the domain functions: on each bar, the adverse extreme against the
    liquidation price (on the symbol's tick, towards the entry), filled at it or at the open beyond it."""
    margin = initial_margin(abs(quantity) * entry, leverage)
    exact = isolated_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=MMR, isolated_margin=margin)
    assert exact is not None
    price = perp.round_price(exact, "up" if quantity > 0 else "down")
    for index, bar in enumerate(series):
        adverse = bar.low if quantity > 0 else bar.high
        if liquidation_reached(quantity=quantity, liquidation_price=price, adverse_price=adverse):
            return index, liquidate(
                quantity=quantity,
                entry_price=entry,
                liquidation_price=price,
                reference_price=bar.open,
                fee_rate=SIM_LIQUIDATION_FEE,
                isolated=True,
                margin=margin,
            )
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


def _assert_same(perp: Symbol, position: Position, expected: Liquidation) -> None:
    fill = Fill.objects.get(account_id=position.account_id, liquidity="LIQUIDATION")
    assert fill.price == expected.price
    assert fill.fee == expected.fee
    assert fill.quantity == abs(expected.quantity)
    assert fill.realized_pnl - fill.fee == expected.wallet_change
    equity = Balance.objects.get(account_id=position.account_id, asset="USDT").total
    assert equity == WALLET + expected.wallet_change  # flat after the liquidation: equity is the wallet


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
    bar_index, expected = backtest
    assert paper_bar == bar_index == len(series) - 1
    assert expected.price == perp.round_price(expected.price)  # on the tick
    _assert_same(perp, position, expected)


def test_a_bar_that_opens_beyond_the_liquidation_price_fills_both_at_its_open(perp) -> None:
    entry, leverage, quantity = Decimal(60000), 50, Decimal("0.1")
    position = _paper_position(perp, quantity, entry, leverage)
    gap = bars(("58000", "58200", "57800", "58100"))

    backtest = _backtest(perp, quantity, entry, leverage, gap)
    paper_bar = _paper(perp, position, gap, datetime(2026, 12, 1, tzinfo=UTC))

    assert backtest is not None and paper_bar == backtest[0] == 0
    assert backtest[1].price == Decimal(58000)
    _assert_same(perp, position, backtest[1])


def test_bars_that_stay_short_of_the_liquidation_price_liquidate_neither(perp) -> None:
    entry, leverage, quantity = Decimal(60000), 50, Decimal("0.1")
    position = _paper_position(perp, quantity, entry, leverage)
    calm = bars(("60000", "60100", "59200", "59300"), ("59300", "59400", "59100", "59200"))  # 59 100 > 59 095.5

    assert _backtest(perp, quantity, entry, leverage, calm) is None
    assert _paper(perp, position, calm, datetime(2026, 12, 1, tzinfo=UTC)) is None
    position.refresh_from_db()
    assert position.quantity == quantity
