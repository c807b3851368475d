"""An account's balances per asset, and how fills, margin and funding move them.

Each asset is split into `free` (usable for new orders or withdrawals) and `locked`
(reserved by open orders, or posted as margin for perpetual positions); both are never
negative: an operation that would need more raises `InsufficientBalance` and changes
nothing (every value here is immutable; operations return new `Balances`).

Spot: an order locks what it may spend (a buy locks notional + the most fee it can pay
in quote; a sell locks the base). A fill spends from locked and credits the other asset.
Perpetuals: the margin of a position (entry notional / leverage, see `position_margin`) is locked in the quote
currency; realised P&L, fees and funding settle to free quote. Order-level reservations
for perpetuals are the caller's to release before applying the fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_UP, Decimal, localcontext
from typing import Any, NoReturn

from apps.core.errors import ValidationError
from apps.portfolio.domain.fills import Fill, OrderSide, SymbolRules
from apps.portfolio.domain.margin import initial_margin, maintenance_margin, margin_balance, margin_ratio
from apps.portfolio.domain.positions import FeeCurrencyMismatch, Position

ZERO = Decimal(0)
MARGIN_STEP = Decimal("1e-8")  # of the quote currency: finer than any venue shows


class InsufficientBalance(ValidationError):
    default_code = "insufficient_balance"

    def __init__(self, asset: str, needed: Decimal, available: Decimal) -> None:
        self.asset = asset
        self.needed = needed
        self.available = available
        super().__init__(
            f"Not enough {asset}: {needed} needed, {available} available.",
            extra={"asset": asset, "needed": str(needed), "available": str(available)},
        )


class MissingMark(LookupError):
    """A value was asked for something with no mark price given."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"no mark price for {symbol}")
        self.symbol = symbol


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal = ZERO
    locked: Decimal = ZERO

    def __post_init__(self) -> None:
        for name, amount in (("free", self.free), ("locked", self.locked)):
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"{name} {self.asset} must be zero or positive, not {amount}")

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class Balances(Mapping[str, Balance]):
    """An immutable mapping of asset -> Balance. A missing asset reads as zero through `balance()`."""

    __slots__ = ("_by_asset",)
    _by_asset: dict[str, Balance]

    def __init__(self, balances: Iterable[Balance] = ()) -> None:
        by_asset: dict[str, Balance] = {}
        for balance in balances:
            if balance.asset in by_asset:
                raise ValueError(f"{balance.asset} is listed twice")
            by_asset[balance.asset] = balance
        object.__setattr__(self, "_by_asset", by_asset)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Balances are immutable")

    def __getitem__(self, asset: str) -> Balance:
        return self._by_asset[asset]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_asset)

    def __len__(self) -> int:
        return len(self._by_asset)

    def __repr__(self) -> str:
        return f"Balances({list(self._by_asset.values())!r})"

    def balance(self, asset: str) -> Balance:
        return self._by_asset.get(asset) or Balance(asset)

    # Moves ------------------------------------------------------------------------------

    def lock(self, asset: str, amount: Decimal) -> Balances:
        """free -> locked (an order's reservation, a position's margin)."""
        current = self.balance(asset)
        if _positive(amount) > current.free:
            raise InsufficientBalance(asset, amount, current.free)
        return self._with(replace(current, free=current.free - amount, locked=current.locked + amount))

    def unlock(self, asset: str, amount: Decimal) -> Balances:
        """locked -> free (a canceled order's leftover, released margin)."""
        current = self.balance(asset)
        if _positive(amount) > current.locked:
            raise InsufficientBalance(asset, amount, current.locked)
        return self._with(replace(current, free=current.free + amount, locked=current.locked - amount))

    def debit_locked(self, asset: str, amount: Decimal) -> Balances:
        """Spend from locked (a fill paid from its order's reservation)."""
        current = self.balance(asset)
        if _positive(amount) > current.locked:
            raise InsufficientBalance(asset, amount, current.locked)
        return self._with(replace(current, locked=current.locked - amount))

    def debit(self, asset: str, amount: Decimal) -> Balances:
        """Spend from free."""
        current = self.balance(asset)
        if _positive(amount) > current.free:
            raise InsufficientBalance(asset, amount, current.free)
        return self._with(replace(current, free=current.free - amount))

    def credit(self, asset: str, amount: Decimal) -> Balances:
        """Add to free."""
        current = self.balance(asset)
        return self._with(replace(current, free=current.free + _positive(amount)))

    def settle(self, asset: str, amount: Decimal) -> Balances:
        """A signed cash flow to free: credit when positive, debit when negative."""
        return self.credit(asset, amount) if amount >= 0 else self.debit(asset, -amount)

    # Spot -------------------------------------------------------------------------------

    def apply_spot_fill(self, fill: Fill, rules: SymbolRules) -> Balances:
        """Buy: locked quote -= notional, base += quantity. Sell: locked base -= quantity, quote += notional.

        The fee comes out of what is received when charged in that asset (a sell's quote, a
        buy's base), is added to what is spent when charged in that asset (a buy with the fee
        in quote spends notional + fee from locked quote), and is debited from free otherwise
        (BNB). A negative fee (rebate) works the same way with the opposite sign.
        """
        _check_fill(fill, rules)
        if rules.is_perpetual:
            raise ValueError(f"{rules.symbol} is a perpetual: use apply_perpetual_fill")
        if fill.side == OrderSide.BUY:
            spent_asset, spent, received_asset, received = rules.quote, fill.notional, rules.base, fill.quantity
        else:
            spent_asset, spent, received_asset, received = rules.base, fill.quantity, rules.quote, fill.notional
        result = self
        if fill.fee_currency == received_asset:
            received -= fill.fee
        elif fill.fee_currency == spent_asset:
            spent += fill.fee
        elif fill.fee != 0:
            result = result.settle(fill.fee_currency, -fill.fee)
        if received < 0 or spent < 0:
            raise ValueError(f"the fee {fill.fee} {fill.fee_currency} is larger than the fill")
        return result.debit_locked(spent_asset, spent).credit(received_asset, received)

    # Perpetuals -------------------------------------------------------------------------

    def apply_position_change(self, before: Position, after: Position, *, quote: str, leverage: Decimal | int, settle_fees: bool = True) -> Balances:
        """Settle what changed between two states of one perpetual position.

        Margin: the locked quote follows `position_margin` (entry notional / leverage), so a
        reduction releases its share and a flip releases all and locks the new side's.
        Cash: realised P&L less funding (less fees when `settle_fees`, i.e. the fee was
        charged in quote) settles to free quote. Releases happen before debits.
        """
        margin_before = position_margin(before, leverage)
        margin_after = position_margin(after, leverage)
        cash = (after.realized_pnl - before.realized_pnl) - (after.funding_paid - before.funding_paid)
        if settle_fees:
            cash -= after.fees_paid - before.fees_paid
        result = self
        if margin_after < margin_before:
            result = result.unlock(quote, margin_before - margin_after)
        result = result.settle(quote, cash)
        if margin_after > margin_before:
            result = result.lock(quote, margin_after - margin_before)
        return result

    def apply_perpetual_fill(
        self, fill: Fill, position: Position, rules: SymbolRules, *, leverage: Decimal | int, fee_in_quote: Decimal | None = None
    ) -> tuple[Balances, Position]:
        """Apply a perpetual fill to the position and settle it here; returns both new values.

        A fee in quote settles with the P&L; a fee in another currency (BNB) is debited
        from that asset and needs its quote value as `fee_in_quote` for the position.
        """
        _check_fill(fill, rules)
        if not rules.is_perpetual:
            raise ValueError(f"{rules.symbol} is a spot market: use apply_spot_fill")
        if fill.fee == 0 or fill.fee_currency == rules.quote:
            after = position.apply(fill, fee_in_quote=fill.fee)
            return self.apply_position_change(position, after, quote=rules.quote, leverage=leverage), after
        if fee_in_quote is None:
            raise FeeCurrencyMismatch(f"the fee is in {fill.fee_currency}, not {rules.quote}: pass fee_in_quote")
        after = position.apply(fill, fee_in_quote=fee_in_quote)
        result = self.settle(fill.fee_currency, -fill.fee)
        return result.apply_position_change(position, after, quote=rules.quote, leverage=leverage, settle_fees=False), after

    def apply_funding(self, position: Position, rate: Decimal, mark: Decimal, rules: SymbolRules) -> tuple[Balances, Position]:
        """Settle one funding payment (longs pay when the rate is positive) to free quote."""
        after, payment = position.apply_funding(rate, mark)
        return self.settle(rules.quote, -payment), after

    def _with(self, balance: Balance) -> Balances:
        by_asset = dict(self._by_asset)
        by_asset[balance.asset] = balance
        return Balances(by_asset.values())


