from dataclasses import replace
from decimal import Decimal

import pytest

from apps.risk.domain.rules import LimitSet, PreTradeContext, check_pre_trade

BASE = PreTradeContext(
    trading_state="active",
    trading_state_reason="",
    order_notional=Decimal("1000"),
    increases_exposure=True,
    resulting_position_notional=Decimal("1000"),
    opens_new_position=True,
    open_positions=0,
    leverage=1,
    realized_loss_today=Decimal("0"),
)
LIMITS = LimitSet(
    name="Your limits",
    max_order_notional=Decimal("5000"),
    max_position_notional=Decimal("20000"),
    max_leverage=10,
    max_open_positions=3,
    max_daily_loss=Decimal("500"),
)


@pytest.mark.parametrize(
    ("change", "rule", "words"),
    [
        ({"order_notional": Decimal("5000.01")}, "max_order_notional", "order value 5,000.01 is above the limit of 5,000.00"),
        ({"resulting_position_notional": Decimal("25000")}, "max_position_notional", "position would be worth 25,000.00"),
        ({"leverage": 20}, "max_leverage", "leverage 20x is above the limit of 10x"),
        ({"open_positions": 3}, "max_open_positions", "3 positions are open, the limit is 3"),
        ({"realized_loss_today": Decimal("500")}, "max_daily_loss", "daily limit 500.00"),
        ({"trading_state": "halted", "trading_state_reason": "daily loss"}, "halted", "Trading is halted on this account (daily loss)"),
        ({"trading_state": "reduce_only"}, "reduce_only", "only orders that shrink a position"),
    ],
    ids=["order-notional", "position-notional", "leverage", "open-positions", "daily-loss", "halted", "reduce-only"],
)
def test_each_limit_refuses_with_a_reason_in_words(change: dict, rule: str, words: str) -> None:
    verdict = check_pre_trade(replace(BASE, **change), [LIMITS])

    assert not verdict.allowed
    assert verdict.rule == rule
    assert words in verdict.message


def test_an_order_within_every_limit_is_allowed() -> None:
    assert check_pre_trade(BASE, [LIMITS]).allowed


@pytest.mark.parametrize("state", ["active", "reduce_only"])
def test_orders_that_only_reduce_exposure_pass_every_limit(state: str) -> None:
    reducing = replace(BASE, trading_state=state, increases_exposure=False, order_notional=Decimal("1e9"), leverage=125, realized_loss_today=Decimal("1e6"))
    assert check_pre_trade(reducing, [LIMITS]).allowed


def test_halted_blocks_even_reducing_orders() -> None:
    assert not check_pre_trade(replace(BASE, trading_state="halted", increases_exposure=False), [LIMITS]).allowed


def test_a_new_position_at_the_cap_is_refused_but_adding_to_an_open_one_is_not() -> None:
    at_cap = replace(BASE, open_positions=3)
    assert not check_pre_trade(at_cap, [LIMITS]).allowed
    assert check_pre_trade(replace(at_cap, opens_new_position=False), [LIMITS]).allowed


def test_every_limit_set_applies_and_the_first_refusal_is_named() -> None:
    bot = LimitSet(name="Bot 'grid-1'", max_order_notional=Decimal("100"))
    verdict = check_pre_trade(BASE, [LIMITS, bot])

    assert not verdict.allowed
    assert verdict.message.startswith("Bot 'grid-1'")


def test_no_limits_means_no_refusal() -> None:
    huge = replace(BASE, order_notional=Decimal("1e12"), leverage=125, open_positions=1000)
    assert check_pre_trade(huge, [LimitSet(name="none")]).allowed
