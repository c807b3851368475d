"""pytest fixtures serving each local venue for one test, and a gateway pointed at it.

Import the fixtures where they are needed:
`from tests.venues.fixtures import binance_server  # noqa: F401`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from apps.exchanges.gateways.base import Credentials
from apps.exchanges.gateways.ccxt_gateway import CcxtGateway
from tests.venues import binance, bybit, okx
from tests.venues.server import RunningVenue, run_venue

# Small enough that a test with four retries stays well under a second.
FAST_RETRIES: dict[str, Any] = {"max_retries": 4, "backoff_base": 0.01, "backoff_cap": 2.0, "timeout_ms": 2_000}
BINANCE_CREDENTIALS = Credentials(api_key=binance.API_KEY, secret=binance.SECRET)


@pytest.fixture
def binance_server() -> Iterator[RunningVenue]:
    with run_venue(binance.create_app) as venue:
        yield venue


@pytest.fixture
def bybit_server() -> Iterator[RunningVenue]:
    with run_venue(bybit.create_app) as venue:
        yield venue


@pytest.fixture
def okx_server() -> Iterator[RunningVenue]:
    with run_venue(okx.create_app) as venue:
        yield venue


@asynccontextmanager
async def connect(venue: RunningVenue, code: str, credentials: Credentials | None = None, **options: Any) -> AsyncIterator[CcxtGateway]:
    """A `CcxtGateway` whose every URL points at `venue`, closed when the block ends."""
    gateway = CcxtGateway(code, credentials, rest_base_url=venue.rest_url, ws_base_url=venue.ws_url, **(FAST_RETRIES | options))
    try:
        yield gateway
    finally:
        await gateway.close()
