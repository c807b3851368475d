"""When a perpetual position is liquidated, at what price, and what it costs: one rule for paper trading and backtests.

A venue liquidates a position once its margin ratio (maintenance margin / margin balance,
see `margin.py`) reaches 100 %, which for a position held at a constant margin happens
exactly when the mark price reaches the liquidation price. The position is closed at the
liquidation price, or at the mark if the mark gapped beyond it (a backtest's "mark" is
the bar's open when the bar opens beyond the price, otherwise the price itself). The venue
charges a liquidation (clearance) fee on the closing notional.

What the trader loses:
- isolated margin: the whole margin posted to the position. Whatever is left of it after
  the loss and the fee goes to the venue's insurance fund; a gap beyond the price is
  covered by that fund, never by the trader's other balance.
- cross margin: the realised loss and the fee, taken from the wallet; never more than the
  wallet holds (beyond that the venue's insurance fund pays).

Margin calls: a warning when the margin ratio reaches a threshold (80 % by default), once
per crossing: it is armed again only after the ratio falls back below the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from apps.portfolio.domain.margin import ZERO

ONE_HUNDRED = Decimal(100)
DEFAULT_MARGIN_CALL_PERCENT = Decimal(80)


@dataclass(frozen=True, slots=True)
class Liquidation:
    """The forced close of a whole position: what the ledger records and the wallet loses."""

    quantity: Decimal
    """The signed quantity closed (the whole position: positive for a long)."""
    price: Decimal
    realized_pnl: Decimal
    """(price - entry) x quantity, before the fee."""
    fee: Decimal
    forfeited_margin: Decimal
    """Isolated margin left after the loss and the fee, kept by the venue (0 on cross)."""
    wallet_change: Decimal
    """What the wallet gains (negative: loses) in all: P&L, fee and forfeited margin."""

    @property
    def is_long(self) -> bool:
        return self.quantity > 0


def liquidation_reached(*, quantity: Decimal, liquidation_price: Decimal | None, adverse_price: Decimal) -> bool:
    """True once the price most against the position has reached its liquidation price.

    `adverse_price` is the mark in paper trading, the bar's low (long) or high (short) in a
    backtest. A flat position, or one that no positive price liquidates, is never reached.
    """
    if quantity == 0 or liquidation_price is None:
        return False
    if quantity > 0:
        return adverse_price <= liquidation_price
    return adverse_price >= liquidation_price


def liquidation_fill_price(*, quantity: Decimal, liquidation_price: Decimal, reference_price: Decimal) -> Decimal:
    """The liquidation price, or the reference (mark, bar open) when it already lies beyond it."""
    if quantity > 0:
        return min(liquidation_price, reference_price)
    return max(liquidation_price, reference_price)


def liquidate(
    *,
    quantity: Decimal,
    entry_price: Decimal,
    liquidation_price: Decimal,
    reference_price: Decimal,
    fee_rate: Decimal,
    isolated: bool,
    margin: Decimal,
) -> Liquidation:
    """Close the whole position by liquidation.

    `margin` is the isolated margin posted to the position (isolated) or the cross wallet
    balance (cross): the most the trader can lose.
    """
    if quantity == 0:
        raise ValueError("a flat position cannot be liquidated")
    if fee_rate < 0:
        raise ValueError(f"a liquidation fee rate cannot be negative, not {fee_rate}")
    if margin < 0:
        raise ValueError(f"margin cannot be negative, not {margin}")
    price = liquidation_fill_price(quantity=quantity, liquidation_price=liquidation_price, reference_price=reference_price)
    realized_pnl = (price - entry_price) * quantity
    fee = abs(quantity) * price * fee_rate
    if isolated:
        forfeited = max(margin + realized_pnl - fee, ZERO)
        wallet_change = -margin
    else:
        forfeited = ZERO
        wallet_change = max(realized_pnl - fee, -margin)
    return Liquidation(quantity=quantity, price=price, realized_pnl=realized_pnl, fee=fee, forfeited_margin=forfeited, wallet_change=wallet_change)


def margin_ratio_percent(ratio: Decimal) -> Decimal:
    """A margin ratio (1 = liquidation) as a percentage."""
    return ratio * ONE_HUNDRED


@dataclass(frozen=True, slots=True)
class MarginCallCheck:
    warn: bool
    """True exactly when this reading crossed the threshold from below: send one warning."""
    armed: bool
    """Whether a later crossing should warn: False while the ratio stays at or above the threshold."""


def check_margin_call(*, ratio: Decimal, threshold_percent: Decimal, armed: bool) -> MarginCallCheck:
    """At most one warning per crossing of the threshold; re-armed once the ratio falls back below it."""
    validate_margin_call_percent(threshold_percent)
    above = margin_ratio_percent(ratio) >= threshold_percent
    if above:
        return MarginCallCheck(warn=armed, armed=False)
    return MarginCallCheck(warn=False, armed=True)


def validate_margin_call_percent(threshold_percent: Decimal) -> None:
    if not ZERO < threshold_percent < ONE_HUNDRED:
        raise ValueError(f"a margin-call threshold is a percentage strictly between 0 and 100, not {threshold_percent}")
