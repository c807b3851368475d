"""Does an order fit its market's rules? Every problem found, each named and explained.

`validate_order` never raises for a bad intent: it returns the list of violations (empty
when the order may be sent) so a form can show them all at once. `ensure_valid_order`
raises them as one `InvalidOrder` (a `ValidationError` whose `extra["fields"]` maps each
field to its messages) for services.

Arithmetic runs in a local context wide enough to be exact for every value that passes
the sanity limits (at most 1e12 and 18 decimal places, so at most 31 significant
digits; a notional has at most 62): nothing here is rounded by the default 28 digits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext
from enum import StrEnum

from apps.core.domain.money import round_to_step
from apps.core.errors import ValidationError
from apps.orders.domain.model import OrderIntent, OrderType, SymbolRules, TimeInForce

MAX_QUANTITY = Decimal("1e12")
MAX_PRICE = Decimal("1e12")
MAX_DECIMAL_PLACES = 18
_EXACT_PRECISION = 80

PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
TRIGGERED_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT})


class ViolationCode(StrEnum):
    SYMBOL_MISMATCH = "symbol_mismatch"
    NOT_FINITE = "not_finite"
    TOO_LARGE = "too_large"
    TOO_MANY_DECIMALS = "too_many_decimals"
    NOT_POSITIVE = "not_positive"
    NOT_A_MULTIPLE_OF_LOT = "not_a_multiple_of_lot"
    BELOW_MIN_QUANTITY = "below_min_quantity"
    REQUIRED = "required"
    NOT_ALLOWED = "not_allowed"
    NOT_ON_TICK = "not_on_tick"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    LEVERAGE_OUT_OF_RANGE = "leverage_out_of_range"
    PERPETUAL_ONLY = "perpetual_only"
    POST_ONLY_NEEDS_LIMIT_GTC = "post_only_needs_limit_gtc"


@dataclass(frozen=True, slots=True)
class OrderRuleViolation:
    field: str
    message: str
    code: ViolationCode


class InvalidOrder(ValidationError):
    default_code = "invalid_order"

    def __init__(self, violations: list[OrderRuleViolation]) -> None:
        self.violations = violations
        fields: dict[str, list[str]] = {}
        for violation in violations:
            fields.setdefault(violation.field, []).append(violation.message)
        super().__init__(" ".join(violation.message for violation in violations), extra={"fields": fields})


def validate_order(intent: OrderIntent, rules: SymbolRules, reference_price: Decimal | None) -> list[OrderRuleViolation]:
    """Every rule of `rules` that `intent` breaks, in field order (empty list: the order is valid).

    `reference_price` (last or mark price) prices a market order for the minimum-notional
    check; the notional uses the limit price, else the trigger price, else the reference
    price. It is skipped when no price is known, and when the quantity or a price is
    itself invalid (that violation is reported instead).
    """
    with localcontext() as context:
        context.prec = _EXACT_PRECISION
        return list(_violations(intent, rules, reference_price))


def ensure_valid_order(intent: OrderIntent, rules: SymbolRules, reference_price: Decimal | None) -> None:
    violations = validate_order(intent, rules, reference_price)
    if violations:
        raise InvalidOrder(violations)


def quantity_from_quote(quote_amount: Decimal, price: Decimal, rules: SymbolRules) -> Decimal:
    """The largest quantity on the lot whose notional at `price` fits in `quote_amount` (fees not included).

    The result may be below `rules.min_quantity` (even zero); `validate_order` reports that.
    """
    if not quote_amount.is_finite() or quote_amount < 0:
        raise ValueError(f"quote amount must be zero or positive, not {quote_amount}")
    if not price.is_finite() or price <= 0:
        raise ValueError(f"price must be positive, not {price}")
    with localcontext() as context:
        context.prec = _EXACT_PRECISION
        context.rounding = ROUND_DOWN  # a truncated quotient never rounds up onto the next lot
        return round_to_step(quote_amount / price, rules.lot_size, "down")


def decimal_places(value: Decimal) -> int:
    """Digits after the point, ignoring trailing zeros: 1.2500 -> 2, 100 -> 0, 1E+3 -> 0."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing_zeros)


# Rules ------------------------------------------------------------------------------------


def _violations(intent: OrderIntent, rules: SymbolRules, reference_price: Decimal | None) -> Iterator[OrderRuleViolation]:
    if intent.symbol != rules.symbol:
        yield OrderRuleViolation("symbol", f"The order is for {intent.symbol} but the rules are for {rules.symbol}.", ViolationCode.SYMBOL_MISMATCH)

    quantity_problems = list(_quantity_violations(intent.quantity, rules))
    yield from quantity_problems
    price_problems = list(_price_violations(intent, rules))
    yield from price_problems
    stop_problems = list(_stop_price_violations(intent, rules))
    yield from stop_problems

    if not (quantity_problems or price_problems or stop_problems):
        notional_price = _notional_price(intent, reference_price)
        if notional_price is not None:
            notional = notional_price * intent.quantity
            if notional < rules.min_notional:
                yield OrderRuleViolation(
                    "quantity",
                    f"The order's value {_show(notional)} {rules.quote} is below the minimum of {_show(rules.min_notional)} {rules.quote}.",
                    ViolationCode.BELOW_MIN_NOTIONAL,
                )

    yield from _leverage_violations(intent, rules)
    yield from _flag_violations(intent, rules)


