"""Channel-layer group names for market pushes."""

from __future__ import annotations

MARKET_EVENT_TYPE = "market.update"


def exchange_group(exchange_code: str) -> str:
    return f"market.{exchange_code}"


def symbol_group(exchange_code: str, slug: str) -> str:
    return f"market.{exchange_code}.{slug}"
