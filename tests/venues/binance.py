"""A local Binance: spot REST (/api/v3), USDⓈ-M futures market data (/fapi/v1), the market
streams (/ws, /stream; futures on /public/ws and /market/ws), the WebSocket API's spot
user-data stream (/ws-api/v3: `executionReport` for every order change) and the USDⓈ-M
force-order history (/fapi/v1/forceOrders: the account's liquidations, which tests add with
`force_liquidation`), in Binance's own formats.

Signed endpoints check X-MBX-APIKEY, the HMAC-SHA256 signature of queryString + requestBody and
the timestamp/recvWindow, and answer Binance's error codes. Orders match against the synthetic
book at once (market and marketable limit orders fill; others rest); stop orders rest untriggered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import WSMsgType, web

from tests.venues.server import (
    BOOK_LEVELS,
    CandleData,
    Instrument,
    MarketData,
    VenueControl,
    book_diff,
    current_book_update_id,
    fault_middleware,
    fmt,
    html_error,
    json_response,
    now_ms,
)

API_KEY = "binance-test-api-key-7f3a"
SECRET = "binance-test-secret-91c2"
STARTING_BALANCES = {"BTC": Decimal("0.5"), "ETH": Decimal("4"), "USDT": Decimal("100000"), "BNB": Decimal("0")}
COMMISSION = Decimal("0.001")

SPOT: dict[str, Instrument] = {
    "BTCUSDT": Instrument("BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal("5"), Decimal("60000")),
    "ETHUSDT": Instrument("ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal("5"), Decimal("3000")),
    "ETHBTC": Instrument("ETH", "BTC", Decimal("0.00001"), Decimal("0.0001"), Decimal("0.0001"), Decimal("0.0001"), Decimal("0.05")),
    "LUNAUSDT": Instrument("LUNA", "USDT", Decimal("0.0001"), Decimal("0.01"), Decimal("0.01"), Decimal("5"), Decimal("0.5"), active=False),
}
PERPETUALS: dict[str, Instrument] = {
    "BTCUSDT": Instrument("BTC", "USDT", Decimal("0.10"), Decimal("0.001"), Decimal("0.001"), Decimal("100"), Decimal("60000"), perpetual=True),
    "ETHUSDT": Instrument("ETH", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("20"), Decimal("3000"), perpetual=True),
}

INTERVALS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
WEEK_OFFSET_MS = 4 * 86_400_000  # weekly candles open on Mondays; 1970-01-01 was a Thursday
SPOT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
MANDATORY = {
    "LIMIT": ("timeInForce", "quantity", "price"),
    "MARKET": (),
    "LIMIT_MAKER": ("quantity", "price"),
    "STOP_LOSS": ("quantity", "stopPrice"),
    "TAKE_PROFIT": ("quantity", "stopPrice"),
    "STOP_LOSS_LIMIT": ("timeInForce", "quantity", "price", "stopPrice"),
    "TAKE_PROFIT_LIMIT": ("timeInForce", "quantity", "price", "stopPrice"),
}


class BinanceApiError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status

    def response(self) -> web.Response:
        return json_response({"code": self.code, "msg": self.msg}, status=self.status)


def error_response(status: int) -> web.Response:
    if status == 429:
        msg = "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. Please use the websocket for live updates."
        return json_response({"code": -1003, "msg": msg}, status=429)
    if status == 418:
        msg = f"Way too much request weight used; IP banned until {now_ms() + 120_000}. Please use WebSocket Streams for live updates to avoid bans."
        return json_response({"code": -1003, "msg": msg}, status=418)
    if status == 500:
        return json_response({"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}, status=500)
    return html_error(status)


# Account state ----------------------------------------------------------------------------


@dataclass
class SpotOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    stop_price: Decimal
    quantity: Decimal
    time: int
    executed: Decimal = Decimal(0)
    quote_executed: Decimal = Decimal(0)
    status: str = "NEW"
    update_time: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)
    locked: tuple[str, Decimal] | None = None

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "origQty": fmt(self.quantity),
            "executedQty": fmt(self.executed),
            "cummulativeQuoteQty": fmt(self.quote_executed),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt(self.stop_price),
            "icebergQty": fmt(Decimal(0)),
            "time": self.time,
            "updateTime": self.update_time or self.time,
            "isWorking": self.type not in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
            "workingTime": self.time,
            "origQuoteOrderQty": fmt(Decimal(0)),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


@dataclass
class BinanceState:
    api_key: str = API_KEY
    secret: str = SECRET
    balances: dict[str, list[Decimal]] = field(default_factory=lambda: {asset: [free, Decimal(0)] for asset, free in STARTING_BALANCES.items()})
    orders: dict[int, SpotOrder] = field(default_factory=dict)
    order_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_200_000_001))
    trade_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(900_000_001))
    # user-data stream subscribers (WebSocket API sessions, on the server's loop): each gets every order event
    subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = field(default_factory=list)
    force_orders: list[dict[str, Any]] = field(default_factory=list)  # USDⓈ-M liquidation orders, oldest first

    def publish(self, order: SpotOrder, execution: str) -> None:
        """An `executionReport` for `order` to every user-data subscriber (NEW, TRADE, CANCELED, EXPIRED).

        Thread-safe: tests move the market (`fill_resting_order`) from their own thread."""
        event = execution_report(order, execution)
        for loop, queue in self.subscribers:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def order_by(self, symbol: str, order_id: str | None, client_order_id: str | None) -> SpotOrder | None:
        for order in self.orders.values():
            if order.symbol != symbol:
                continue
            if (order_id is not None and str(order.order_id) == order_id) or (order_id is None and order.client_order_id == client_order_id):
                return order
        return None

    def free(self, asset: str) -> Decimal:
        return self.balances.setdefault(asset, [Decimal(0), Decimal(0)])[0]

    def move(self, asset: str, free_delta: Decimal, locked_delta: Decimal = Decimal(0)) -> None:
        balance = self.balances.setdefault(asset, [Decimal(0), Decimal(0)])
        balance[0] += free_delta
        balance[1] += locked_delta


def execution_report(order: SpotOrder, execution: str) -> dict[str, Any]:
    """Binance's spot user-data `executionReport` for the order's current state after `execution`."""
    last = order.fills[-1] if execution == "TRADE" and order.fills else None
    canceled = execution == "CANCELED"
    now = now_ms()
    return {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": f"cancel_{order.order_id:x}" if canceled else order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt(order.quantity),
        "p": fmt(order.price),
        "P": fmt(order.stop_price),
        "F": "0.00000000",
        "g": -1,
        "C": order.client_order_id if canceled else "",
        "x": execution,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": last["qty"] if last else "0.00000000",
        "z": fmt(order.executed),
        "L": last["price"] if last else "0.00000000",
        "n": last["commission"] if last else "0",
        "N": last["commissionAsset"] if last else None,
        "T": order.update_time or now,
        "t": last["tradeId"] if last else -1,
        "I": next(_EVENT_IDS),
        "w": order.is_open,
        "m": False,
        "M": last is not None,
        "O": order.time,
        "Z": fmt(order.quote_executed),
        "Y": fmt(Decimal(last["qty"]) * Decimal(last["price"])) if last else "0.00000000",
        "Q": "0.00000000",
        "W": order.time,
        "V": "EXPIRE_MAKER",
    }


_EVENT_IDS = itertools.count(1)


STATE = web.AppKey("binance_state", BinanceState)
CONTROL = web.AppKey("binance_control", VenueControl)
MARKET = web.AppKey("binance_market_data", MarketData)
WS_INTERVAL = web.AppKey("binance_ws_interval", float)


# Helpers ----------------------------------------------------------------------------------


def _decimal(params: dict[str, str], name: str) -> Decimal:
    try:
        value = Decimal(params[name])
    except (KeyError, InvalidOperation):
        raise BinanceApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.") from None
    if not value.is_finite():
        raise BinanceApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.")
    return value


def _instrument(params: dict[str, str], instruments: dict[str, Instrument]) -> tuple[str, Instrument]:
    symbol = params.get("symbol")
    if not symbol:
        raise BinanceApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    if symbol not in instruments:
        raise BinanceApiError(-1121, "Invalid symbol.")
    return symbol, instruments[symbol]


def _weight_headers(weight: int) -> dict[str, str]:
    return {"x-mbx-used-weight": str(weight), "x-mbx-used-weight-1m": str(weight)}


def _align(open_ms: int, interval_ms: int) -> int:
    offset = WEEK_OFFSET_MS if interval_ms == INTERVALS_MS["1w"] else 0
    return (open_ms - offset) // interval_ms * interval_ms + offset


def _kline_row(candle: CandleData, interval_ms: int) -> list[Any]:
    return [
        candle.open_time,
        fmt(candle.open),
        fmt(candle.high),
        fmt(candle.low),
        fmt(candle.close),
        fmt(candle.volume),
        candle.open_time + interval_ms - 1,
        fmt(candle.quote_volume),
        int(candle.volume * 100),
        fmt(candle.volume / 2),
        fmt(candle.quote_volume / 2),
        "0",
    ]


def _book_side(levels: tuple[tuple[Decimal, Decimal], ...], limit: int) -> list[list[str]]:
    return [[fmt(price), fmt(quantity)] for price, quantity in levels[:limit]]


def _ticker_json(symbol: str, stats: dict[str, Any], market_data: MarketData, instrument: Instrument) -> dict[str, Any]:
    change = stats["last"] - stats["open"]
    last_id = market_data.last_trade_id(stats["close_time"])
    volume = stats["volume"]
    return {
        "symbol": symbol,
        "priceChange": fmt(change),
        "priceChangePercent": f"{change / stats['open'] * 100:.3f}",
        "weightedAvgPrice": fmt(stats["quote_volume"] / volume if volume else stats["last"]),
        "prevClosePrice": fmt(stats["open"]),
        "lastPrice": fmt(stats["last"]),
        "lastQty": fmt(market_data.trade(instrument, last_id).quantity),
        "bidPrice": fmt(stats["bid"][0]),
        "bidQty": fmt(stats["bid"][1]),
        "askPrice": fmt(stats["ask"][0]),
        "askQty": fmt(stats["ask"][1]),
        "openPrice": fmt(stats["open"]),
        "highPrice": fmt(stats["high"]),
        "lowPrice": fmt(stats["low"]),
        "volume": fmt(volume),
        "quoteVolume": fmt(stats["quote_volume"]),
        "openTime": stats["open_time"],
        "closeTime": stats["close_time"],
        "firstId": last_id - 172_800,
        "lastId": last_id,
        "count": 172_801,
    }


# Public REST ------------------------------------------------------------------------------


def _spot_symbol_info(symbol: str, instrument: Instrument) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "status": "TRADING" if instrument.active else "BREAK",
        "baseAsset": instrument.base,
        "baseAssetPrecision": 8,
        "quoteAsset": instrument.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": SPOT_ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": instrument.active,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(instrument.tick), "maxPrice": fmt(Decimal(1_000_000)), "tickSize": fmt(instrument.tick)},
            {"filterType": "LOT_SIZE", "minQty": fmt(instrument.min_qty), "maxQty": fmt(Decimal(9000)), "stepSize": fmt(instrument.lot)},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": fmt(Decimal(0)), "maxQty": fmt(Decimal(100)), "stepSize": fmt(Decimal(0))},
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(instrument.min_notional),
                "applyMinToMarket": True,
                "maxNotional": fmt(Decimal(9_000_000)),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
    }


def _perp_symbol_info(symbol: str, instrument: Instrument) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING" if instrument.active else "SETTLING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": instrument.base,
        "quoteAsset": instrument.quote,
        "marginAsset": instrument.quote,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764", "tickSize": str(instrument.tick)},
            {"filterType": "LOT_SIZE", "stepSize": str(instrument.lot), "maxQty": "1000", "minQty": str(instrument.min_qty)},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": str(instrument.lot), "maxQty": "120", "minQty": str(instrument.min_qty)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": str(instrument.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }


def _rate_limits() -> list[dict[str, Any]]:
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]


def _requested_symbols(params: dict[str, str], instruments: dict[str, Instrument]) -> list[str]:
    if "symbol" in params:
        return [_instrument(params, instruments)[0]]
    if "symbols" in params:
        try:
            symbols = json.loads(params["symbols"])
        except ValueError:
            raise BinanceApiError(-1100, "Illegal characters found in parameter 'symbols'.") from None
        if any(symbol not in instruments for symbol in symbols):
            raise BinanceApiError(-1121, "Invalid symbol.")
        return list(symbols)
    return list(instruments)


def _public_routes(prefix: str, instruments: dict[str, Instrument], symbol_info: Any) -> list[web.RouteDef]:
    async def ping(request: web.Request) -> web.Response:
        return json_response({}, headers=_weight_headers(1))

    async def server_time(request: web.Request) -> web.Response:
        return json_response({"serverTime": now_ms()}, headers=_weight_headers(1))

    async def exchange_info(request: web.Request) -> web.Response:
        symbols = _requested_symbols(dict(request.query), instruments)
        payload: dict[str, Any] = {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": _rate_limits(), "exchangeFilters": []}
        if prefix == "/fapi/v1":
            payload |= {"futuresType": "U_MARGINED", "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}]}
        payload["symbols"] = [symbol_info(symbol, instruments[symbol]) for symbol in symbols]
        return json_response(payload, headers=_weight_headers(20))

    async def klines(request: web.Request) -> web.Response:
        params = dict(request.query)
        _, instrument = _instrument(params, instruments)
        interval_ms = INTERVALS_MS.get(params.get("interval", ""))
        if interval_ms is None:
            raise BinanceApiError(-1120, "Invalid interval.")
        limit = min(int(params.get("limit", 500)), 1500 if prefix == "/fapi/v1" else 1000)
        if limit < 1:
            raise BinanceApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.")
        now = now_ms()
        end = min(int(params["endTime"]), now) if "endTime" in params else now
        if "startTime" in params:
            start = int(params["startTime"])
            first = _align(start + interval_ms - 1, interval_ms)  # the first candle opening at or after startTime
        else:
            first = _align(end, interval_ms) - (limit - 1) * interval_ms
        rows = [candle for candle in request.app[MARKET].candles(instrument, interval_ms, first, limit, now) if candle.open_time <= end]
        return json_response([_kline_row(candle, interval_ms) for candle in rows], headers=_weight_headers(2))

    async def depth(request: web.Request) -> web.Response:
        params = dict(request.query)
        _, instrument = _instrument(params, instruments)
        limit = int(params.get("limit", 100))
        if not 1 <= limit <= 5000:
            raise BinanceApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1-5000'.")
        book = request.app[MARKET].book(instrument)
        payload: dict[str, Any] = {"lastUpdateId": book.update_id, "bids": _book_side(book.bids, limit), "asks": _book_side(book.asks, limit)}
        if prefix == "/fapi/v1":
            payload |= {"E": now_ms(), "T": now_ms()}
        return json_response(payload, headers=_weight_headers(5))

    async def ticker_24hr(request: web.Request) -> web.Response:
        params = dict(request.query)
        market_data = request.app[MARKET]
        symbols = _requested_symbols(params, instruments)
        tickers = [_ticker_json(symbol, market_data.ticker(instruments[symbol]), market_data, instruments[symbol]) for symbol in symbols]
        return json_response(tickers[0] if "symbol" in params else tickers, headers=_weight_headers(2 * len(tickers)))

    async def trades(request: web.Request) -> web.Response:
        params = dict(request.query)
        _, instrument = _instrument(params, instruments)
        market_data = request.app[MARKET]
        limit = min(int(params.get("limit", 500)), 1000)
        last = market_data.last_trade_id()
        rows = [market_data.trade(instrument, trade_id) for trade_id in range(last - limit + 1, last + 1)]
        payload = [
            {
                "id": trade.trade_id,
                "price": fmt(trade.price),
                "qty": fmt(trade.quantity),
                "quoteQty": fmt(trade.price * trade.quantity),
                "time": trade.time,
                "isBuyerMaker": trade.buyer_is_maker,
                "isBestMatch": True,
            }
            for trade in rows
        ]
        return json_response(payload, headers=_weight_headers(25))

    async def agg_trades(request: web.Request) -> web.Response:
        params = dict(request.query)
        _, instrument = _instrument(params, instruments)
        market_data = request.app[MARKET]
        limit = min(int(params.get("limit", 500)), 1000)
        if "fromId" in params:
            first = int(params["fromId"])
            rows = [market_data.trade(instrument, trade_id) for trade_id in range(first, min(first + limit, market_data.last_trade_id() + 1))]
        elif "startTime" in params:
            end = int(params.get("endTime", now_ms()))
            rows = market_data.trades_between(instrument, int(params["startTime"]), min(end, now_ms()))[:limit]
        else:
            last = market_data.last_trade_id()
            rows = [market_data.trade(instrument, trade_id) for trade_id in range(last - limit + 1, last + 1)]
        payload = [
            {
                "a": t.trade_id,
                "p": fmt(t.price),
                "q": fmt(t.quantity),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.time,
                "m": t.buyer_is_maker,
                "M": True,
            }
            for t in rows
        ]
        return json_response(payload, headers=_weight_headers(4))

    return [
        web.get(f"{prefix}/ping", ping),
        web.get(f"{prefix}/time", server_time),
        web.get(f"{prefix}/exchangeInfo", exchange_info),
        web.get(f"{prefix}/klines", klines),
        web.get(f"{prefix}/depth", depth),
        web.get(f"{prefix}/ticker/24hr", ticker_24hr),
        web.get(f"{prefix}/trades", trades),
        web.get(f"{prefix}/aggTrades", agg_trades),
    ]


# Signed REST ------------------------------------------------------------------------------


async def _signed_params(request: web.Request) -> dict[str, str]:
    """Binance's SIGNED endpoint rules: API key header, HMAC of queryString + body, recvWindow."""
    state = request.app[STATE]
    api_key = request.headers.get("X-MBX-APIKEY")
    if not api_key:
        raise BinanceApiError(-2014, "API-key format invalid.", status=401)
    if api_key != state.api_key:
        raise BinanceApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
    query, body = request.rel_url.raw_query_string, await request.text()
    signature_pattern = re.compile(r"(^|&)signature=([^&]*)")
    match = signature_pattern.search(query) or signature_pattern.search(body)
    if match is None or not match.group(2):
        raise BinanceApiError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    payload = signature_pattern.sub("", query) + signature_pattern.sub("", body)
    expected = hmac.new(state.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match.group(2).lower()):
        raise BinanceApiError(-1022, "Signature for this request is not valid.")
    params = dict(request.query) | dict(await request.post())
    params.pop("signature", None)
    if "timestamp" not in params:
        raise BinanceApiError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    recv_window = int(params.get("recvWindow", 5000))
    if recv_window > 60_000:
        raise BinanceApiError(-1131, "recvWindow must be less than 60000")
    timestamp, server_time = int(params["timestamp"]), now_ms()
    if timestamp > server_time + 1000 or server_time - timestamp > recv_window:
        raise BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
    return params


