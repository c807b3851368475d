"""Fees in the quote currency: what a fee paid in some asset is worth in the symbol's quote."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)


def fee_in_quote(*, fee: Decimal, fee_currency: str, price: Decimal, base: str, quote: str) -> Decimal:
    """A fee paid in the quote (or with no currency named) is itself; in the base it is worth `fee x price`.

    A fee in a third asset (BNB on Binance, say) has no price here: it is worth 0 in quote, and the
    caller takes it from that asset's own balance.
    """
    if fee_currency in ("", quote):
        return fee
    if fee_currency == base:
        return fee * price
    return ZERO
