"""Local venue servers (Binance, Bybit, OKX) for the gateway tests."""

from tests.venues.fixtures import binance_server, bybit_server, okx_server  # noqa: F401