async def account(request: web.Request) -> web.Response:
    params = await _signed_params(request)
    state = request.app[STATE]
    balances = [{"asset": asset, "free": fmt(free), "locked": fmt(locked)} for asset, (free, locked) in state.balances.items()]
    if params.get("omitZeroBalances") == "true":
        balances = [balance for balance in balances if Decimal(balance["free"]) or Decimal(balance["locked"])]
    return json_response(
        {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 354937868,
        },
        headers=_weight_headers(20),
    )


def force_liquidation(state: BinanceState, *, symbol: str, side: str, quantity: Decimal, price: Decimal, at_ms: int | None = None) -> dict[str, Any]:
    """The venue liquidates a USDⓈ-M position: a filled `autoclose-` order in the force-order history."""
    at = at_ms or now_ms()
    order_id = next(state.order_ids)
    row = {
        "orderId": order_id,
        "symbol": symbol,
        "status": "FILLED",
        "clientOrderId": f"autoclose-{at}{order_id % 1_000_000:06d}",
        "price": fmt(price),
        "avgPrice": fmt(price),
        "origQty": fmt(quantity),
        "executedQty": fmt(quantity),
        "cumQuote": fmt(quantity * price),
        "timeInForce": "IOC",
        "type": "LIMIT",
        "reduceOnly": False,
        "closePosition": False,
        "side": side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "origType": "LIMIT",
        "time": at,
        "updateTime": at,
    }
    state.force_orders.append(row)
    return row


