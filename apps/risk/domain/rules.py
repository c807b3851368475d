"""Pre-trade risk: every order from any source (UI, API, bot) passes here first.

Orders that only reduce exposure are always allowed (unless trading is halted): risk
limits must never trap a trader in a position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from apps.core.domain.formatting import money
from apps.portfolio.domain.margin import ZERO, maintenance_margin, margin_balance, margin_ratio


@dataclass(frozen=True)
class LimitSet:
    """One set of limits (the trader's, or a bot's own). None means no limit."""

    name: str
    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_leverage: int | None = None
    max_open_positions: int | None = None
    max_daily_loss: Decimal | None = None


@dataclass(frozen=True)
class ResultingMargin:
    """A perpetual position as an order would leave it once filled, valued at the mark."""

    symbol: str
    quantity: Decimal  # signed
    entry_price: Decimal
    margin: Decimal  # isolated: posted to it; cross: what the wallet puts behind it
    mark: Decimal
    maintenance_margin_rate: Decimal

    @property
    def ratio(self) -> Decimal:
        """Maintenance margin / margin balance at the mark: 1 or more is liquidation."""
        maintenance = maintenance_margin(abs(self.quantity) * self.mark, self.maintenance_margin_rate)
        return margin_ratio(maintenance, margin_balance(self.margin, (self.mark - self.entry_price) * self.quantity))


def position_after_fill(
    *, quantity: Decimal, entry_price: Decimal, margin: Decimal, signed_quantity: Decimal, price: Decimal, leverage: int
) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, entry price, isolated margin) of a perpetual position after a fill of `signed_quantity` at `price`.

    As the ledger settles it: adding averages the entry and posts notional / leverage more
    margin; reducing keeps the entry and releases margin pro rata; a flip closes the old side
    and opens the rest at `price` with its own margin.
    """
    after = quantity + signed_quantity
    added_margin = abs(signed_quantity) * price / Decimal(max(leverage, 1))
    if after == 0:
        return ZERO, ZERO, ZERO
    if quantity == 0 or (quantity > 0) == (signed_quantity > 0):
        entry = (abs(quantity) * entry_price + abs(signed_quantity) * price) / abs(after)
        return after, entry, margin + added_margin
    if (after > 0) == (quantity > 0):
        return after, entry_price, margin * abs(after) / abs(quantity)
    return after, price, abs(after) * price / Decimal(max(leverage, 1))


@dataclass(frozen=True)
class PreTradeContext:
    trading_state: str  # active, reduce_only, halted
    trading_state_reason: str
    order_notional: Decimal
    increases_exposure: bool
    resulting_position_notional: Decimal  # absolute, after the order fills completely
    opens_new_position: bool
    open_positions: int  # across the account, before this order
    leverage: int
    realized_loss_today: Decimal  # positive number when the day is a loss
    resulting_margin: ResultingMargin | None = None  # perpetuals: the position as the order would leave it


@dataclass(frozen=True)
class RiskVerdict:
    allowed: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    rule: str = ""

    @property
    def message(self) -> str:
        return " ".join(self.reasons)


ALLOWED = RiskVerdict(allowed=True)


def _fmt(value: Decimal) -> str:
    return money(value)


def check_pre_trade(context: PreTradeContext, limit_sets: list[LimitSet]) -> RiskVerdict:
    """The first rule that refuses wins; its reason is written for the trader."""
    if context.trading_state == "halted":
        why = f" ({context.trading_state_reason})" if context.trading_state_reason else ""
        return RiskVerdict(False, (f"Trading is halted on this account{why}.",), "halted")
    if not context.increases_exposure:
        return ALLOWED
    if context.trading_state == "reduce_only":
        why = f" ({context.trading_state_reason})" if context.trading_state_reason else ""
        return RiskVerdict(False, (f"This account is reduce-only{why}: only orders that shrink a position are accepted.",), "reduce_only")
    if context.resulting_margin is not None:
        verdict = _check_maintenance_margin(context.resulting_margin)
        if not verdict.allowed:
            return verdict
    for limits in limit_sets:
        verdict = _check_limit_set(context, limits)
        if not verdict.allowed:
            return verdict
    return ALLOWED


def _check_maintenance_margin(resulting: ResultingMargin) -> RiskVerdict:
    """A position must not open already at or beyond its maintenance margin: the venue would liquidate it at once."""
    if resulting.quantity == 0:
        return ALLOWED
    ratio = resulting.ratio
    if ratio < 1:
        return ALLOWED
    shown = f"{(ratio * 100).quantize(Decimal('0.1'))} %" if ratio.is_finite() else "beyond 100 %"
    side = "long" if resulting.quantity > 0 else "short"
    return RiskVerdict(
        False,
        (
            f"This order would leave the {resulting.symbol} {side} beyond its maintenance margin: at the mark price "
            f"{_fmt(resulting.mark)} its margin ratio would be {shown}, and a position is liquidated at 100 %. "
            "Use a smaller size or lower leverage, or reduce the position first.",
        ),
        "maintenance_margin",
    )


def _check_limit_set(context: PreTradeContext, limits: LimitSet) -> RiskVerdict:
    who = limits.name
    if limits.max_daily_loss is not None and context.realized_loss_today >= limits.max_daily_loss:
        return RiskVerdict(
            False,
            (
                f"{who}: today's realised loss {_fmt(context.realized_loss_today)} has reached the daily limit {_fmt(limits.max_daily_loss)}; new risk is blocked until 00:00 UTC.",
            ),
            "max_daily_loss",
        )
    if limits.max_leverage is not None and context.leverage > limits.max_leverage:
        return RiskVerdict(False, (f"{who}: leverage {context.leverage}x is above the limit of {limits.max_leverage}x.",), "max_leverage")
    if limits.max_order_notional is not None and context.order_notional > limits.max_order_notional:
        return RiskVerdict(
            False,
            (f"{who}: order value {_fmt(context.order_notional)} is above the limit of {_fmt(limits.max_order_notional)} per order.",),
            "max_order_notional",
        )
    if limits.max_position_notional is not None and context.resulting_position_notional > limits.max_position_notional:
        return RiskVerdict(
            False,
            (
                f"{who}: the position would be worth {_fmt(context.resulting_position_notional)}, above the limit of {_fmt(limits.max_position_notional)} per symbol.",
            ),
            "max_position_notional",
        )
    if limits.max_open_positions is not None and context.opens_new_position and context.open_positions >= limits.max_open_positions:
        return RiskVerdict(False, (f"{who}: {context.open_positions} positions are open, the limit is {limits.max_open_positions}.",), "max_open_positions")
    return ALLOWED
