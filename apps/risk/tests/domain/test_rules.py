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


# Maintenance margin at open ------------------------------------------------------------------

from apps.risk.domain.rules import ResultingMargin, position_after_fill  # noqa: E402


def _resulting(quantity: str, entry: str, margin: str, mark: str) -> ResultingMargin:
    return ResultingMargin("BTC/USDT:USDT", Decimal(quantity), Decimal(entry), Decimal(margin), Decimal(mark), Decimal("0.005"))


def test_an_order_leaving_a_position_beyond_its_maintenance_margin_is_refused_in_words() -> None:
    beyond = replace(BASE, resulting_margin=_resulting("1", "50000", "100", "49950"))  # 249.75 maintenance vs 50 margin balance

    verdict = check_pre_trade(beyond, [])

    assert not verdict.allowed and verdict.rule == "maintenance_margin"
    assert "would leave the BTC/USDT:USDT long beyond its maintenance margin" in verdict.message
    assert "margin ratio would be 499.5 %" in verdict.message and "liquidated at 100 %" in verdict.message


def test_a_position_that_opens_within_its_maintenance_margin_passes() -> None:
    assert check_pre_trade(replace(BASE, resulting_margin=_resulting("1", "50000", "400", "50000")), []).allowed  # 125x: 62.5 %


def test_a_reducing_order_is_never_refused_for_maintenance_margin() -> None:
    reducing = replace(BASE, increases_exposure=False, resulting_margin=_resulting("1", "50000", "1", "40000"))
    assert check_pre_trade(reducing, []).allowed


@pytest.mark.parametrize(
    ("held", "fill", "expected"),
    [
        (("0", "0", "0"), ("1", "100"), ("1", "100", "10")),  # open
        (("1", "100", "10"), ("1", "120"), ("2", "110", "22")),  # add: average entry, more margin
        (("2", "110", "22"), ("-1", "90"), ("1", "110", "11")),  # reduce: entry kept, margin pro rata
        (("1", "110", "11"), ("-3", "90"), ("-2", "90", "18")),  # flip: the new side at the fill price, its own margin
        (("1", "110", "11"), ("-1", "90"), ("0", "0", "0")),  # close
    ],
    ids=["open", "add", "reduce", "flip", "close"],
)
def test_the_position_after_a_fill_is_settled_as_the_ledger_does(held: tuple[str, str, str], fill: tuple[str, str], expected: tuple[str, str, str]) -> None:
    quantity, entry, margin = (Decimal(v) for v in held)
    signed, price = (Decimal(v) for v in fill)
    after = position_after_fill(quantity=quantity, entry_price=entry, margin=margin, signed_quantity=signed, price=price, leverage=10)
    assert after == tuple(Decimal(v) for v in expected)