async def force_orders(request: web.Request) -> web.Response:
    """GET /fapi/v1/forceOrders: the account's liquidation (and ADL) orders, newest first, as Binance answers."""
    params = await _signed_params(request)
    rows = list(request.app[STATE].force_orders)
    if "symbol" in params:
        rows = [row for row in rows if row["symbol"] == params["symbol"]]
    if params.get("autoCloseType") == "LIQUIDATION":
        rows = [row for row in rows if row["clientOrderId"].startswith("autoclose-")]
    if "startTime" in params:
        rows = [row for row in rows if row["time"] >= int(params["startTime"])]
    if "endTime" in params:
        rows = [row for row in rows if row["time"] <= int(params["endTime"])]
    limit = min(int(params.get("limit", 50)), 100)
    return json_response(sorted(rows, key=lambda row: row["time"], reverse=True)[:limit], headers=_weight_headers(20))


def _check_filters(instrument: Instrument, quantity: Decimal, price: Decimal | None) -> None:
    if quantity < instrument.min_qty or quantity % instrument.lot:
        raise BinanceApiError(-1013, "Filter failure: LOT_SIZE")
    if price is not None and (price <= 0 or price % instrument.tick):
        raise BinanceApiError(-1013, "Filter failure: PRICE_FILTER")


def _fill(state: BinanceState, order: SpotOrder, instrument: Instrument, price: Decimal) -> None:
    """Fill the whole order at `price`, paying the commission in the asset received."""
    cost = order.quantity * price
    if order.side == "BUY":
        commission, commission_asset = order.quantity * COMMISSION, instrument.base
        state.move(instrument.quote, -cost)
        state.move(instrument.base, order.quantity - commission)
    else:
        commission, commission_asset = cost * COMMISSION, instrument.quote
        state.move(instrument.base, -order.quantity)
        state.move(instrument.quote, cost - commission)
    order.executed, order.quote_executed, order.status = order.quantity, cost, "FILLED"
    order.fills.append(
        {
            "price": fmt(price),
            "qty": fmt(order.quantity),
            "commission": fmt(commission),
            "commissionAsset": commission_asset,
            "tradeId": next(state.trade_ids),
        }
    )