def position_margin(position: Position, leverage: Decimal | int) -> Decimal:
    """The margin a perpetual position holds: its entry notional / leverage (0 when flat), rounded up to `MARGIN_STEP`.

    The rounding keeps every margin a short exact number, so the locked balance is exactly
    the sum of what was locked and released and closing never finds a dust-sized shortfall.
    """
    if position.is_flat:
        return ZERO
    with localcontext() as context:
        context.prec = 60
        return initial_margin(position.entry_notional, leverage).quantize(MARGIN_STEP, rounding=ROUND_UP)


def account_equity(balances: Balances, positions: Iterable[Position], marks: Mapping[str, Decimal], *, quote: str) -> Decimal:
    """Everything valued in `quote`: quote total + other assets at their `<ASSET>/<quote>` mark + open positions' unrealised P&L.

    Positions are derivatives (perpetuals); spot holdings are counted through balances only.
    Raises `MissingMark` for a held asset or an open position without a mark.
    """
    equity = ZERO
    for asset, balance in balances.items():
        if asset == quote:
            equity += balance.total
        elif balance.total != 0:
            equity += balance.total * _mark(marks, f"{asset}/{quote}")
    for position in positions:
        if not position.is_flat:
            equity += position.unrealized_pnl(_mark(marks, position.symbol))
    return equity


