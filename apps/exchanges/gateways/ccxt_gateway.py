"""Binance, Bybit and OKX through ccxt.pro (REST and WebSocket), behind `ExchangeGateway`.

Everything ccxt returns is converted at this boundary (the payloads by `ccxt_payloads`): numbers
to `Decimal` (through `str`, so the venue's shortest decimal form survives), times to aware UTC
datetimes, ccxt's exceptions to the platform's (`apps.exchanges.errors`). Quantities are in base units for every market: OKX
swaps trade in contracts, so quantities are converted with the market's contract size both ways.

Retries: temporary failures (ccxt's NetworkError family and HTTP 5xx) are retried with
exponential backoff and full jitter, never sooner than a Retry-After header asks. A Retry-After
longer than `backoff_cap` is not slept through: the call fails with `ExchangeRateLimitedError`
carrying `retry_after_seconds`, and so does Binance's HTTP 418 (an IP ban) at once, because
retrying a ban lengthens it.

Streams do not reconnect by themselves: when a stream's socket breaks (even between two reads,
where ccxt would redial silently and skip what was missed) the generator raises
`ExchangeUnavailableError`; the caller opens the stream again, catching up over REST if it must.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import random
import re
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import ccxt
import ccxt.pro

from apps.core.errors import ApplicationError, ValidationError
from apps.exchanges.domain.timeframes import UnknownTimeframe, timeframe_seconds
from apps.exchanges.domain.types import (
    Balance,
    Candle,
    FundingRate,
    MarketInfo,
    OrderBook,
    OrderRequest,
    Ticker,
    Trade,
    VenueOrder,
    VenuePosition,
)
from apps.exchanges.errors import (
    ExchangeAuthenticationError,
    ExchangeError,
    ExchangeErrorCode,
    ExchangeRateLimitedError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    NotSupportedError,
    OrderNotFoundError,
    UnknownSymbolError,
)
from apps.exchanges.gateways import ccxt_payloads as payload
from apps.exchanges.gateways.base import Credentials

T = TypeVar("T")
Raw = payload.Raw

IP_BAN_DEFAULT_SECONDS = 120.0  # Binance's shortest ban, used when a 418 carries no Retry-After
MARGIN_MODES = ("cross", "isolated")


# What ccxt does not tell us --------------------------------------------------------------


@dataclass(frozen=True)
class _RecordedResponse:
    status: int
    headers: Mapping[str, str]


# Set by the gateway around one ccxt call; child tasks copy the context and so share the objects.
_responses: ContextVar[list[_RecordedResponse] | None] = ContextVar("ccxt_gateway_responses", default=None)
_stream_urls: ContextVar[set[str] | None] = ContextVar("ccxt_gateway_stream_urls", default=None)


class _GatewayHooks:
    """What the gateway needs to know that ccxt does not keep.

    - The status and headers of every HTTP response a call caused: ccxt raises the same exception
      for Binance's 429 and 418, and drops Retry-After.
    - Which WebSocket URLs a stream uses, and how often each connection broke: between two reads
      ccxt redials a dropped connection silently, and the stream would skip what was missed.
    """

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config or {})  # type: ignore[call-arg]
        self.ws_breaks: Counter[str] = Counter()

    def on_rest_response(self, code, reason, url, method, response_headers, response_body, request_headers, request_body):  # type: ignore[no-untyped-def]
        recorded = _responses.get()
        if recorded is not None:
            recorded.append(_RecordedResponse(int(code), dict(response_headers or {})))
        return super().on_rest_response(code, reason, url, method, response_headers, response_body, request_headers, request_body)  # type: ignore[misc]

    def watch(self, url: str, *args: Any, **kwargs: Any) -> Any:
        _note_stream_url(url)
        return super().watch(url, *args, **kwargs)  # type: ignore[misc]

    def watch_multiple(self, url: str, *args: Any, **kwargs: Any) -> Any:
        _note_stream_url(url)
        return super().watch_multiple(url, *args, **kwargs)  # type: ignore[misc]

    def on_close(self, client: Any, error: Any) -> Any:
        self.ws_breaks[client.url] += 1
        return super().on_close(client, error)  # type: ignore[misc]

    def on_error(self, client: Any, error: Any) -> Any:
        self.ws_breaks[client.url] += 1
        return super().on_error(client, error)  # type: ignore[misc]


def _note_stream_url(url: str) -> None:
    urls = _stream_urls.get()
    if urls is not None:
        urls.add(url)


class _Binance(_GatewayHooks, ccxt.pro.binance):  # type: ignore[misc]
    def is_spot_url(self, client: Any) -> bool:
        # ccxt tells spot streams from futures streams by the "stream." host name, which a rebased
        # URL no longer has; compare against the configured spot stream URL instead.
        return bool(str(client.url).startswith(str(self.urls["api"]["ws"]["spot"]) + "/"))


class _Bybit(_GatewayHooks, ccxt.pro.bybit):  # type: ignore[misc]
    pass


class _Okx(_GatewayHooks, ccxt.pro.okx):  # type: ignore[misc]
    pass


# Venues as data --------------------------------------------------------------------------


@dataclass(frozen=True)
class VenueProfile:
    exchange_class: type[Any]
    fetch_markets_types: Mapping[str, str]  # our market type -> the type name in ccxt's fetchMarkets option
    client_order_id_param: str  # how ccxt's fetchOrder/cancelOrder take a client order id for this venue
    default_perp_leverage: int
    fetch_order_params: Mapping[str, object] = field(default_factory=dict)
    options: Mapping[str, object] = field(default_factory=dict)


VENUES: dict[str, VenueProfile] = {
    "BINANCE": VenueProfile(
        exchange_class=_Binance,
        fetch_markets_types={"spot": "spot", "linear": "linear"},
        client_order_id_param="origClientOrderId",
        default_perp_leverage=125,
        options={
            "fetchMargins": False,  # margin pairs need signed sapi calls we never use
            "fetchOpenOrders": {"warnWithoutSymbol": False},
            "watchTickers": {"name": "ticker"},  # the full ticker stream has bid and ask; miniTicker does not
        },
    ),
    "BYBIT": VenueProfile(
        exchange_class=_Bybit,
        fetch_markets_types={"spot": "spot", "linear": "linear"},
        client_order_id_param="orderLinkId",
        default_perp_leverage=100,
        fetch_order_params={"acknowledged": True},  # ccxt refuses without it on unified accounts
    ),
    "OKX": VenueProfile(
        exchange_class=_Okx,
        fetch_markets_types={"spot": "spot", "linear": "swap"},
        client_order_id_param="clOrdId",
        default_perp_leverage=100,
    ),
}

# our order type -> (ccxt order type, the ccxt param that carries the stop price)
_ORDER_TYPES: dict[str, tuple[str, str | None]] = {
    "market": ("market", None),
    "limit": ("limit", None),
    "stop_market": ("market", "stopLossPrice"),
    "stop_limit": ("limit", "stopLossPrice"),
    "take_profit": ("market", "takeProfitPrice"),
}


# Building the ccxt client ----------------------------------------------------------------


def rebase_urls(urls: Any, rest_base_url: str | None, ws_base_url: str | None) -> Any:
    """Point every http(s) URL at `rest_base_url` and every ws(s) URL at `ws_base_url`, keeping paths."""
    if isinstance(urls, dict):
        return {key: rebase_urls(value, rest_base_url, ws_base_url) for key, value in urls.items()}
    if not isinstance(urls, str) or "://" not in urls:
        return urls
    scheme, _, rest = urls.partition("://")
    base = ws_base_url if scheme.startswith("ws") else rest_base_url
    if base is None:
        return urls
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else ""
    return base.rstrip("/") + path


def _build_exchange(
    profile: VenueProfile,
    credentials: Credentials | None,
    *,
    rest_base_url: str | None,
    ws_base_url: str | None,
    timeout_ms: int,
    market_types: tuple[str, ...],
) -> Any:
    config: Raw = {"enableRateLimit": True, "timeout": timeout_ms}
    if credentials is not None:
        config.update(apiKey=credentials.api_key, secret=credentials.secret, password=credentials.passphrase or None)
    exchange = profile.exchange_class(config)
    if credentials is not None and credentials.testnet:
        exchange.set_sandbox_mode(True)
    if rest_base_url or ws_base_url:
        exchange.urls["api"] = rebase_urls(exchange.urls["api"], rest_base_url, ws_base_url)
    if (rest_base_url or "").startswith("http://") and (ws_base_url or "").startswith("ws://"):
        exchange.timeout_on_exit = 0  # ccxt waits 250 ms on close for TLS shutdowns; plain HTTP has none
    # Currencies come from the markets; the venues' currency endpoints are signed extra calls.
    exchange.has["fetchCurrencies"] = False
    fetch_markets = exchange.options.get("fetchMarkets")
    exchange.options["fetchMarkets"] = {
        **(fetch_markets if isinstance(fetch_markets, dict) else {}),
        "types": [profile.fetch_markets_types[market_type] for market_type in market_types],
    }
    exchange.options.update(copy.deepcopy(dict(profile.options)))  # ccxt may write into its options
    return exchange


# Errors ----------------------------------------------------------------------------------

# Most specific first: OrderNotFound is an InvalidOrder, BadSymbol a BadRequest, and so on.
ErrorMap = tuple[tuple[type[Exception], type[ApplicationError]], ...]
_SPECIFIC_ERRORS: ErrorMap = (
    (ccxt.OrderNotFound, OrderNotFoundError),
    (ccxt.AuthenticationError, ExchangeAuthenticationError),  # PermissionDenied, AccountSuspended
    (ccxt.InsufficientFunds, InsufficientFundsError),
    (ccxt.InvalidOrder, InvalidOrderError),
    (ccxt.BadSymbol, UnknownSymbolError),
)
_GENERAL_ERRORS: ErrorMap = (
    (ccxt.NotSupported, NotSupportedError),
    (ccxt.RateLimitExceeded, ExchangeRateLimitedError),
    (ccxt.DDoSProtection, ExchangeRateLimitedError),
    (ccxt.NetworkError, ExchangeUnavailableError),
    (ccxt.ExchangeClosedByUser, ExchangeUnavailableError),
)
_ERROR_MAP: ErrorMap = _SPECIFIC_ERRORS + _GENERAL_ERRORS
# Placing an order, a malformed request is the order's fault: Binance's "Filter failure: NOTIONAL"
# reaches us as a BadRequest.
_ORDER_ERROR_MAP: ErrorMap = (*_SPECIFIC_ERRORS, (ccxt.BadRequest, InvalidOrderError), *_GENERAL_ERRORS)


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(tz=UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Failure:
    """What one failed attempt tells the retry loop."""

    error: Exception
    status: int | None
    retry_after: float | None

    @classmethod
    def of(cls, error: Exception, responses: list[_RecordedResponse]) -> _Failure:
        failed = [response for response in responses if response.status >= 400]
        status = max((response.status for response in failed), default=None)
        if any(response.status == 418 for response in failed):
            status = 418
        waits = [wait for response in failed if (wait := _retry_after_seconds(response.headers)) is not None]
        return cls(error, status, max(waits) if waits else None)

    @property
    def is_ip_ban(self) -> bool:
        return self.status == 418

    @property
    def is_temporary(self) -> bool:
        return isinstance(self.error, ccxt.NetworkError) or (self.status is not None and self.status >= 500)


class CcxtGateway:
    """`ExchangeGateway` for BINANCE, BYBIT and OKX."""

    def __init__(
        self,
        code: str,
        credentials: Credentials | None = None,
        *,
        rest_base_url: str | None = None,
        ws_base_url: str | None = None,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        timeout_ms: int = 10_000,
        market_types: tuple[str, ...] = ("spot", "linear"),
    ) -> None:
        self.code = code.upper()
        profile = VENUES.get(self.code)
        if profile is None:
            raise ValidationError(f"no ccxt gateway for exchange {code!r}; use one of {', '.join(VENUES)}", code=ExchangeErrorCode.UNKNOWN_EXCHANGE)
        unknown_types = set(market_types) - set(profile.fetch_markets_types)
        if unknown_types or not market_types:
            raise ValidationError.for_field("market_types", f"market types must be among {', '.join(profile.fetch_markets_types)}")
        self._profile = profile
        self._credentials = credentials
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._exchange = _build_exchange(
            profile,
            credentials,
            rest_base_url=rest_base_url,
            ws_base_url=ws_base_url,
            timeout_ms=timeout_ms,
            market_types=market_types,
        )

    def __repr__(self) -> str:
        return f"CcxtGateway({self.code}, authenticated={self._credentials is not None})"

    # Calling ccxt ------------------------------------------------------------------------

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            responses: list[_RecordedResponse] = []
            token = _responses.set(responses)
            try:
                return await call()
            except ccxt.BaseError as error:
                failure = _Failure.of(error, responses)
            finally:
                _responses.reset(token)
            delay = self._retry_delay(failure, attempt)
            if delay is None:
                raise self._platform_error(operation, failure) from failure.error
            attempt += 1
            await asyncio.sleep(delay)

    def _retry_delay(self, failure: _Failure, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if failure.is_ip_ban or not failure.is_temporary or attempt >= self._max_retries:
            return None
        if failure.retry_after is not None and failure.retry_after > self._backoff_cap:
            return None
        jitter = random.uniform(0, min(self._backoff_cap, self._backoff_base * 2**attempt))
        return max(jitter, failure.retry_after or 0.0)

    def _platform_error(self, operation: str, failure: _Failure) -> ApplicationError:
        message = f"{self.code} {operation} failed: {self._scrub(str(failure.error))}"
        extra: dict[str, Any] = {"exchange": self.code, "operation": operation}
        if failure.is_ip_ban:
            extra["retry_after_seconds"] = failure.retry_after if failure.retry_after is not None else IP_BAN_DEFAULT_SECONDS
            return ExchangeRateLimitedError(f"{self.code} {operation}: the venue banned this IP (HTTP 418)", extra=extra)
        if failure.status is not None and failure.status >= 500:
            return ExchangeUnavailableError(message, extra=extra)
        table = _ORDER_ERROR_MAP if operation == "create_order" else _ERROR_MAP
        error_class = next((mapped for ccxt_class, mapped in table if isinstance(failure.error, ccxt_class)), ExchangeError)
        if error_class is ExchangeRateLimitedError and failure.retry_after is not None:
            extra["retry_after_seconds"] = failure.retry_after
        return error_class(message, extra=extra)

    def _scrub(self, text: str) -> str:
        """ccxt's messages carry URLs and bodies; keep keys and signatures out of ours."""
        text = re.sub(r"(signature|sign|apiKey|api_key)=[^&\s\"']+", r"\1=***", text)
        if self._credentials is not None:
            for secret in (self._credentials.secret, self._credentials.api_key, self._credentials.passphrase):
                if secret:
                    text = text.replace(secret, "***")
        return text[:500]

    async def _ccxt_market(self, symbol: str) -> Raw:
        await self._ensure_markets()
        try:
            return dict(self._exchange.market(symbol))
        except ccxt.BadSymbol as error:
            raise UnknownSymbolError(f"{self.code} has no market {symbol!r}", extra={"exchange": self.code, "symbol": symbol}) from error

    async def _ensure_markets(self) -> None:
        if not self._exchange.markets:
            await self._call("load_markets", self._exchange.load_markets)

    # Market data -------------------------------------------------------------------------

    async def load_markets(self) -> list[MarketInfo]:
        markets = await self._call("load_markets", lambda: self._exchange.load_markets(reload=True))
        result = []
        for market in markets.values():
            market_type = payload.market_type(market)
            if market_type is not None:
                result.append(payload.market_info(market, market_type, self._profile.default_perp_leverage))
        return sorted(result, key=lambda info: (info.market_type, info.symbol))

    async def fetch_ticker(self, symbol: str) -> Ticker:
        await self._ccxt_market(symbol)
        return payload.ticker(await self._call("fetch_ticker", lambda: self._exchange.fetch_ticker(symbol)))

    async def fetch_tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        await self._ensure_markets()
        for symbol in symbols or []:
            await self._ccxt_market(symbol)
        raw = await self._call("fetch_tickers", lambda: self._exchange.fetch_tickers(symbols))
        return [payload.ticker(ticker) for ticker in raw.values()]

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        await self._ccxt_market(symbol)
        raw = await self._call("fetch_order_book", lambda: self._exchange.fetch_order_book(symbol, depth))
        return payload.order_book(raw, symbol, depth)

    async def fetch_candles(self, symbol: str, timeframe: str, since: datetime | None = None, limit: int | None = None) -> list[Candle]:
        _check_timeframe(timeframe)
        await self._ccxt_market(symbol)
        since_ms = payload.milliseconds(since) if since is not None else None
        rows = await self._call("fetch_candles", lambda: self._exchange.fetch_ohlcv(symbol, timeframe, since_ms, limit))
        candles = sorted(map(payload.candle, rows), key=lambda candle: candle.open_time)
        if since is not None:
            candles = [candle for candle in candles if candle.open_time >= since]
        return candles[:limit] if limit is not None else candles

    async def fetch_trades(self, symbol: str, since: datetime | None = None, limit: int | None = None) -> list[Trade]:
        market = await self._ccxt_market(symbol)
        since_ms = payload.milliseconds(since) if since is not None else None
        rows = await self._call("fetch_trades", lambda: self._exchange.fetch_trades(symbol, since_ms, limit))
        return [payload.trade(row, payload.contract_size(market)) for row in rows]

    async def fetch_funding_rate(self, symbol: str) -> FundingRate:
        market = await self._ccxt_market(symbol)
        if not market.get("swap"):
            raise NotSupportedError(f"{self.code}: {symbol} is not a perpetual, it has no funding rate")
        raw = await self._call("fetch_funding_rate", lambda: self._exchange.fetch_funding_rate(symbol))
        next_time = raw.get("nextFundingTimestamp") or raw.get("fundingTimestamp")
        return FundingRate(
            symbol=raw["symbol"],
            rate=payload.dec(raw["fundingRate"]),
            next_funding_time=payload.utc(next_time) if next_time else None,
            timestamp=payload.utc(raw.get("timestamp")),
        )

    # Account -----------------------------------------------------------------------------

    async def fetch_balances(self) -> list[Balance]:
        return payload.balances(await self._call("fetch_balances", self._exchange.fetch_balance))

    async def create_order(self, request: OrderRequest) -> VenueOrder:
        market = await self._ccxt_market(request.symbol)
        size = payload.contract_size(market)
        ccxt_type, price, params = self._order_arguments(request, market)
        amount = float(request.quantity / size)
        lookup = {**self._order_lookup(None, request.client_order_id), **self._profile.fetch_order_params}
        sent = False

        async def place() -> Raw:
            # A timeout or a 5xx may hide an order the venue did take; sending it again could fill
            # twice (a client order id is unique only among open orders), so look for it first.
            nonlocal sent
            if sent:
                try:
                    return dict(await self._exchange.fetch_order(None, request.symbol, lookup))
                except ccxt.OrderNotFound:
                    pass
            sent = True
            return dict(await self._exchange.create_order(request.symbol, ccxt_type, request.side.value, amount, price, params))

        order = payload.venue_order(await self._call("create_order", place), size)
        # Some venues acknowledge with little more than the ids; fill the rest from the request.
        return VenueOrder(
            venue_order_id=order.venue_order_id,
            client_order_id=order.client_order_id or request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            status=order.status,
            price=order.price if order.price is not None else request.price,
            stop_price=order.stop_price if order.stop_price is not None else request.stop_price,
            quantity=order.quantity or request.quantity,
            filled=order.filled,
            average_price=order.average_price,
            fee=order.fee,
            fee_currency=order.fee_currency,
            timestamp=order.timestamp,
        )

    def _order_arguments(self, request: OrderRequest, market: Raw) -> tuple[str, float | None, Raw]:
        try:
            ccxt_type, stop_param = _ORDER_TYPES[request.order_type]
        except KeyError:
            raise InvalidOrderError(f"unknown order type {request.order_type!r}; use one of {', '.join(_ORDER_TYPES)}") from None
        if ccxt_type == "limit" and request.price is None:
            raise InvalidOrderError(f"a {request.order_type} order needs a price")
        if stop_param is not None and request.stop_price is None:
            raise InvalidOrderError(f"a {request.order_type} order needs a stop price")
        if request.reduce_only and not market.get("contract"):
            raise InvalidOrderError("reduce-only orders exist only on perpetuals")
        params: Raw = {"clientOrderId": request.client_order_id}
        if stop_param is not None and request.stop_price is not None:
            params[stop_param] = float(request.stop_price)
        if ccxt_type == "limit":
            params["timeInForce"] = request.time_in_force
        if request.post_only:
            params["postOnly"] = True
        if request.reduce_only:
            params["reduceOnly"] = True
        params.update(request.params)
        price = float(request.price) if ccxt_type == "limit" and request.price is not None else None
        return ccxt_type, price, params

    def _order_lookup(self, venue_order_id: str | None, client_order_id: str | None) -> Raw:
        if venue_order_id is None and client_order_id is None:
            raise ValidationError("give the venue order id or the client order id")
        return {self._profile.client_order_id_param: client_order_id} if venue_order_id is None else {}

    async def cancel_order(self, symbol: str, venue_order_id: str | None = None, client_order_id: str | None = None) -> VenueOrder:
        market = await self._ccxt_market(symbol)
        params = self._order_lookup(venue_order_id, client_order_id)
        raw = await self._call("cancel_order", lambda: self._exchange.cancel_order(venue_order_id, symbol, params))
        return payload.venue_order(raw, payload.contract_size(market))

    async def fetch_order(self, symbol: str, venue_order_id: str | None = None, client_order_id: str | None = None) -> VenueOrder:
        market = await self._ccxt_market(symbol)
        params = {**self._order_lookup(venue_order_id, client_order_id), **self._profile.fetch_order_params}
        raw = await self._call("fetch_order", lambda: self._exchange.fetch_order(venue_order_id, symbol, params))
        return payload.venue_order(raw, payload.contract_size(market))

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        await self._ensure_markets()
        if symbol is not None:
            await self._ccxt_market(symbol)
        rows = await self._call("fetch_open_orders", lambda: self._exchange.fetch_open_orders(symbol))
        return [payload.venue_order(row, payload.contract_size(self._exchange.market(row["symbol"]))) for row in rows]

    async def fetch_positions(self, symbols: list[str] | None = None) -> list[VenuePosition]:
        await self._ensure_markets()
        rows = await self._call("fetch_positions", lambda: self._exchange.fetch_positions(symbols))
        return [position for position in map(payload.position, rows) if position.quantity != 0]

    async def fetch_liquidations(self, symbol: str, since: datetime | None = None) -> list[VenueOrder]:
        market = await self._ccxt_market(symbol)
        start = payload.milliseconds(since) if since is not None else None
        rows = await self._call("fetch_liquidations", lambda: self._exchange.fetch_my_liquidations(symbol, start))
        return [payload.liquidation_order(row, payload.contract_size(market)) for row in rows]

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        await self._ccxt_market(symbol)
        if leverage < 1:
            raise ValidationError.for_field("leverage", "leverage must be at least 1")
        await self._call("set_leverage", lambda: self._exchange.set_leverage(leverage, symbol))

    async def set_margin_mode(self, symbol: str, margin_mode: str) -> None:
        await self._ccxt_market(symbol)
        if margin_mode not in MARGIN_MODES:
            raise ValidationError.for_field("margin_mode", f"margin mode must be one of {', '.join(MARGIN_MODES)}")

        async def set_mode() -> None:
            try:
                await self._exchange.set_margin_mode(margin_mode, symbol)
            except ccxt.NoChange:  # already in that mode: nothing to do
                pass

        await self._call("set_margin_mode", set_mode)

    # Streams -----------------------------------------------------------------------------

    async def _stream(self, operation: str, watch: Callable[[], Awaitable[T]]) -> AsyncGenerator[T, None]:
        """Yield what `watch` resolves to until the stream's connection breaks, then raise.

        A break while waiting surfaces as ccxt's NetworkError. A break between two reads is
        healed by ccxt on the next watch, silently; it is caught here by the per-URL break count.
        """
        urls: set[str] = set()
        breaks_seen = 0
        while True:
            if self._ws_breaks(urls) != breaks_seen:
                raise ExchangeUnavailableError(
                    f"{self.code} {operation}: the WebSocket connection broke; open the stream again",
                    extra={"exchange": self.code, "operation": operation},
                )
            token = _stream_urls.set(urls)
            try:
                value = await watch()
            except ccxt.BaseError as error:
                raise self._platform_error(operation, _Failure(error, None, None)) from error
            finally:
                _stream_urls.reset(token)
            breaks_seen = self._ws_breaks(urls)
            yield value

    def _ws_breaks(self, urls: set[str]) -> int:
        return sum(self._exchange.ws_breaks[url] for url in urls)

    async def watch_ticker(self, symbol: str) -> AsyncIterator[Ticker]:
        await self._ccxt_market(symbol)
        async with aclosing(self._stream("watch_ticker", lambda: self._exchange.watch_ticker(symbol))) as stream:
            async for raw in stream:
                yield payload.ticker(raw)

    async def watch_trades(self, symbol: str) -> AsyncIterator[list[Trade]]:
        size = payload.contract_size(await self._ccxt_market(symbol))
        async with aclosing(self._stream("watch_trades", lambda: self._exchange.watch_trades(symbol))) as stream:
            async for rows in stream:
                yield [payload.trade(row, size) for row in rows]

    async def watch_candles(self, symbol: str, timeframe: str) -> AsyncIterator[list[Candle]]:
        _check_timeframe(timeframe)
        await self._ccxt_market(symbol)
        async with aclosing(self._stream("watch_candles", lambda: self._exchange.watch_ohlcv(symbol, timeframe))) as stream:
            async for rows in stream:
                yield [payload.candle(row) for row in rows]

    async def watch_order_book(self, symbol: str, depth: int = 20) -> AsyncIterator[OrderBook]:
        await self._ccxt_market(symbol)
        async with aclosing(self._stream("watch_order_book", lambda: self._exchange.watch_order_book(symbol, depth))) as stream:
            async for raw in stream:
                yield payload.order_book(raw, symbol, depth)

    async def watch_orders(self) -> AsyncIterator[list[VenueOrder]]:
        """First an empty list once the stream is open (on Binance: once its signed subscription is
        confirmed), then each batch of changed orders.

        ccxt hands an update only to a read that is already waiting; one that arrives while the
        caller is busy waits in ccxt's cache for the next update. So the reads run in a task of
        their own, always re-armed at once, and the caller takes batches from a queue.
        """
        await self._ensure_markets()

        async def refused_subscription_unwrapped(call: Callable[[], Awaitable[Any]]) -> Any:
            try:
                return await call()
            except KeyError as error:
                # A refused user-data subscription (a bad key or signature): ccxt's clean-up of it
                # fails with a KeyError and the venue's own answer is left as its context.
                if isinstance(error.__context__, ccxt.BaseError):
                    raise error.__context__ from None
                raise

        if self.code == "BINANCE":
            try:
                await refused_subscription_unwrapped(lambda: self._exchange.authenticate())
            except ccxt.BaseError as error:
                raise self._platform_error("watch_orders", _Failure(error, None, None)) from error
        batches: asyncio.Queue[list[VenueOrder] | Exception] = asyncio.Queue()

        async def read_forever() -> None:
            watch = functools.partial(refused_subscription_unwrapped, lambda: self._exchange.watch_orders())
            try:
                async with aclosing(self._stream("watch_orders", watch)) as stream:
                    async for rows in stream:
                        batches.put_nowait([payload.streamed_order(row, payload.contract_size(self._exchange.market(row["symbol"]))) for row in rows])
            except Exception as error:  # noqa: BLE001 - handed to the caller, who decides
                batches.put_nowait(error)

        reader = asyncio.create_task(read_forever())
        try:
            for _ in range(3):  # let the reader arm its first read before the caller hears "open"
                await asyncio.sleep(0)
            yield []
            while True:
                batch = await batches.get()
                if isinstance(batch, Exception):
                    raise batch
                yield batch
        finally:
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader

    async def close(self) -> None:
        await self._exchange.close()


def _check_timeframe(timeframe: str) -> None:
    try:
        timeframe_seconds(timeframe)
    except UnknownTimeframe as error:
        raise ValidationError.for_field("timeframe", str(error), code=ExchangeErrorCode.UNSUPPORTED_TIMEFRAME) from None
