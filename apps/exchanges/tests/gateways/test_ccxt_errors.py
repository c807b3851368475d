"""Retries, backoff and error mapping of CcxtGateway, with faults played by the local Binance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from apps.core.errors import ValidationError
from apps.exchanges.domain.types import Candle, OrderRequest, Side
from apps.exchanges.errors import RETRYABLE_ERRORS, ExchangeErrorCode, ExchangeRateLimitedError, ExchangeUnavailableError
from apps.exchanges.gateways.ccxt_gateway import CcxtGateway
from tests.venues import binance
from tests.venues.fixtures import BINANCE_CREDENTIALS, connect
from tests.venues.server import RunningVenue

T = TypeVar("T")
KLINES = "/api/v3/klines"
JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)


def run(awaitable: Awaitable[T]) -> T:
    return asyncio.run(asyncio.wait_for(awaitable, timeout=20))  # type: ignore[arg-type]


async def timed_candles(venue: RunningVenue, **options: object) -> tuple[list[Candle], float]:
    """Load markets first, then time one candle fetch (the call the faults are aimed at)."""
    async with connect(venue, "BINANCE", **options) as gateway:
        await gateway.load_markets()
        started = time.monotonic()
        candles = await gateway.fetch_candles("BTC/USDT", "1h", since=JAN_1, limit=5)
        return candles, time.monotonic() - started


def fail_candles(venue: RunningVenue, **options: object) -> ExceptionInfo:
    with pytest.raises((ExchangeRateLimitedError, ExchangeUnavailableError)) as raised:
        run(timed_candles(venue, **options))
    return raised


ExceptionInfo = pytest.ExceptionInfo


# Rate limits ------------------------------------------------------------------------------


def test_a_429_is_retried_after_the_retry_after_the_venue_asked_for(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(1, 429, path=KLINES, retry_after=0.4)

    candles, elapsed = run(timed_candles(binance_server))

    assert len(candles) == 5
    assert binance_server.control.count(KLINES) == 2
    assert 0.4 <= elapsed < 1.2  # waited what Binance asked, not the 10 ms backoff


def test_a_retry_after_longer_than_the_backoff_cap_is_handed_to_the_caller(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(1, 429, path=KLINES, retry_after=30)

    started = time.monotonic()
    raised = fail_candles(binance_server)

    assert isinstance(raised.value, ExchangeRateLimitedError)
    assert raised.value.extra["retry_after_seconds"] == 30
    assert binance_server.control.count(KLINES) == 1
    assert time.monotonic() - started < 5


def test_repeated_429s_give_up_after_max_retries(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(10, 429, path=KLINES)

    raised = fail_candles(binance_server, max_retries=2)

    assert isinstance(raised.value, ExchangeRateLimitedError)
    assert raised.value.code == ExchangeErrorCode.RATE_LIMITED
    assert "BINANCE" in raised.value.message and "fetch_candles" in raised.value.message
    assert binance_server.control.count(KLINES) == 3  # the first try and two retries


def test_an_ip_ban_418_is_never_retried(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(5, 418, path=KLINES, retry_after=7200)

    raised = fail_candles(binance_server)

    assert isinstance(raised.value, ExchangeRateLimitedError)
    assert raised.value.extra["retry_after_seconds"] == 7200
    assert binance_server.control.count(KLINES) == 1


def test_a_418_without_retry_after_still_tells_the_caller_to_wait(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(5, 418, path=KLINES)

    raised = fail_candles(binance_server)

    assert raised.value.extra["retry_after_seconds"] >= 60
    assert binance_server.control.count(KLINES) == 1


def test_a_418_while_loading_markets_is_seen_through_ccxts_own_tasks(binance_server: RunningVenue) -> None:
    """load_markets runs in a ccxt task and gathers two requests; the ban must still be recognised."""
    binance_server.control.fail_next(5, 418, path="/fapi/v1/exchangeInfo")

    async def scenario() -> None:
        async with connect(binance_server, "BINANCE") as gateway:
            await gateway.load_markets()

    with pytest.raises(ExchangeRateLimitedError):
        run(scenario())
    assert binance_server.control.count("/fapi/v1/exchangeInfo") == 1


# Server errors and timeouts ---------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_two_server_errors_then_success(binance_server: RunningVenue, status: int) -> None:
    binance_server.control.fail_next(2, status, path=KLINES)

    candles, _ = run(timed_candles(binance_server))

    assert len(candles) == 5
    assert binance_server.control.count(KLINES) == 3


def test_server_errors_that_do_not_stop_become_exchange_unavailable(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(100, 503, path=KLINES)

    raised = fail_candles(binance_server, max_retries=3)

    assert isinstance(raised.value, ExchangeUnavailableError)
    assert binance_server.control.count(KLINES) == 4


def test_loading_markets_is_retried_too(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(1, 502, path="/api/v3/exchangeInfo")

    async def scenario() -> int:
        async with connect(binance_server, "BINANCE") as gateway:
            return len(await gateway.load_markets())

    assert run(scenario()) == 6
    assert binance_server.control.count("/api/v3/exchangeInfo") == 2


def test_a_request_hanging_past_the_timeout_is_retried_then_unavailable(binance_server: RunningVenue) -> None:
    binance_server.control.hang_next(100, seconds=5, path=KLINES)

    started = time.monotonic()
    raised = fail_candles(binance_server, timeout_ms=200, max_retries=2)

    assert isinstance(raised.value, ExchangeUnavailableError)
    assert binance_server.control.count(KLINES) == 3
    assert time.monotonic() - started < 3


def test_one_hang_then_an_answer(binance_server: RunningVenue) -> None:
    binance_server.control.hang_next(1, seconds=5, path=KLINES)

    candles, elapsed = run(timed_candles(binance_server, timeout_ms=200))

    assert len(candles) == 5
    assert binance_server.control.count(KLINES) == 2
    assert elapsed < 2


def test_an_order_whose_answer_was_lost_is_looked_up_not_sent_twice(binance_server: RunningVenue) -> None:
    binance_server.control.hang_next(1, seconds=5, path="/api/v3/order", after_handling=True)

    async def scenario() -> Any:
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS, timeout_ms=500) as gateway:
            return await gateway.create_order(OrderRequest("BTC/USDT", Side.BUY, "market", Decimal("0.001"), "bot7-lost"))

    order = run(scenario())

    assert (order.client_order_id, order.status, order.filled) == ("bot7-lost", "closed", Decimal("0.001"))
    assert len(binance_server[binance.STATE].orders) == 1
    assert binance_server.control.count("/api/v3/order") == 2  # the lost POST, then a GET that found it


def test_an_order_that_never_arrived_is_sent_again(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(1, 502, path="/api/v3/order")

    async def scenario() -> Any:
        async with connect(binance_server, "BINANCE", BINANCE_CREDENTIALS) as gateway:
            return await gateway.create_order(OrderRequest("BTC/USDT", Side.BUY, "market", Decimal("0.001"), "bot7-again"))

    order = run(scenario())

    assert order.status == "closed"
    assert len(binance_server[binance.STATE].orders) == 1
    assert binance_server.control.count("/api/v3/order") == 3  # POST (502), GET (not found), POST


def test_faults_aimed_at_one_path_leave_the_others_alone(binance_server: RunningVenue) -> None:
    binance_server.control.fail_next(1, 500, path="/api/v3/depth")

    candles, _ = run(timed_candles(binance_server))

    assert len(candles) == 5
    assert binance_server.control.count(KLINES) == 1


def test_retryable_errors_are_the_ones_callers_may_retry() -> None:
    assert set(RETRYABLE_ERRORS) == {ExchangeUnavailableError, ExchangeRateLimitedError}


# Configuration ----------------------------------------------------------------------------


def test_an_unknown_exchange_code_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        CcxtGateway("KRAKEN")

    assert raised.value.code == ExchangeErrorCode.UNKNOWN_EXCHANGE


def test_an_unknown_market_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        CcxtGateway("BINANCE", market_types=("inverse",))
