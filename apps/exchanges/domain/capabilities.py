"""What each venue can do, as data: defaults merged with per-venue overrides."""

from __future__ import annotations

from typing import Any

DEFAULT_CAPABILITIES: dict[str, Any] = {
    "spot": True,
    "linear_perpetual": False,
    "timeframes": ["1m", "5m", "15m", "1h", "4h", "1d"],
    "candles_page_limit": 500,
    "order_book_depths": [5, 10, 20, 50, 100],
    "stop_orders": True,
    "post_only": True,
    "reduce_only": False,
    "client_order_id": True,
    "ws_tickers": True,
    "ws_trades": True,
    "ws_candles": True,
    "ws_order_book": True,
    "ws_user_data": True,
    "needs_passphrase": False,
    "testnet": False,
    "funding_interval_hours": 8,
}

VENUE_OVERRIDES: dict[str, dict[str, Any]] = {
    "BINANCE": {"linear_perpetual": True, "reduce_only": True, "candles_page_limit": 1000, "testnet": True},
    "BYBIT": {"linear_perpetual": True, "reduce_only": True, "candles_page_limit": 1000, "testnet": True},
    "OKX": {"linear_perpetual": True, "reduce_only": True, "candles_page_limit": 300, "needs_passphrase": True, "testnet": True},
    "SIM": {"linear_perpetual": True, "reduce_only": True, "candles_page_limit": 1000, "ws_user_data": False},
}


def capabilities_for(code: str, stored_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the venue's built-in overrides, then what staff stored on the exchange."""
    merged = dict(DEFAULT_CAPABILITIES)
    merged.update(VENUE_OVERRIDES.get(code, {}))
    merged.update(stored_overrides or {})
    return merged
