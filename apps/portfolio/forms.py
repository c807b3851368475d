"""The paper account form (the Orders and Positions pages both offer it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from apps.core.domain.formatting import rate_percent
from apps.exchanges.domain.fee_tiers import venue_fee_tiers


def _percent(rate: Decimal) -> str:
    return rate_percent(rate)


def fee_tier_choices() -> list[tuple[str, str]]:
    """ "CODE:tier" for every venue's tiers, labelled with their spot and perpetual maker / taker rates."""
    choices = [("", "The exchange's first tier")]
    for code in ("SIM", "BINANCE", "BYBIT", "OKX"):
        for tier in venue_fee_tiers(code):
            label = (
                f"{code} {tier.name}: spot {_percent(tier.spot_maker)} / {_percent(tier.spot_taker)}, "
                f"perpetuals {_percent(tier.perp_maker)} / {_percent(tier.perp_taker)} (maker / taker)"
            )
            choices.append((f"{code}:{tier.name}", label))
    return choices


class PaperAccountForm(forms.Form):
    exchange = forms.ChoiceField(choices=[("SIM", "Simulated exchange (offline)"), ("BINANCE", "Binance"), ("BYBIT", "Bybit"), ("OKX", "OKX")], initial="SIM")
    starting_usdt = forms.DecimalField(
        max_digits=20, decimal_places=8, min_value=Decimal("1"), max_value=Decimal("1000000000"), initial=Decimal("10000"), label="Starting USDT"
    )
    fee_tier = forms.ChoiceField(choices=fee_tier_choices, required=False, label="Fee tier", help_text="The fees every simulated fill pays.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        code, _, tier = (data.get("fee_tier") or "").partition(":")
        if tier and code != data.get("exchange"):
            self.add_error("fee_tier", f"That tier is {code}'s; choose one of {data.get('exchange')}'s.")
        data["fee_tier"] = tier
        return data
