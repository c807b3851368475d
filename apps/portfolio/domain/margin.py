"""Margin and liquidation maths for linear (quote-settled) perpetuals, one maintenance tier.

Notation: Q is the signed position quantity (long > 0), |Q| its size, E the entry price,
P a price, s = sign(Q), mmr the maintenance margin rate, L the leverage.

    notional            N(P)  = |Q| x P
    initial margin      IM    = N(E) / L
    maintenance margin  MM(P) = N(P) x mmr
    unrealised P&L      U(P)  = (P - E) x Q
    margin balance            = wallet balance + unrealised P&L
    margin ratio              = maintenance margin / margin balance   (liquidation at >= 1)

The liquidation price is the P at which the margin backing the position, plus its
unrealised P&L, equals its maintenance margin:

    M + (P - E) x Q = |Q| x P x mmr

    long  (Q > 0):  P = (E x |Q| - M) / (|Q| x (1 - mmr))
    short (Q < 0):  P = (E x |Q| + M) / (|Q| x (1 + mmr))

Isolated margin: M is the margin posted to the position, E x |Q| / L unless more was added;
so a long liquidates at E x (1 - 1/L) / (1 - mmr) and a short at E x (1 + 1/L) / (1 + mmr).
Cross margin: M is what the account can lose before this position is liquidated: the
wallet balance plus the other positions' unrealised P&L less their maintenance margin.

Deliberately left out (they move the price by a little, never its side): the venues'
tiered maintenance amounts ("cum" on Binance), the fee to close, and the mark-versus-last
price difference. Results are exact Decimals; round to the tick at the edge (towards the
entry to stay on the safe side).
"""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
INFINITE_RATIO = Decimal("Infinity")


def initial_margin(notional: Decimal, leverage: Decimal | int) -> Decimal:
    """IM = notional / leverage."""
    if leverage <= 0:
        raise ValueError("leverage must be positive")
    return abs(notional) / Decimal(leverage)


def maintenance_margin(notional: Decimal, maintenance_margin_rate: Decimal) -> Decimal:
    """MM = notional x mmr."""
    _check_rate(maintenance_margin_rate)
    return abs(notional) * maintenance_margin_rate


def margin_balance(wallet_balance: Decimal, unrealized_pnl: Decimal) -> Decimal:
    """Wallet balance (cash including posted margin) + unrealised P&L."""
    return wallet_balance + unrealized_pnl


def margin_ratio(maintenance: Decimal, balance: Decimal) -> Decimal:
    """MM / margin balance: 0 with nothing at risk, 1 or more means liquidation.

    A margin balance of zero or less with maintenance margin owed is past liquidation and
    gives `Decimal("Infinity")` (still `>= 1`).
    """
    if maintenance <= 0:
        return ZERO
    if balance <= 0:
        return INFINITE_RATIO
    return maintenance / balance


def is_liquidatable(maintenance: Decimal, balance: Decimal) -> bool:
    return maintenance > 0 and balance <= maintenance


def liquidation_price(*, quantity: Decimal, entry_price: Decimal, margin: Decimal, maintenance_margin_rate: Decimal) -> Decimal | None:
    """The price P where `margin + (P - entry) x quantity == |quantity| x P x mmr` (see the module docstring).

    Returns None when no positive price liquidates the position: a flat position, or a long
    whose margin covers its whole entry notional (1x or less, P <= 0). A short whose margin
    is so negative that even P = 0 leaves it under water gives 0: every price liquidates it.
    A long's price at or above its entry (a short's at or below) means the margin does not
    cover maintenance even at entry.
    """
    _check_rate(maintenance_margin_rate)
    if entry_price <= 0:
        raise ValueError("entry price must be positive")
    if quantity == 0:
        return None
    size = abs(quantity)
    if quantity > 0:
        price = (entry_price * size - margin) / (size * (ONE - maintenance_margin_rate))
        return price if price > 0 else None
    price = (entry_price * size + margin) / (size * (ONE + maintenance_margin_rate))
    return max(price, ZERO)


def isolated_liquidation_price(
    *,
    quantity: Decimal,
    entry_price: Decimal,
    maintenance_margin_rate: Decimal,
    leverage: Decimal | int | None = None,
    isolated_margin: Decimal | None = None,
) -> Decimal | None:
    """Liquidation price of an isolated position; give the leverage (margin = entry notional / L) or the posted margin.

    10x long at 50 000 with mmr 0.5 %: 50 000 x 0.9 / 0.995 = 45 226.13...
    10x short at 50 000 with mmr 0.5 %: 50 000 x 1.1 / 1.005 = 54 726.37...
    """
    if (leverage is None) == (isolated_margin is None):
        raise ValueError("give either leverage or isolated_margin")
    if isolated_margin is not None:
        if isolated_margin < 0:
            raise ValueError("isolated margin cannot be negative")
        margin = isolated_margin
    else:
        margin = initial_margin(abs(quantity) * entry_price, leverage or 0)
    return liquidation_price(quantity=quantity, entry_price=entry_price, margin=margin, maintenance_margin_rate=maintenance_margin_rate)


def cross_available_margin(*, wallet_balance: Decimal, other_unrealized_pnl: Decimal = ZERO, other_maintenance_margin: Decimal = ZERO) -> Decimal:
    """What a cross position can lose: wallet + the other positions' unrealised P&L - their maintenance margin."""
    return wallet_balance + other_unrealized_pnl - other_maintenance_margin


def cross_liquidation_price(
    *,
    quantity: Decimal,
    entry_price: Decimal,
    maintenance_margin_rate: Decimal,
    wallet_balance: Decimal,
    other_unrealized_pnl: Decimal = ZERO,
    other_maintenance_margin: Decimal = ZERO,
) -> Decimal | None:
    """Liquidation price of a cross position, the other positions held at their current marks.

    `wallet_balance` is the whole cross wallet in quote (free + locked, including this
    position's own margin); it replaces the isolated margin M in the formula, so extra
    balance pushes the price further from the entry.
    """
    available = cross_available_margin(
        wallet_balance=wallet_balance, other_unrealized_pnl=other_unrealized_pnl, other_maintenance_margin=other_maintenance_margin
    )
    return liquidation_price(quantity=quantity, entry_price=entry_price, margin=available, maintenance_margin_rate=maintenance_margin_rate)


def _check_rate(rate: Decimal) -> None:
    if not ZERO <= rate < ONE:
        raise ValueError(f"a maintenance margin rate is a fraction in [0, 1), not {rate}")