def _lock(state: BinanceState, order: SpotOrder, instrument: Instrument) -> None:
    asset, amount = (instrument.quote, order.quantity * (order.price or order.stop_price)) if order.side == "BUY" else (instrument.base, order.quantity)
    state.move(asset, -amount, amount)
    order.locked = (asset, amount)


def _order_numbers(params: dict[str, str], order_type: str, instrument: Instrument, best_ask: Decimal) -> tuple[Decimal, Decimal | None, Decimal]:
    """Quantity, limit price and stop price, checked against LOT_SIZE, PRICE_FILTER and NOTIONAL."""
    for name in MANDATORY[order_type]:
        if not params.get(name):
            raise BinanceApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    if order_type == "MARKET" and "quantity" not in params:
        params = params | {"quantity": str(_decimal(params, "quoteOrderQty") / best_ask // instrument.lot * instrument.lot)}
    quantity = _decimal(params, "quantity")
    price = _decimal(params, "price") if "price" in MANDATORY[order_type] else None
    stop_price = _decimal(params, "stopPrice") if "stopPrice" in MANDATORY[order_type] else Decimal(0)
    _check_filters(instrument, quantity, price)
    if stop_price % instrument.tick:
        raise BinanceApiError(-1013, "Filter failure: PRICE_FILTER")
    if (price or stop_price or best_ask) * quantity < instrument.min_notional:
        raise BinanceApiError(-1013, "Filter failure: NOTIONAL")
    return quantity, price, stop_price


def _match(state: BinanceState, order: SpotOrder, instrument: Instrument, best_bid: Decimal, best_ask: Decimal) -> None:
    """Market and marketable limit orders fill at the touch; IOC/FOK leftovers expire; the rest rest."""
    marketable = order.price > 0 and (order.price >= best_ask if order.side == "BUY" else order.price <= best_bid)
    if order.type == "LIMIT_MAKER" and marketable:
        raise BinanceApiError(-2010, "Order would immediately match and take.")
    if order.type == "MARKET" or (order.type == "LIMIT" and marketable):
        _fill(state, order, instrument, best_ask if order.side == "BUY" else best_bid)
    elif order.type == "LIMIT" and order.time_in_force in ("IOC", "FOK"):
        order.status = "EXPIRED"
    else:
        _lock(state, order, instrument)


def _new_order(params: dict[str, str], state: BinanceState, market_data: MarketData) -> SpotOrder:
    symbol, instrument = _instrument(params, SPOT)
    side, order_type = params.get("side", ""), params.get("type", "")
    if side not in ("BUY", "SELL"):
        raise BinanceApiError(-1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
    if order_type not in MANDATORY:
        raise BinanceApiError(-1116, "Invalid orderType.")
    if not instrument.active:
        raise BinanceApiError(-1013, "Market is closed.")
    book = market_data.book(instrument, levels=1)
    best_bid, best_ask = book.bids[0][0], book.asks[0][0]
    quantity, price, stop_price = _order_numbers(params, order_type, instrument, best_ask)
    client_order_id = params.get("newClientOrderId") or f"web_{len(state.orders) + 1:012x}"
    if any(order.is_open and order.client_order_id == client_order_id for order in state.orders.values()):
        raise BinanceApiError(-2010, "Duplicate order sent.")
    needed_asset, needed = (instrument.quote, quantity * (price or stop_price or best_ask)) if side == "BUY" else (instrument.base, quantity)
    if state.free(needed_asset) < needed:
        raise BinanceApiError(-2010, "Account has insufficient balance for requested action.")
    now = now_ms()
    order = SpotOrder(
        order_id=next(state.order_ids),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        type=order_type,
        time_in_force=params.get("timeInForce", "GTC"),
        price=price or Decimal(0),
        stop_price=stop_price,
        quantity=quantity,
        time=now,
        update_time=now,
    )
    _match(state, order, instrument, best_bid, best_ask)
    state.orders[order.order_id] = order
    # What the stream says last: resting (NEW), filled at once (TRADE) or an IOC/FOK leftover (EXPIRED).
    state.publish(order, {"NEW": "NEW", "FILLED": "TRADE"}.get(order.status, order.status))
    return order


def fill_resting_order(state: BinanceState, order: SpotOrder, price: Decimal) -> None:
    """The market trades through a resting order: it fills whole at `price` and the user-data stream says so."""
    instrument = SPOT[order.symbol]
    if order.locked is not None:
        asset, amount = order.locked
        state.move(asset, amount, -amount)
        order.locked = None
    _fill(state, order, instrument, price)
    order.update_time = now_ms()
    state.publish(order, "TRADE")


async def post_order(request: web.Request) -> web.Response:
    params = await _signed_params(request)
    order = _new_order(params, request.app[STATE], request.app[MARKET])
    response_type = params.get("newOrderRespType", "FULL" if order.type in ("MARKET", "LIMIT") else "ACK")
    ack = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1, "clientOrderId": order.client_order_id, "transactTime": order.time}
    if response_type == "ACK":
        return json_response(ack)
    result = ack | {k: v for k, v in order.as_json().items() if k not in ("time", "updateTime", "isWorking", "icebergQty")}
    result["workingTime"] = order.time
    if not order.stop_price:
        result.pop("stopPrice")
    if response_type == "FULL":
        result["fills"] = order.fills
    return json_response(result)


def _lookup(params: dict[str, str]) -> tuple[str | None, str | None]:
    _instrument(params, SPOT)
    order_id, client_order_id = params.get("orderId"), params.get("origClientOrderId")
    if order_id is None and client_order_id is None:
        raise BinanceApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    return order_id, client_order_id


async def get_order(request: web.Request) -> web.Response:
    params = await _signed_params(request)
    state = request.app[STATE]
    order = state.order_by(params["symbol"], *_lookup(params))
    if order is None:
        raise BinanceApiError(-2013, "Order does not exist.")
    return json_response(order.as_json(), headers=_weight_headers(4))


async def delete_order(request: web.Request) -> web.Response:
    params = await _signed_params(request)
    state = request.app[STATE]
    order = state.order_by(params["symbol"], *_lookup(params))
    if order is None or not order.is_open:
        raise BinanceApiError(-2011, "Unknown order sent.")
    if order.locked is not None:
        asset, amount = order.locked
        state.move(asset, amount, -amount)
        order.locked = None
    order.status, order.update_time = "CANCELED", now_ms()
    state.publish(order, "CANCELED")
    payload = order.as_json()
    cancel_id = params.get("newClientOrderId") or f"cancel_{order.order_id:x}"
    payload = {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_id,
        "transactTime": order.update_time,
    } | {
        key: payload[key]
        for key in (
            "price",
            "origQty",
            "executedQty",
            "origQuoteOrderQty",
            "cummulativeQuoteQty",
            "status",
            "timeInForce",
            "type",
            "side",
            "selfTradePreventionMode",
        )
    }
    if order.stop_price:
        payload["stopPrice"] = fmt(order.stop_price)
    return json_response(payload)


async def open_orders(request: web.Request) -> web.Response:
    params = await _signed_params(request)
    state = request.app[STATE]
    symbol = _instrument(params, SPOT)[0] if "symbol" in params else None
    orders = [order.as_json() for order in state.orders.values() if order.is_open and symbol in (None, order.symbol)]
    return json_response(orders, headers=_weight_headers(6 if symbol else 80))


# Streams ----------------------------------------------------------------------------------

FIRST_EVENT_LOOKBACK = 50  # book updates a first depth event covers (a snapshot taken while subscribing is older)
STREAM_NAME = re.compile(
    r"^(?P<symbol>[a-z0-9]+)@(?P<kind>kline_(?P<interval>\w+)|depth(?P<levels>5|10|20)?(?:@(?P<speed>100ms|250ms|500ms|1000ms))?"
    r"|ticker|miniTicker|trade|aggTrade)$"
)


@dataclass
class _Stream:
    symbol: str
    kind: str
    instrument: Instrument
    interval: str | None = None
    levels: int | None = None
    last_update_id: int | None = None
    last_trade_id: int | None = None


class StreamSession:
    """One client connection: its subscriptions and what it was last sent on each."""

    def __init__(self, ws: web.WebSocketResponse, market_data: MarketData, instruments: dict[str, Instrument], combined: bool) -> None:
        self.ws, self.market_data, self.instruments, self.combined = ws, market_data, instruments, combined
        self.streams: dict[str, _Stream] = {}
        self.futures = instruments is PERPETUALS

    def parse(self, name: str) -> _Stream | None:
        match = STREAM_NAME.match(name)
        if match is None or match["symbol"].upper() not in self.instruments:
            return None
        if match["interval"] is not None and match["interval"] not in INTERVALS_MS:
            return None
        kind = "kline" if match["interval"] else ("depth" if match["kind"].startswith("depth") else match["kind"])
        levels = int(match["levels"]) if match["levels"] else None
        return _Stream(match["symbol"].upper(), kind, self.instruments[match["symbol"].upper()], match["interval"], levels)

    async def on_request(self, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            await self.ws.send_json({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}})
            return
        method, request_id, params = request.get("method"), request.get("id"), request.get("params", [])
        if method == "SUBSCRIBE":
            parsed = {name: self.parse(name) for name in params}
            invalid = [name for name, stream in parsed.items() if stream is None]
            if invalid:
                await self.ws.send_json({"error": {"code": 2, "msg": f"Invalid request: unknown stream {invalid[0]}"}, "id": request_id})
                return
            await self.ws.send_json({"result": None, "id": request_id})
            self.streams.update({name: stream for name, stream in parsed.items() if stream is not None})
            await self.push(only=params)  # streams start at once, before the client can fetch a snapshot
        elif method == "UNSUBSCRIBE":
            for name in params:
                self.streams.pop(name, None)
            await self.ws.send_json({"result": None, "id": request_id})
        elif method == "LIST_SUBSCRIPTIONS":
            await self.ws.send_json({"result": list(self.streams), "id": request_id})
        else:
            await self.ws.send_json({"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"}, "id": request_id})

    async def push(self, only: list[str] | None = None) -> None:
        for name, stream in list(self.streams.items()):
            if only is not None and name not in only:
                continue
            for payload in self.payloads(stream):
                await self.ws.send_json({"stream": name, "data": payload} if self.combined else payload)

    def payloads(self, stream: _Stream) -> list[dict[str, Any]]:
        now = now_ms()
        if stream.kind == "kline":
            return [self.kline(stream, now)]
        if stream.kind == "depth":
            return self.depth(stream, now)
        if stream.kind in ("ticker", "miniTicker"):
            stats = self.market_data.ticker(stream.instrument, now)
            full = _ticker_json(stream.symbol, stats, self.market_data, stream.instrument)
            keys = {"p": "priceChange", "P": "priceChangePercent", "w": "weightedAvgPrice", "x": "prevClosePrice", "c": "lastPrice"}
            keys |= {"Q": "lastQty", "b": "bidPrice", "B": "bidQty", "a": "askPrice", "A": "askQty", "o": "openPrice", "h": "highPrice"}
            keys |= {"l": "lowPrice", "v": "volume", "q": "quoteVolume", "O": "openTime", "C": "closeTime", "F": "firstId", "L": "lastId", "n": "count"}
            if stream.kind == "miniTicker":
                keys = {short: keys[short] for short in ("c", "o", "h", "l", "v", "q")}
            event = "24hrTicker" if stream.kind == "ticker" else "24hrMiniTicker"
            return [{"e": event, "E": now, "s": stream.symbol} | {short: full[long] for short, long in keys.items()}]
        return self.trades(stream, now)

    def kline(self, stream: _Stream, now: int) -> dict[str, Any]:
        assert stream.interval is not None
        interval_ms = INTERVALS_MS[stream.interval]
        candle = self.market_data.candle(stream.instrument, interval_ms, _align(now, interval_ms), now)
        first_trade = -(-candle.open_time // 500)
        return {
            "e": "kline",
            "E": now,
            "s": stream.symbol,
            "k": {
                "t": candle.open_time,
                "T": candle.open_time + interval_ms - 1,
                "s": stream.symbol,
                "i": stream.interval,
                "f": first_trade,
                "L": self.market_data.last_trade_id(now),
                "o": fmt(candle.open),
                "c": fmt(candle.close),
                "h": fmt(candle.high),
                "l": fmt(candle.low),
                "v": fmt(candle.volume),
                "n": self.market_data.last_trade_id(now) - first_trade + 1,
                "x": candle.closed,
                "q": fmt(candle.quote_volume),
                "V": fmt(candle.volume / 2),
                "Q": fmt(candle.quote_volume / 2),
                "B": "0",
            },
        }

    def depth(self, stream: _Stream, now: int) -> list[dict[str, Any]]:
        update_id = current_book_update_id()
        if stream.levels is not None:  # partial book stream: the top levels, whole
            book = self.market_data.book(stream.instrument, update_id, stream.levels)
            return [{"lastUpdateId": update_id, "bids": _book_side(book.bids, stream.levels), "asks": _book_side(book.asks, stream.levels)}]
        previous = stream.last_update_id
        if previous is not None and previous >= update_id:
            return []
        book = self.market_data.book(stream.instrument, update_id, BOOK_LEVELS)
        # a client may hold a REST snapshot from anywhere after our last event: cover (previous, update_id];
        # before the first event, from a snapshot up to FIRST_EVENT_LOOKBACK updates old (fetched while subscribing)
        since = previous if previous is not None else update_id - FIRST_EVENT_LOOKBACK
        bids, asks = book_diff(self.market_data, stream.instrument, since, book)
        first = since + 1
        stream.last_update_id = update_id
        event: dict[str, Any] = {"e": "depthUpdate", "E": now, "s": stream.symbol, "U": first, "u": update_id, "b": bids, "a": asks}
        if self.futures:
            event |= {"T": now, "pu": previous if previous is not None else update_id - 1}
        return [event]

    def trades(self, stream: _Stream, now: int) -> list[dict[str, Any]]:
        last = self.market_data.last_trade_id(now)
        first = last if stream.last_trade_id is None else stream.last_trade_id + 1
        stream.last_trade_id = last
        events = []
        for trade in (self.market_data.trade(stream.instrument, trade_id) for trade_id in range(first, last + 1)):
            common = {"E": now, "s": stream.symbol, "p": fmt(trade.price), "q": fmt(trade.quantity), "T": trade.time, "m": trade.buyer_is_maker, "M": True}
            if stream.kind == "trade":
                events.append({"e": "trade", "t": trade.trade_id} | common)
            else:
                events.append({"e": "aggTrade", "a": trade.trade_id, "f": trade.trade_id, "l": trade.trade_id} | common)
        return events


def _stream_handler(instruments: dict[str, Instrument], combined: bool) -> Any:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        control = request.app[CONTROL]
        control.register(ws)
        session = StreamSession(ws, request.app[MARKET], instruments, combined)
        initial = request.match_info.get("tail") or ""
        names = request.query.get("streams", "").split("/") if combined else [initial]
        session.streams.update({name: stream for name in names if name and (stream := session.parse(name)) is not None})

        async def pusher() -> None:
            while not ws.closed:
                await session.push()
                await asyncio.sleep(request.app[WS_INTERVAL])

        task = asyncio.create_task(pusher())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await session.on_request(message.data)
        finally:
            task.cancel()
            control.unregister(ws)
        return ws

    return handler


# WebSocket API: the user-data stream ----------------------------------------------------------


def _ws_api_error(request_id: Any, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": request_id, "status": status, "error": {"code": code, "msg": msg}}


def _check_ws_signature(state: BinanceState, params: dict[str, Any]) -> dict[str, Any] | None:
    """Binance's WebSocket API SIGNED rules: apiKey, timestamp, and the HMAC of the other params sorted by name."""
    if params.get("apiKey") != state.api_key:
        return {"status": 401, "code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
    signature = str(params.get("signature") or "")
    payload = "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "signature")
    expected = hmac.new(state.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.lower()):
        return {"status": 400, "code": -1022, "msg": "Signature for this request is not valid."}
    timestamp, recv_window = int(params.get("timestamp") or 0), int(params.get("recvWindow") or 5000)
    if abs(now_ms() - timestamp) > recv_window:
        return {"status": 400, "code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    return None


async def ws_api(request: web.Request) -> web.WebSocketResponse:
    """`/ws-api/v3`: requests and replies by id; after `userDataStream.subscribe.signature`, every order
    event of the account arrives as {"subscriptionId": n, "event": {...executionReport}}."""
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    control, state = request.app[CONTROL], request.app[STATE]
    control.register(ws)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    subscriber = (asyncio.get_running_loop(), queue)
    subscription: list[int] = []

    async def forward() -> None:
        while not ws.closed:
            event = await queue.get()
            await ws.send_str(json.dumps({"subscriptionId": subscription[0], "event": event}))

    forwarder = asyncio.create_task(forward())
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            request_json = json.loads(message.data)
            request_id, method = request_json.get("id"), request_json.get("method")
            if method == "userDataStream.subscribe.signature":
                refused = _check_ws_signature(state, dict(request_json.get("params") or {}))
                if refused is not None:
                    await ws.send_str(json.dumps(_ws_api_error(request_id, refused["status"], refused["code"], refused["msg"])))
                    continue
                if not subscription:
                    subscription.append(0)
                    state.subscribers.append(subscriber)
                await ws.send_str(json.dumps({"id": request_id, "status": 200, "result": {"subscriptionId": subscription[0]}}))
            elif method == "userDataStream.unsubscribe" and subscription:
                state.subscribers.remove(subscriber)
                subscription.clear()
                await ws.send_str(json.dumps({"id": request_id, "status": 200, "result": {}}))
            else:
                await ws.send_str(json.dumps(_ws_api_error(request_id, 400, -1100, f"Unknown method {method!r}.")))
    finally:
        forwarder.cancel()
        if subscriber in state.subscribers:
            state.subscribers.remove(subscriber)
        control.unregister(ws)
    return ws


# The application --------------------------------------------------------------------------


@web.middleware
async def binance_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except BinanceApiError as error:
        return error.response()
    except (ValueError, KeyError, InvalidOperation):
        return BinanceApiError(-1100, "Illegal characters found in a parameter.").response()


def create_app(control: VenueControl, market_data: MarketData, *, ws_interval: float = 0.1) -> web.Application:
    app = web.Application(middlewares=[fault_middleware(control, error_response), binance_errors])
    app[STATE] = BinanceState()
    app[CONTROL] = control
    app[MARKET] = market_data
    app[WS_INTERVAL] = ws_interval
    app.add_routes(_public_routes("/api/v3", SPOT, _spot_symbol_info))
    app.add_routes(_public_routes("/fapi/v1", PERPETUALS, _perp_symbol_info))
    app.add_routes(
        [
            web.get("/api/v3/account", account),
            web.post("/api/v3/order", post_order),
            web.get("/api/v3/order", get_order),
            web.delete("/api/v3/order", delete_order),
            web.get("/api/v3/openOrders", open_orders),
            web.get("/fapi/v1/forceOrders", force_orders),
            web.get("/ws", _stream_handler(SPOT, combined=False)),
            web.get("/ws/{tail}", _stream_handler(SPOT, combined=False)),
            web.get("/stream", _stream_handler(SPOT, combined=True)),
            web.get("/ws-api/v3", ws_api),
        ]
    )
    for category in ("public", "market"):
        app.router.add_get(f"/{category}/ws", _stream_handler(PERPETUALS, combined=False))
        app.router.add_get(f"/{category}/ws/{{tail}}", _stream_handler(PERPETUALS, combined=False))
    return app
