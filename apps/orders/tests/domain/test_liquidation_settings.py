"""The liquidation settings: bad values are one clear error naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from apps.orders.domain.liquidation_settings import (
    DEFAULT_LIQUIDATION_FEE_RATES,
    LiquidationSettingError,
    checked_liquidation_fee_rates,
    checked_margin_call_percent,
    liquidation_fee_rates_from_items,
)

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("value", ["0", "100", "-1", "100.5", "abc", "NaN"])
def test_a_margin_call_threshold_outside_0_to_100_percent_names_the_setting(value: str) -> None:
    with pytest.raises(LiquidationSettingError, match="MARGIN_CALL_PERCENT"):
        checked_margin_call_percent(value)


def test_a_margin_call_threshold_inside_0_to_100_percent_is_taken() -> None:
    assert checked_margin_call_percent("80") == Decimal(80)
    assert checked_margin_call_percent("99.5") == Decimal("99.5")


def test_a_liquidation_fee_below_zero_names_the_setting_and_the_venue() -> None:
    with pytest.raises(LiquidationSettingError, match=r"LIQUIDATION_FEE_RATES\[SIM\] cannot be below zero"):
        checked_liquidation_fee_rates({"SIM": "-0.001"})
    with pytest.raises(LiquidationSettingError, match=r"LIQUIDATION_FEE_RATES\[BINANCE\] is a fraction"):
        checked_liquidation_fee_rates({"BINANCE": "1.25"})  # 1.25 meant as a percentage


def test_overrides_are_venue_equals_rate_over_the_defaults() -> None:
    rates = liquidation_fee_rates_from_items(["sim=0.004"])
    assert rates["SIM"] == Decimal("0.004") and rates["BINANCE"] == DEFAULT_LIQUIDATION_FEE_RATES["BINANCE"]
    with pytest.raises(LiquidationSettingError, match="is not VENUE=RATE"):
        liquidation_fee_rates_from_items(["0.004"])


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("MARGIN_CALL_PERCENT", "120", "MARGIN_CALL_PERCENT must be a percentage strictly between 0 and 100"),
        ("LIQUIDATION_FEE_RATES", "SIM=-0.01", "LIQUIDATION_FEE_RATES[SIM] cannot be below zero"),
    ],
)
def test_a_bad_value_in_the_environment_stops_the_platform_with_the_settings_name(variable: str, value: str, words: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "trading_platform.settings.test", variable: value}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    assert words in result.stderr