def account_margin_ratio(
    balances: Balances, positions: Iterable[Position], marks: Mapping[str, Decimal], rules: Mapping[str, SymbolRules], *, quote: str
) -> Decimal:
    """Cross-margin ratio: Σ |Q| x mark x mmr / (quote wallet total + Σ unrealised P&L). Liquidation at >= 1."""
    maintenance = ZERO
    unrealized = ZERO
    for position in positions:
        if position.is_flat:
            continue
        mark = _mark(marks, position.symbol)
        maintenance += maintenance_margin(position.notional(mark), rules[position.symbol].maintenance_margin_rate)
        unrealized += position.unrealized_pnl(mark)
    return margin_ratio(maintenance, margin_balance(balances.balance(quote).total, unrealized))


def _mark(marks: Mapping[str, Decimal], symbol: str) -> Decimal:
    try:
        return marks[symbol]
    except KeyError:
        raise MissingMark(symbol) from None


def _positive(amount: Decimal) -> Decimal:
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"an amount to move must be zero or positive, not {amount}")
    return amount


def _check_fill(fill: Fill, rules: SymbolRules) -> None:
    if fill.symbol != rules.symbol:
        raise ValueError(f"a {fill.symbol} fill does not belong to {rules.symbol}")
    if not fill.quantity.is_finite() or fill.quantity <= 0 or not fill.price.is_finite() or fill.price <= 0:
        raise ValueError("a fill needs a positive price and quantity")
