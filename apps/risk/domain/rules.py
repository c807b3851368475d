"""Pre-trade risk: every order from any source (UI, API, bot) passes here first.

Orders that only reduce exposure are always allowed (unless trading is halted): risk
limits must never trap a trader in a position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from apps.core.domain.formatting import money


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
    for limits in limit_sets:
        verdict = _check_limit_set(context, limits)
        if not verdict.allowed:
            return verdict
    return ALLOWED


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
