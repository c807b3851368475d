"""The order lifecycle: exactly the transitions in the table, and nothing else."""

from __future__ import annotations

import itertools

import pytest

from apps.core.errors import ConflictError
from apps.orders.domain.model import OrderStatus
from apps.orders.domain.state_machine import (
    ALLOWED_TRANSITIONS,
    ORDER_STATUS_VALUES,
    TERMINAL_STATUSES,
    InvalidOrderTransition,
    can_transition,
    next_statuses,
    transition,
)

S = OrderStatus
ALL_PAIRS = list(itertools.product(OrderStatus, OrderStatus))
INVALID_PAIRS = [pair for pair in ALL_PAIRS if pair not in ALLOWED_TRANSITIONS]


def pair_id(pair: tuple[OrderStatus, OrderStatus]) -> str:
    return f"{pair[0]}->{pair[1]}"


EXPECTED = {
    (S.NEW, S.OPEN),
    (S.NEW, S.PARTIALLY_FILLED),
    (S.NEW, S.FILLED),
    (S.NEW, S.REJECTED),
    (S.NEW, S.CANCELED),
    (S.NEW, S.EXPIRED),
    (S.OPEN, S.PARTIALLY_FILLED),
    (S.OPEN, S.FILLED),
    (S.OPEN, S.CANCELED),
    (S.OPEN, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
}


def test_the_table_is_exactly_the_documented_lifecycle() -> None:
    assert set(ALLOWED_TRANSITIONS) == EXPECTED


@pytest.mark.parametrize("pair", sorted(ALLOWED_TRANSITIONS), ids=pair_id)
def test_every_allowed_transition_returns_the_target(pair: tuple[OrderStatus, OrderStatus]) -> None:
    current, target = pair
    assert transition(current, target) is target
    assert can_transition(current, target)


@pytest.mark.parametrize("pair", INVALID_PAIRS, ids=pair_id)
def test_every_other_transition_raises(pair: tuple[OrderStatus, OrderStatus]) -> None:
    current, target = pair
    with pytest.raises(InvalidOrderTransition) as raised:
        transition(current, target)
    assert (raised.value.current, raised.value.target) == (current, target)
    assert not can_transition(current, target)


def test_the_error_says_which_move_was_refused_and_is_a_conflict() -> None:
    with pytest.raises(InvalidOrderTransition) as raised:
        transition(S.FILLED, S.CANCELED)
    error = raised.value
    assert isinstance(error, ConflictError)
    assert error.code == "invalid_order_transition"
    assert error.message == "An order cannot go from FILLED to CANCELED."
    assert error.extra == {"current": "FILLED", "target": "CANCELED"}


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES), ids=str)
def test_terminal_statuses_have_no_way_out(status: OrderStatus) -> None:
    assert next_statuses(status) == frozenset()


def test_terminal_statuses_are_the_models_terminal_statuses() -> None:
    assert {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED} == TERMINAL_STATUSES


@pytest.mark.parametrize("status", [s for s in OrderStatus if not s.is_terminal], ids=str)
def test_every_live_status_can_still_be_filled_canceled_or_expired(status: OrderStatus) -> None:
    assert {S.FILLED, S.CANCELED, S.EXPIRED} <= next_statuses(status)


def test_only_a_new_order_can_be_rejected() -> None:
    assert {current for current, target in ALLOWED_TRANSITIONS if target is S.REJECTED} == {S.NEW}


def test_nothing_goes_back_to_new_and_only_partial_fills_repeat() -> None:
    assert all(target is not S.NEW for _, target in ALLOWED_TRANSITIONS)
    assert {current for current, target in ALLOWED_TRANSITIONS if current is target} == {S.PARTIALLY_FILLED}


def test_an_ioc_market_order_partly_filled_then_expired_is_a_valid_path() -> None:
    status = S.NEW
    for target in (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, S.EXPIRED):
        status = transition(status, target)
    assert status is S.EXPIRED


def test_statuses_read_from_the_database_as_strings_are_accepted() -> None:
    assert transition("OPEN", "FILLED") is S.FILLED  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderTransition):
        transition("FILLED", "OPEN")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        transition("OPEN", "DONE")  # type: ignore[arg-type]


def test_the_check_constraint_values_cover_every_status() -> None:
    assert set(ORDER_STATUS_VALUES) == {status.value for status in OrderStatus}
