"""Margin, liquidation price and margin ratio against hand-computed numbers and their defining equation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.portfolio.domain.margin import (
    cross_available_margin,
    cross_liquidation_price,
    initial_margin,
    is_liquidatable,
    isolated_liquidation_price,
    liquidation_price,
    maintenance_margin,
    margin_ratio,
)

D = Decimal
CENT = D("0.01")
MMR = D("0.005")


def cents(price: Decimal | None) -> Decimal | None:
    return None if price is None else price.quantize(CENT)


def test_initial_and_maintenance_margin() -> None:
    assert initial_margin(D("50000"), 10) == D("5000")
    assert initial_margin(D("-50000"), D("2.5")) == D("20000")  # notional of a short is its size
    assert maintenance_margin(D("50000"), MMR) == D("250")
    with pytest.raises(ValueError):
        initial_margin(D("1"), 0)
    with pytest.raises(ValueError):
        maintenance_margin(D("1"), D("1"))


# Isolated ---------------------------------------------------------------------------------

# long:  P = E (1 - 1/L) / (1 - mmr)      short: P = E (1 + 1/L) / (1 + mmr)
ISOLATED = [
    pytest.param("1", 10, "0.005", "45226.13", id="10x-long"),  # 45000 / 0.995
    pytest.param("-1", 10, "0.005", "54726.37", id="10x-short"),  # 55000 / 1.005
    pytest.param("2.5", 10, "0.005", "45226.13", id="10x-long-size-does-not-matter"),
    pytest.param("1", 10, "0", "45000.00", id="10x-long-no-maintenance"),
    pytest.param("-1", 10, "0", "55000.00", id="10x-short-no-maintenance"),
    pytest.param("1", 100, "0.005", "49748.74", id="100x-long"),  # 49500 / 0.995
    pytest.param("-1", 100, "0.005", "50248.76", id="100x-short"),  # 50500 / 1.005
    pytest.param("-1", 1, "0.005", "99502.49", id="1x-short"),  # 100000 / 1.005
    pytest.param("1", 1, "0.005", None, id="1x-long-cannot-be-liquidated"),
]


@pytest.mark.parametrize(("quantity", "leverage", "mmr", "expected"), ISOLATED)
def test_isolated_liquidation_price_by_leverage(quantity: str, leverage: int, mmr: str, expected: str | None) -> None:
    price = isolated_liquidation_price(quantity=D(quantity), entry_price=D("50000"), maintenance_margin_rate=D(mmr), leverage=leverage)
    assert cents(price) == (None if expected is None else D(expected))


def test_isolated_liquidation_by_posted_margin_matches_leverage_and_added_margin_moves_it_away() -> None:
    by_margin = isolated_liquidation_price(quantity=D(1), entry_price=D(50000), maintenance_margin_rate=MMR, isolated_margin=D(5000))
    assert cents(by_margin) == D("45226.13")
    topped_up = isolated_liquidation_price(quantity=D(1), entry_price=D(50000), maintenance_margin_rate=MMR, isolated_margin=D(7500))
    assert cents(topped_up) == D("42713.57")  # 42500 / 0.995
    assert topped_up is not None and by_margin is not None and topped_up < by_margin


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({}, id="neither-leverage-nor-margin"),
        pytest.param({"leverage": 10, "isolated_margin": D(1)}, id="both"),
        pytest.param({"isolated_margin": D(-1)}, id="negative-margin"),
        pytest.param({"leverage": 0}, id="zero-leverage"),
    ],
)
def test_isolated_liquidation_needs_one_sensible_margin_source(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        isolated_liquidation_price(quantity=D(1), entry_price=D(50000), maintenance_margin_rate=MMR, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("quantity", "margin", "expected"),
    [
        pytest.param("0", "100", None, id="flat"),
        pytest.param("1", "50000", None, id="long-fully-covered"),
        pytest.param("1", "80000", None, id="long-over-covered"),
        pytest.param("-1", "-60000", "0", id="short-under-water-at-any-price"),
    ],
)
def test_when_no_price_liquidates_or_every_price_does(quantity: str, margin: str, expected: str | None) -> None:
    price = liquidation_price(quantity=D(quantity), entry_price=D(50000), margin=D(margin), maintenance_margin_rate=MMR)
    assert price == (None if expected is None else D(expected))


def test_liquidation_price_refuses_a_rate_outside_zero_to_one_and_a_nonpositive_entry() -> None:
    for rate in (D("-0.01"), D("1")):
        with pytest.raises(ValueError):
            liquidation_price(quantity=D(1), entry_price=D(1), margin=D(0), maintenance_margin_rate=rate)
    with pytest.raises(ValueError):
        liquidation_price(quantity=D(1), entry_price=D(0), margin=D(0), maintenance_margin_rate=MMR)


# Cross ------------------------------------------------------------------------------------

CROSS = [
    # wallet 10 000 = the 5 000 a 10x position would post + 5 000 extra
    pytest.param("1", "10000", "0", "0", "40201.01", "45226.13", id="long-with-extra-balance"),  # 40000 / 0.995
    pytest.param("-1", "10000", "0", "0", "59701.49", "54726.37", id="short-with-extra-balance"),  # 60000 / 1.005
    # other positions: -1000 of P&L and 250 of maintenance margin leave 8 750
    pytest.param("1", "10000", "-1000", "250", "41457.29", "45226.13", id="long-with-other-positions"),  # 41250 / 0.995
    pytest.param("-1", "10000", "-1000", "250", "58457.71", "54726.37", id="short-with-other-positions"),  # 58750 / 1.005
]


@pytest.mark.parametrize(("quantity", "wallet", "other_pnl", "other_mm", "expected", "isolated_10x"), CROSS)
def test_cross_liquidation_with_extra_balance_is_further_away_than_isolated(
    quantity: str, wallet: str, other_pnl: str, other_mm: str, expected: str, isolated_10x: str
) -> None:
    price = cross_liquidation_price(
        quantity=D(quantity),
        entry_price=D(50000),
        maintenance_margin_rate=MMR,
        wallet_balance=D(wallet),
        other_unrealized_pnl=D(other_pnl),
        other_maintenance_margin=D(other_mm),
    )
    assert cents(price) == D(expected)
    assert price is not None
    entry = D(50000)
    assert abs(price - entry) > abs(D(isolated_10x) - entry)


def test_a_cross_long_whose_wallet_covers_the_whole_notional_cannot_be_liquidated() -> None:
    assert cross_liquidation_price(quantity=D(1), entry_price=D(50000), maintenance_margin_rate=MMR, wallet_balance=D(60000)) is None


def test_cross_available_margin() -> None:
    assert cross_available_margin(wallet_balance=D(10000), other_unrealized_pnl=D(300), other_maintenance_margin=D(50)) == D(10250)


# Margin ratio -----------------------------------------------------------------------------

RATIOS = [
    pytest.param("250", "5000", "0.05", False, id="healthy"),
    pytest.param("250", "250", "1", True, id="at-liquidation"),
    pytest.param("250", "200", "1.25", True, id="past-liquidation"),
    pytest.param("0", "5000", "0", False, id="nothing-at-risk"),
    pytest.param("0", "-5", "0", False, id="nothing-at-risk-negative-balance"),
    pytest.param("250", "0", "Infinity", True, id="no-balance-left"),
    pytest.param("250", "-100", "Infinity", True, id="negative-balance"),
]


@pytest.mark.parametrize(("maintenance", "balance", "ratio", "liquidatable"), RATIOS)
def test_margin_ratio(maintenance: str, balance: str, ratio: str, liquidatable: bool) -> None:
    assert margin_ratio(D(maintenance), D(balance)) == D(ratio)
    assert is_liquidatable(D(maintenance), D(balance)) is liquidatable


# Properties -------------------------------------------------------------------------------

entries = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2)
sizes = st.decimals(min_value=D("0.001"), max_value=D("10000"), places=3)
leverages = st.integers(min_value=1, max_value=125)
rates = st.decimals(min_value=D("0"), max_value=D("0.1"), places=4)
directions = st.sampled_from([1, -1])


def equation_gap(quantity: Decimal, entry: Decimal, margin: Decimal, mmr: Decimal, price: Decimal) -> Decimal:
    """margin + unrealised P&L - maintenance margin, at `price`."""
    return margin + (price - entry) * quantity - abs(quantity) * price * mmr


@given(entries, sizes, leverages, rates, directions)
def test_isolated_liquidation_is_on_the_losing_side_and_solves_the_equation(entry: Decimal, size: Decimal, leverage: int, mmr: Decimal, direction: int) -> None:
    assume(mmr * leverage < 1)  # venues cap leverage so the initial margin covers maintenance at entry
    quantity = size * direction
    price = isolated_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=mmr, leverage=leverage)
    if direction > 0 and leverage == 1:
        assert price is None
        return
    assert price is not None
    if direction > 0:
        assert 0 < price < entry
    else:
        assert price > entry
    margin = initial_margin(size * entry, leverage)
    assert abs(equation_gap(quantity, entry, margin, mmr, price)) <= size * entry * D("1e-20")


@given(
    entries,
    sizes,
    rates,
    directions,
    st.decimals(min_value=D("0"), max_value=D("1e7"), places=2),
    st.decimals(min_value=D("0.01"), max_value=D("1e6"), places=2),
)
def test_more_cross_balance_moves_liquidation_further_away(
    entry: Decimal, size: Decimal, mmr: Decimal, direction: int, wallet: Decimal, extra: Decimal
) -> None:
    quantity = size * direction
    here = cross_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=mmr, wallet_balance=wallet)
    further = cross_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=mmr, wallet_balance=wallet + extra)
    if direction > 0:
        assert here is None or further is None or further < here
        assert not (here is None and further is not None)
    else:
        assert here is not None and further is not None and further > here
    if here is not None and here > 0:
        assert abs(equation_gap(quantity, entry, wallet, mmr, here)) <= (size * entry + wallet) * D("1e-20")
