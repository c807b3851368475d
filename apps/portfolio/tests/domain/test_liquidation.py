from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from apps.portfolio.domain.liquidation import (
    check_margin_call,
    liquidate,
    liquidation_fill_price,
    liquidation_reached,
)
from apps.portfolio.domain.margin import (
    initial_margin,
    is_liquidatable,
    isolated_liquidation_price,
    maintenance_margin,
    margin_balance,
)

entries = st.decimals(min_value="1", max_value="100000", places=2)
sizes = st.decimals(min_value="0.001", max_value="100", places=3)
leverages = st.integers(min_value=2, max_value=125)
rates = st.decimals(min_value="0.001", max_value="0.05", places=4)
moves = st.decimals(min_value="-0.99", max_value="0.99", places=4)


@given(entry=entries, size=sizes, leverage=leverages, mmr=rates, move=moves, long=st.booleans())
def test_an_isolated_position_is_liquidated_exactly_when_its_margin_ratio_reaches_100_percent(
    entry: Decimal, size: Decimal, leverage: int, mmr: Decimal, move: Decimal, long: bool
) -> None:
    quantity = size if long else -size
    margin = initial_margin(size * entry, leverage)
    price = entry * (1 + move)
    assume(price > 0)
    liq = isolated_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=mmr, leverage=leverage)
    assume(liq is None or abs(price - liq) > liq * Decimal("1e-12"))

    by_ratio = is_liquidatable(maintenance_margin(size * price, mmr), margin_balance(margin, (price - entry) * quantity))

    assert liquidation_reached(quantity=quantity, liquidation_price=liq, adverse_price=price) == by_ratio


@given(entry=entries, size=sizes, leverage=leverages, mmr=rates, gap=st.decimals(min_value="0", max_value="0.5", places=3), long=st.booleans())
def test_an_isolated_liquidation_never_costs_more_than_the_posted_margin(
    entry: Decimal, size: Decimal, leverage: int, mmr: Decimal, gap: Decimal, long: bool
) -> None:
    assume(Decimal(1) / leverage > mmr)  # a position opened beyond its maintenance margin is refused before trading
    quantity = size if long else -size
    margin = initial_margin(size * entry, leverage)
    liq = isolated_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=mmr, leverage=leverage)
    assert liq is not None
    mark = liq * (1 - gap) if long else liq * (1 + gap)

    result = liquidate(
        quantity=quantity, entry_price=entry, liquidation_price=liq, reference_price=mark, fee_rate=Decimal("0.0125"), isolated=True, margin=margin
    )

    assert result.wallet_change == -margin
    assert 0 <= result.forfeited_margin <= margin


def test_a_long_closes_at_its_liquidation_price_unless_the_mark_gapped_below_it() -> None:
    liq = Decimal("45226.13")

    assert liquidation_fill_price(quantity=Decimal(1), liquidation_price=liq, reference_price=Decimal(45300)) == liq
    assert liquidation_fill_price(quantity=Decimal(1), liquidation_price=liq, reference_price=Decimal(44000)) == Decimal(44000)
    assert liquidation_fill_price(quantity=Decimal(-1), liquidation_price=Decimal(54726), reference_price=Decimal(56000)) == Decimal(56000)


def test_a_10x_isolated_long_loses_its_margin_and_the_venue_keeps_what_is_left_after_the_fee() -> None:
    entry, quantity, mmr = Decimal(50000), Decimal("0.1"), Decimal("0.005")
    liq = isolated_liquidation_price(quantity=quantity, entry_price=entry, maintenance_margin_rate=mmr, leverage=10)
    assert liq is not None

    result = liquidate(
        quantity=quantity, entry_price=entry, liquidation_price=liq, reference_price=liq, fee_rate=Decimal("0.004"), isolated=True, margin=Decimal(500)
    )

    assert result.price == liq
    assert result.fee == quantity * liq * Decimal("0.004")
    assert result.realized_pnl == (liq - entry) * quantity
    assert result.forfeited_margin == Decimal(500) + result.realized_pnl - result.fee > 0
    assert result.wallet_change == Decimal(-500)


def test_a_cross_liquidation_takes_the_loss_and_fee_from_the_wallet_but_never_more_than_it_holds() -> None:
    common = dict(quantity=Decimal(1), entry_price=Decimal(100), liquidation_price=Decimal(80), fee_rate=Decimal("0.01"), isolated=False)

    normal = liquidate(reference_price=Decimal(80), margin=Decimal(1000), **common)
    gapped = liquidate(reference_price=Decimal(10), margin=Decimal(50), **common)

    assert normal.wallet_change == Decimal(-20) - Decimal("0.80")
    assert normal.forfeited_margin == 0
    assert gapped.wallet_change == Decimal(-50)


def test_a_margin_call_warns_once_per_crossing_and_again_after_the_ratio_recovers() -> None:
    readings = [Decimal("0.5"), Decimal("0.85"), Decimal("0.9"), Decimal("0.7"), Decimal("0.95")]
    armed, warnings = True, []
    for ratio in readings:
        check = check_margin_call(ratio=ratio, threshold_percent=Decimal(80), armed=armed)
        armed = check.armed
        warnings.append(check.warn)

    assert warnings == [False, True, False, False, True]


@pytest.mark.parametrize("threshold", [Decimal(0), Decimal(100), Decimal(-5), Decimal(150)])
def test_a_margin_call_threshold_outside_0_to_100_percent_is_refused(threshold: Decimal) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        check_margin_call(ratio=Decimal("0.5"), threshold_percent=threshold, armed=True)


def test_a_negative_liquidation_fee_is_refused() -> None:
    with pytest.raises(ValueError, match="fee rate cannot be negative"):
        liquidate(
            quantity=Decimal(1),
            entry_price=Decimal(100),
            liquidation_price=Decimal(90),
            reference_price=Decimal(90),
            fee_rate=Decimal("-0.01"),
            isolated=True,
            margin=Decimal(10),
        )
