"""Each venue's trading-fee tiers, as data: maker and taker rates for spot and for perpetuals.

The rates are the venues' published schedules for their first tiers (fractions of notional:
0.001 is 0.1 %). A paper account pays its tier's rates on every simulated fill, so paper
results on Binance cost what Binance would charge; a live account's fills carry what the venue
actually charged, and its tier only prices previews and holds. Venues revise these tables:
they live here, in one place, to be updated when they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class FeeTier:
    name: str
    spot_maker: Decimal
    spot_taker: Decimal
    perp_maker: Decimal
    perp_taker: Decimal

    def rates(self, *, perpetual: bool) -> tuple[Decimal, Decimal]:
        """(maker, taker) for a spot or a perpetual market."""
        return (self.perp_maker, self.perp_taker) if perpetual else (self.spot_maker, self.spot_taker)


class UnknownFeeTier(LookupError):
    pass


def _tier(name: str, spot_maker: str, spot_taker: str, perp_maker: str, perp_taker: str) -> FeeTier:
    return FeeTier(name, Decimal(spot_maker), Decimal(spot_taker), Decimal(perp_maker), Decimal(perp_taker))


VENUE_FEE_TIERS: dict[str, tuple[FeeTier, ...]] = {
    "BINANCE": (
        _tier("VIP 0", "0.001", "0.001", "0.0002", "0.0005"),
        _tier("VIP 1", "0.0009", "0.001", "0.00016", "0.0004"),
        _tier("VIP 2", "0.0008", "0.001", "0.00014", "0.00035"),
        _tier("VIP 3", "0.00042", "0.0006", "0.00012", "0.00032"),
    ),
    "BYBIT": (
        _tier("VIP 0", "0.001", "0.001", "0.0002", "0.00055"),
        _tier("VIP 1", "0.000675", "0.0008", "0.00018", "0.0004"),
        _tier("VIP 2", "0.00065", "0.000775", "0.00016", "0.000375"),
    ),
    "OKX": (
        _tier("Lv1", "0.0008", "0.001", "0.0002", "0.0005"),
        _tier("Lv2", "0.00075", "0.0009", "0.00018", "0.00045"),
        _tier("Lv3", "0.0007", "0.0008", "0.00016", "0.0004"),
    ),
    "SIM": (
        _tier("Standard", "0.0002", "0.0005", "0.0002", "0.0005"),
        _tier("Market maker", "-0.00005", "0.0003", "-0.00005", "0.0003"),
    ),
}


def venue_fee_tiers(code: str) -> tuple[FeeTier, ...]:
    """The venue's tiers, lowest volume first (the first is what a new account pays)."""
    return VENUE_FEE_TIERS.get(code.upper(), ())


def venue_fee_tier(code: str, name: str) -> FeeTier:
    for tier in venue_fee_tiers(code):
        if tier.name.lower() == name.strip().lower():
            return tier
    known = ", ".join(tier.name for tier in venue_fee_tiers(code)) or "none"
    raise UnknownFeeTier(f"{code} has no fee tier {name!r}; its tiers: {known}.")