def _sanity_violation(field: str, label: str, value: Decimal, limit: Decimal) -> OrderRuleViolation | None:
    if not value.is_finite():
        return OrderRuleViolation(field, f"{label} must be a number, not {value}.", ViolationCode.NOT_FINITE)
    if abs(value) > limit:
        return OrderRuleViolation(field, f"{label} {_show(value)} is larger than the maximum of {_show(limit)}.", ViolationCode.TOO_LARGE)
    if decimal_places(value) > MAX_DECIMAL_PLACES:
        return OrderRuleViolation(field, f"{label} {_show(value)} has more than {MAX_DECIMAL_PLACES} decimal places.", ViolationCode.TOO_MANY_DECIMALS)
    return None


def _quantity_violations(quantity: Decimal, rules: SymbolRules) -> Iterator[OrderRuleViolation]:
    insane = _sanity_violation("quantity", "Quantity", quantity, MAX_QUANTITY)
    if insane is not None:
        yield insane
        return
    if quantity <= 0:
        yield OrderRuleViolation("quantity", f"Quantity must be positive, not {_show(quantity)}.", ViolationCode.NOT_POSITIVE)
        return
    if quantity % rules.lot_size != 0:
        yield OrderRuleViolation(
            "quantity", f"Quantity {_show(quantity)} is not a multiple of the lot size {_show(rules.lot_size)}.", ViolationCode.NOT_A_MULTIPLE_OF_LOT
        )
    if quantity < rules.min_quantity:
        yield OrderRuleViolation(
            "quantity", f"Quantity {_show(quantity)} is below the minimum of {_show(rules.min_quantity)}.", ViolationCode.BELOW_MIN_QUANTITY
        )


def _on_tick_violations(field: str, label: str, value: Decimal, rules: SymbolRules) -> Iterator[OrderRuleViolation]:
    insane = _sanity_violation(field, label, value, MAX_PRICE)
    if insane is not None:
        yield insane
        return
    if value <= 0:
        yield OrderRuleViolation(field, f"{label} must be positive, not {_show(value)}.", ViolationCode.NOT_POSITIVE)
        return
    if value % rules.tick_size != 0:
        yield OrderRuleViolation(field, f"{label} {_show(value)} is not a multiple of the tick size {_show(rules.tick_size)}.", ViolationCode.NOT_ON_TICK)


def _price_violations(intent: OrderIntent, rules: SymbolRules) -> Iterator[OrderRuleViolation]:
    kind = intent.order_type
    if intent.price is None:
        if kind in PRICED_TYPES:
            yield OrderRuleViolation("price", f"A {kind} order needs a price.", ViolationCode.REQUIRED)
        return
    if kind not in PRICED_TYPES:
        yield OrderRuleViolation("price", f"A {kind} order takes no price: it executes at the market.", ViolationCode.NOT_ALLOWED)
        return
    yield from _on_tick_violations("price", "Price", intent.price, rules)


def _stop_price_violations(intent: OrderIntent, rules: SymbolRules) -> Iterator[OrderRuleViolation]:
    kind = intent.order_type
    if intent.stop_price is None:
        if kind in TRIGGERED_TYPES:
            yield OrderRuleViolation("stop_price", f"A {kind} order needs a stop price to trigger at.", ViolationCode.REQUIRED)
        return
    if kind not in TRIGGERED_TYPES:
        yield OrderRuleViolation("stop_price", f"A {kind} order takes no stop price.", ViolationCode.NOT_ALLOWED)
        return
    yield from _on_tick_violations("stop_price", "Stop price", intent.stop_price, rules)


def _notional_price(intent: OrderIntent, reference_price: Decimal | None) -> Decimal | None:
    """The price the order is expected to trade at: its limit, else its trigger, else the reference."""
    if intent.price is not None:
        return intent.price
    if intent.stop_price is not None:
        return intent.stop_price
    if reference_price is not None and reference_price.is_finite() and reference_price > 0:
        return reference_price
    return None


def _leverage_violations(intent: OrderIntent, rules: SymbolRules) -> Iterator[OrderRuleViolation]:
    leverage = intent.leverage
    if leverage < 1:
        yield OrderRuleViolation("leverage", f"Leverage must be at least 1x, not {leverage}x.", ViolationCode.LEVERAGE_OUT_OF_RANGE)
    elif leverage > 1 and not rules.is_perpetual:
        yield OrderRuleViolation(
            "leverage", f"Leverage {leverage}x is only for perpetual markets; {rules.symbol} is a spot market.", ViolationCode.PERPETUAL_ONLY
        )
    elif leverage > rules.max_leverage:
        yield OrderRuleViolation(
            "leverage", f"Leverage {leverage}x is above the maximum of {rules.max_leverage}x for {rules.symbol}.", ViolationCode.LEVERAGE_OUT_OF_RANGE
        )


def _flag_violations(intent: OrderIntent, rules: SymbolRules) -> Iterator[OrderRuleViolation]:
    if intent.reduce_only and not rules.is_perpetual:
        yield OrderRuleViolation("reduce_only", f"Reduce-only is only for perpetual markets; {rules.symbol} is a spot market.", ViolationCode.PERPETUAL_ONLY)
    if intent.post_only and not (intent.order_type == OrderType.LIMIT and intent.time_in_force == TimeInForce.GTC):
        yield OrderRuleViolation(
            "post_only",
            f"Post-only needs a LIMIT order that is good till canceled, not a {intent.order_type} {intent.time_in_force} order.",
            ViolationCode.POST_ONLY_NEEDS_LIMIT_GTC,
        )


def _show(value: Decimal) -> str:
    """Plain notation for readable sizes (1E+3 -> 1000), scientific for absurd ones."""
    if value.is_finite() and -40 < value.adjusted() < 40:
        return format(value, "f")
    return str(value)
