"""Shaping live data for the market partials (pages and pushes render the same partials)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def ticker_view(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    change = data.get("change_24h_percent")
    direction = ""
    if change is not None:
        direction = "up" if Decimal(change) > 0 else "down" if Decimal(change) < 0 else ""
    return {**data, "direction": direction}


def book_rows(data: dict[str, Any]) -> dict[str, Any]:
    """Bids and asks with cumulative size and a depth bar width (percent of the deeper side)."""

    def side(levels: list[list[str]]) -> list[dict[str, Any]]:
        rows, total = [], Decimal(0)
        for price, quantity in levels:
            total += Decimal(quantity)
            rows.append({"price": price, "quantity": quantity, "total": total})
        return rows

    bids, asks = side(data["bids"]), side(data["asks"])
    deepest = max([row["total"] for row in bids[-1:] + asks[-1:]] or [Decimal(1)]) or Decimal(1)
    for row in bids + asks:
        row["depth_step"] = int(row["total"] / deepest * 20) * 5  # a CSS class per 5 %: no inline style under the CSP
        row["total"] = str(row["total"].normalize())
    spread = None
    if bids and asks:
        spread = Decimal(asks[0]["price"]) - Decimal(bids[0]["price"])
    return {"bids": bids, "asks": list(reversed(asks)), "spread": None if spread is None else str(spread), "timestamp": data.get("timestamp")}
