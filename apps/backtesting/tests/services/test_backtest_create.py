"""backtest_create: everything is checked before anything is written, errors name the field."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.backtesting.models import Backtest, RunStatus
from apps.backtesting.services import backtest_create
from apps.backtesting.tests.factories import START, seed_candles
from apps.core.errors import ValidationError

pytestmark = pytest.mark.django_db


def _create(trader, symbol, **overrides: Any) -> Backtest:
    arguments: dict[str, Any] = {
        "actor": trader,
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 30, "mode": "long_only"},
        "symbol": symbol,
        "timeframe": "1m",
        "start": START,
        "end": START + timedelta(hours=10),
    }
    return backtest_create(**{**arguments, **overrides})


def _refused(trader, symbol, **overrides: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _create(trader, symbol, **overrides)
    assert not Backtest.objects.exists()
    assert not AuditEvent.objects.filter(action="backtest.created").exists()
    return caught.value


def test_a_valid_backtest_is_stored_queued_with_the_defaults_filled_in_and_handed_to_a_worker_after_commit(
    trader, symbol, django_capture_on_commit_callbacks
) -> None:
    seed_candles(symbol)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        backtest = _create(trader, symbol, initial_capital=Decimal("5000"), slippage_bps=Decimal("2.5"), name="  my run  ")

    assert backtest.status == RunStatus.QUEUED and backtest.progress == 0 and backtest.owner == trader
    assert backtest.params == {"fast": 10, "slow": 30, "mode": "long_only", "sizing": "fraction", "fraction": 0.95, "quantity": 1.0}
    assert (backtest.initial_capital, backtest.slippage_bps, backtest.name) == (Decimal("5000"), Decimal("2.5"), "my run")
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="backtest.created").count() == 1


def test_an_unknown_strategy_is_refused_on_the_strategy_field(trader, symbol) -> None:
    seed_candles(symbol)

    error = _refused(trader, symbol, strategy="moon_shot")

    assert "moon_shot" in error.message and "sma_cross" in error.message
    assert list(error.extra["fields"]) == ["strategy"]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"fast": 0}, "fast", "at least 1"),
        ({"slow": 6000}, "slow", "at most 5000"),
        ({"fast": 40, "slow": 30}, "fast", "shorter than slow"),
        ({"fast": 1.5}, "fast", "integer"),
        ({"mode": "sideways"}, "mode", "long_only"),
        ({"speed": 3}, "speed", "unknown parameter"),
    ],
)
def test_parameters_out_of_range_are_refused_naming_the_parameter(trader, symbol, params, field, words) -> None:
    seed_candles(symbol)

    error = _refused(trader, symbol, params=params)

    assert error.message.startswith(f"{field}: ") and words in error.message
    assert field in error.extra["fields"]


def test_a_start_that_is_not_before_the_end_is_refused_on_the_start_field(trader, symbol) -> None:
    seed_candles(symbol)

    error = _refused(trader, symbol, start=START + timedelta(hours=10), end=START)

    assert "is not before the end" in error.message and "start" in error.extra["fields"]


@pytest.mark.parametrize("hours", [0.5, 100])
def test_too_little_stored_data_is_refused_saying_how_many_candles_there_are(trader, symbol, hours) -> None:
    seed_candles(symbol, count=600)
    start = START if hours < 1 else START + timedelta(hours=9, minutes=40)  # 30 candles, or the last 20

    error = _refused(trader, symbol, start=start, end=start + timedelta(hours=hours))

    assert error.code == "not_enough_data"
    assert "a backtest needs at least 50" in error.message and "start" in error.extra["fields"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timeframe": "2m"}, "timeframe"),
        ({"initial_capital": Decimal("0")}, "initial_capital"),
        ({"taker_fee": Decimal("0.2")}, "taker_fee"),
        ({"slippage_bps": Decimal("-1")}, "slippage_bps"),
        ({"fill_mode": "whenever"}, "fill_mode"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(trader, symbol, overrides, field) -> None:
    seed_candles(symbol)

    error = _refused(trader, symbol, **overrides)

    assert list(error.extra["fields"]) == [field]
