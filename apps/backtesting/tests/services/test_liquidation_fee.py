"""A backtest liquidates with the fee of the venue its data comes from, the one paper trading charges there."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from apps.backtesting.services import BacktestSettings, engine_config
from apps.exchanges.models import Symbol
from apps.exchanges.tests.factories import ExchangeFactory, SymbolFactory
from apps.orders.services.liquidation import liquidation_fee_rate

pytestmark = pytest.mark.django_db


def _settings(symbol: Symbol | None = None, market: str | None = None) -> BacktestSettings:
    return BacktestSettings(
        strategy="sma_cross",
        params={},
        timeframe="1h",
        initial_capital=Decimal(10_000),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0005"),
        slippage_bps=Decimal(0),
        fill_mode="next_open",
        symbol=symbol,
        market=market,
        leverage=10,
    )


@pytest.mark.parametrize("venue", ["BINANCE", "SIM"])
def test_a_backtest_on_a_venues_perpetual_uses_that_venues_liquidation_fee(venue: str) -> None:
    perp = SymbolFactory(exchange=ExchangeFactory(code=venue), symbol="BTC/USDT:USDT")

    assert engine_config(_settings(perp)).liquidation_fee == liquidation_fee_rate(venue)
    assert liquidation_fee_rate("BINANCE") == Decimal("0.0125") and liquidation_fee_rate("SIM") == Decimal("0.005")


def test_the_setting_changes_it_for_backtests_and_paper_alike() -> None:
    perp = SymbolFactory(exchange=ExchangeFactory(code="SIM"), symbol="BTC/USDT:USDT")
    with override_settings(LIQUIDATION_FEE_RATES={"SIM": Decimal("0.002")}):
        assert engine_config(_settings(perp)).liquidation_fee == Decimal("0.002")
