import json
from dataclasses import dataclass

import numpy as np
import pytest

from apps.backtesting.domain.engine import BacktestConfig, run_backtest
from apps.strategies.domain.base import (
    SafeStrategy,
    Strategy,
    StrategyError,
    StrategyParameterError,
    StrategyParams,
    UnknownStrategy,
    param,
)
from apps.strategies.domain.builtin.sma_cross import SmaCross, SmaCrossParams
from apps.strategies.domain.registry import create_strategy, get_strategy, list_strategies, register
from apps.strategies.tests.bars import bars, random_walk

BUILTINS = ["dca", "grid", "mean_reversion", "momentum", "sma_cross"]


def test_every_builtin_is_registered_with_a_description_and_a_schema():
    listed = list_strategies()
    assert [s["name"] for s in listed] == BUILTINS
    for entry in listed:
        assert entry["description"]
        schema = entry["schema"]
        assert schema["type"] == "object" and schema["properties"]
        for name, prop in schema["properties"].items():
            assert prop["type"] in {"integer", "number", "boolean", "string"}, name
            assert prop["description"], name
            assert "default" in prop
        # defaults are valid parameters
        get_strategy(entry["name"])()


def test_the_schema_describes_types_defaults_ranges_and_choices():
    props = SmaCrossParams.json_schema()["properties"]
    assert props["fast"] == {"type": "integer", "default": 10, "description": props["fast"]["description"], "minimum": 1, "maximum": 1000}
    assert props["fraction"]["exclusiveMinimum"] == 0 and props["fraction"]["maximum"] == 10
    assert props["mode"]["enum"] == ["long_only", "long_short"]
    json.dumps(list_strategies())  # JSON-safe for the API


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"fast": 30, "slow": 10}, "fast", "shorter than slow"),
        ({"fast": 0}, "fast", "at least 1"),
        ({"fast": 2.5}, "fast", "integer"),
        ({"fast": True}, "fast", "integer"),
        ({"fraction": 0}, "fraction", "greater than 0"),
        ({"fraction": "1"}, "fraction", "number"),
        ({"fraction": float("nan")}, "fraction", "finite"),
        ({"mode": "short_only"}, "mode", "one of"),
        ({"colour": "red"}, "colour", "unknown"),
    ],
)
def test_invalid_parameters_raise_with_the_field_and_a_message(params, field, words):
    with pytest.raises(StrategyParameterError) as error:
        SmaCross(params)
    assert error.value.field == field
    assert words in error.value.message
    assert error.value.extra == {"fields": {field: [error.value.message]}}


def test_relations_of_the_other_builtins_are_checked():
    with pytest.raises(StrategyParameterError, match="upper"):
        create_strategy("grid", {"lower": 100, "upper": 90})
    with pytest.raises(StrategyParameterError, match="oversold"):
        create_strategy("mean_reversion", {"oversold": 50, "overbought": 50})
    with pytest.raises(StrategyParameterError, match="step_percent"):
        create_strategy("dca", {"step_percent": 25, "max_safety_orders": 4})


def test_ints_are_accepted_for_float_parameters_and_params_round_trip_through_dicts():
    strategy = SmaCross({"fraction": 1})
    assert strategy.params.fraction == 1.0 and isinstance(strategy.params.fraction, float)
    assert SmaCross(strategy.params.to_dict()).params == strategy.params


def test_unknown_strategy_names_raise():
    with pytest.raises(UnknownStrategy):
        get_strategy("nope")


def test_register_refuses_a_second_class_under_a_taken_name():
    class Impostor(Strategy):
        name = "sma_cross"
        description = "another"

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)


@dataclass(frozen=True)
class BoomParams(StrategyParams):
    at: int = param(3, minimum=0, description="bar at which to fail")


class Boom(Strategy):
    name = "boom"
    description = "fails on purpose"
    Params = BoomParams

    def on_bar(self, ctx, bar):
        if bar.index == self.params.at:
            raise ZeroDivisionError("division by zero")


def test_the_safe_wrapper_turns_exceptions_into_strategy_errors():
    with pytest.raises(StrategyError) as error:
        run_backtest(Boom(), bars([1, 2, 3, 4, 5]), BacktestConfig())
    assert error.value.strategy == "boom" and error.value.hook == "on_bar"
    assert "ZeroDivisionError: division by zero" in error.value.message
    assert isinstance(error.value.__cause__, ZeroDivisionError)


def test_the_safe_wrapper_checks_what_prepare_signals_and_get_state_return():
    class BadPrepare(Strategy):
        name = "bad"
        description = "bad"

        def prepare(self, data):
            return {"x": np.zeros(2)}

    with pytest.raises(StrategyError, match="shape"):
        SafeStrategy(BadPrepare()).prepare(bars([1, 2, 3]))

    class BadState(Strategy):
        name = "bad_state"
        description = "bad"

    strategy = BadState()
    strategy.state["when"] = object()
    with pytest.raises(StrategyError) as error:
        SafeStrategy(strategy).get_state()
    assert error.value.hook == "get_state"


@pytest.mark.parametrize("name", BUILTINS)
def test_state_survives_a_json_round_trip_and_restarts_change_nothing(name):
    params = {"grid": {"lower": 90, "upper": 110, "levels": 9, "quantity": 1}, "dca": {"interval": 10, "trigger": "periodic"}}.get(name, {})
    data = random_walk(400, seed=3)
    config = BacktestConfig(mode="slow")
    straight = run_backtest(create_strategy(name, params), data, config)
    state = straight.strategy_state
    assert json.loads(json.dumps(state)) == state
    fresh = create_strategy(name, params)
    fresh.set_state(json.loads(json.dumps(state)))
    assert fresh.get_state() == state
    restarted = run_backtest(create_strategy(name, params), data, BacktestConfig(mode="slow", restore_state_every=7))
    assert restarted.trades == straight.trades
    assert restarted.fills == straight.fills
    assert restarted.log == straight.log
