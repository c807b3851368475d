"""The liquidation settings, checked: a margin-call threshold and a liquidation fee per venue.

`trading_platform/settings` reads them from the environment through these functions and the
services read them again through them, so a wrong value is one clear error naming the setting.

The liquidation (clearance) fee is a fraction of the closing notional that the venue keeps
when it liquidates a position:
- BINANCE: its insurance clearance fee on USDⓈ-M futures, 1.25 % on most contracts (the venue
  lists it per contract; this is the usual rate).
- BYBIT: none as a separate fee: what is left of the margin goes to its insurance fund.
- OKX: the taker rate of its base tier, 0.05 %.
- SIM: 0.5 %, the simulated venue's own rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

MARGIN_CALL_PERCENT = "MARGIN_CALL_PERCENT"
LIQUIDATION_FEE_RATES = "LIQUIDATION_FEE_RATES"
DEFAULT_MARGIN_CALL_PERCENT = Decimal(80)
DEFAULT_LIQUIDATION_FEE_RATES: Mapping[str, Decimal] = {
    "BINANCE": Decimal("0.0125"),
    "BYBIT": Decimal(0),
    "OKX": Decimal("0.0005"),
    "SIM": Decimal("0.005"),
}


class LiquidationSettingError(ValueError):
    """A liquidation setting is out of range; the message names the setting."""


def _decimal(value: object, where: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise LiquidationSettingError(f"{where} must be a number, not {value!r}.") from None
    if not number.is_finite():
        raise LiquidationSettingError(f"{where} must be a finite number, not {value!r}.")
    return number


def checked_margin_call_percent(value: object) -> Decimal:
    """The margin ratio (in %) at which a margin-call warning is sent: strictly between 0 and 100."""
    percent = _decimal(value, MARGIN_CALL_PERCENT)
    if not Decimal(0) < percent < Decimal(100):
        raise LiquidationSettingError(f"{MARGIN_CALL_PERCENT} must be a percentage strictly between 0 and 100, not {value}.")
    return percent


def checked_liquidation_fee_rates(value: Mapping[str, object]) -> dict[str, Decimal]:
    """Venue code -> liquidation fee as a fraction of the closing notional (0.005 is 0.5 %), never below zero."""
    rates: dict[str, Decimal] = {}
    for venue, raw in value.items():
        where = f"{LIQUIDATION_FEE_RATES}[{venue}]"
        rate = _decimal(raw, where)
        if rate < 0:
            raise LiquidationSettingError(f"{where} cannot be below zero, not {raw}.")
        if rate >= 1:
            raise LiquidationSettingError(f"{where} is a fraction of the notional below 1 (0.005 is 0.5 %), not {raw}.")
        rates[venue.strip().upper()] = rate
    return rates


def liquidation_fee_rates_from_items(items: Iterable[str]) -> dict[str, Decimal]:
    """The defaults, with overrides written `VENUE=RATE` (e.g. `SIM=0.004,BINANCE=0.01`)."""
    overrides: dict[str, object] = {}
    for item in items:
        venue, sep, rate = item.partition("=")
        if not sep or not venue.strip():
            raise LiquidationSettingError(f"{LIQUIDATION_FEE_RATES}: {item!r} is not VENUE=RATE (e.g. SIM=0.005).")
        overrides[venue.strip().upper()] = rate
    return checked_liquidation_fee_rates({**DEFAULT_LIQUIDATION_FEE_RATES, **overrides})
