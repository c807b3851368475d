"""The venues' fee tiers, as data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.exchanges.domain.fee_tiers import VENUE_FEE_TIERS, UnknownFeeTier, venue_fee_tier, venue_fee_tiers


def test_every_venue_has_tiers_whose_maker_rates_never_exceed_their_taker_rates() -> None:
    assert set(VENUE_FEE_TIERS) == {"BINANCE", "BYBIT", "OKX", "SIM"}
    for code, tiers in VENUE_FEE_TIERS.items():
        assert tiers, code
        assert len({tier.name for tier in tiers}) == len(tiers), code
        for tier in tiers:
            for perpetual in (False, True):
                maker, taker = tier.rates(perpetual=perpetual)
                assert maker <= taker < Decimal("0.01"), (code, tier.name)


def test_a_tier_is_found_in_any_case_and_an_unknown_one_names_the_venues_tiers() -> None:
    assert venue_fee_tier("binance", " vip 1 ").rates(perpetual=True) == (Decimal("0.00016"), Decimal("0.0004"))
    assert venue_fee_tiers("OKX")[0].name == "Lv1"
    with pytest.raises(UnknownFeeTier, match=r"BYBIT has no fee tier 'Lv1'; its tiers: VIP 0, VIP 1, VIP 2\."):
        venue_fee_tier("BYBIT", "Lv1")
