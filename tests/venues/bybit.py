"""A local Bybit v5: public market REST (time, instruments-info with cursor paging, kline) in
Bybit's envelope `{"retCode", "retMsg", "result", "retExtInfo", "time"}`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.venues.server import Instrument, MarketData, VenueControl, fault_middleware, html_error, json_response, now_ms

D = Decimal
SPOT: dict[str, Instrument] = {
    "BTCUSDT": Instrument("BTC", "USDT", D("0.01"), D("0.000001"), D("0.000048"), D("1"), D("60000")),
    "ETHUSDT": Instrument("ETH", "USDT", D("0.01"), D("0.00001"), D("0.00062"), D("1"), D("3000")),
    "OLDUSDT": Instrument("OLD", "USDT", D("0.0001"), D("0.01"), D("0.01"), D("1"), D("0.2"), active=False),
}
LINEAR: dict[str, Instrument] = {
    "BTCUSDT": Instrument("BTC", "USDT", D("0.10"), D("0.001"), D("0.001"), D("5"), D("60000"), perpetual=True, max_leverage=100),
    "ETHUSDT": Instrument("ETH", "USDT", D("0.01"), D("0.01"), D("0.01"), D("5"), D("3000"), perpetual=True, max_leverage=50),
    "BTCPERP": Instrument("BTC", "USDC", D("0.50"), D("0.001"), D("0.001"), D("5"), D("60000"), perpetual=True, max_leverage=100),
}
INTERVALS_MS = {
    "1": 60_000,
    "3": 180_000,
    "5": 300_000,
    "15": 900_000,
    "30": 1_800_000,
    "60": 3_600_000,
    "120": 7_200_000,
    "240": 14_400_000,
    "360": 21_600_000,
    "720": 43_200_000,
    "D": 86_400_000,
}
MAX_KLINES = 1000
MARKET = web.AppKey("bybit_market_data", MarketData)


class BybitApiError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def envelope(result: Any, code: int = 0, msg: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms()}


def error_response(status: int) -> web.Response:
    if status in (418, 429):
        return json_response(envelope({}, 10006, "Too many visits!"), status=status, headers={"X-Bapi-Limit-Status": "0"})
    return html_error(status)


def _spot_info(symbol: str, instrument: Instrument) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "baseCoin": instrument.base,
        "quoteCoin": instrument.quote,
        "innovation": "0",
        "status": "Trading" if instrument.active else "Closed",
        "marginTrading": "utaOnly",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": str(instrument.lot),
            "quotePrecision": "0.00000001",
            "minOrderQty": str(instrument.min_qty),
            "maxOrderQty": "71.73956243",
            "minOrderAmt": str(instrument.min_notional),
            "maxOrderAmt": "2000000",
        },
        "priceFilter": {"tickSize": str(instrument.tick)},
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
    }


def _linear_info(symbol: str, instrument: Instrument) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading" if instrument.active else "Closed",
        "baseCoin": instrument.base,
        "quoteCoin": instrument.quote,
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(-instrument.tick.as_tuple().exponent),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{instrument.max_leverage}.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": str(instrument.tick), "maxPrice": "1999999.80", "tickSize": str(instrument.tick)},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": str(instrument.min_qty),
            "qtyStep": str(instrument.lot),
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": str(instrument.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": instrument.quote,
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "displayName": "",
    }


async def server_time(request: web.Request) -> web.Response:
    now = now_ms()
    return json_response(envelope({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}))


async def instruments_info(request: web.Request) -> web.Response:
    params = request.query
    category = params.get("category")
    if category == "spot":
        rows = [_spot_info(symbol, instrument) for symbol, instrument in SPOT.items()]
    elif category == "linear":
        rows = [_linear_info(symbol, instrument) for symbol, instrument in LINEAR.items()]
    elif category in ("inverse", "option"):
        rows = []
    else:
        raise BybitApiError(10001, "params error: Category is invalid")
    if "symbol" in params:
        rows = [row for row in rows if row["symbol"] == params["symbol"]]
    wanted_status = params.get("status", "Trading" if category != "spot" else None)
    if wanted_status is not None:
        rows = [row for row in rows if row["status"] == wanted_status]
    if category == "spot":
        return json_response(envelope({"category": category, "list": rows}))
    limit = min(int(params.get("limit", 500)), 1000)
    offset = int(params.get("cursor", "0") or 0)
    page = rows[offset : offset + limit]
    next_cursor = str(offset + limit) if offset + limit < len(rows) else ""
    return json_response(envelope({"category": category, "list": page, "nextPageCursor": next_cursor}))


async def kline(request: web.Request) -> web.Response:
    params = request.query
    category = params.get("category", "linear")
    instruments = {"spot": SPOT, "linear": LINEAR}.get(category)
    if instruments is None:
        raise BybitApiError(10001, "params error: Category is invalid")
    instrument = instruments.get(params.get("symbol", ""))
    if instrument is None:
        raise BybitApiError(10001, "Not supported symbols")
    interval_ms = INTERVALS_MS.get(params.get("interval", ""))
    if interval_ms is None:
        raise BybitApiError(10001, "Invalid period!")
    limit = int(params.get("limit", 200))
    if not 1 <= limit <= MAX_KLINES:
        raise BybitApiError(10001, "params error: limit must be between 1 and 1000")
    now = now_ms()
    end = min(int(params["end"]), now) if "end" in params else now
    if "start" in params:  # the candle containing `start`, then forward
        first = int(params["start"]) // interval_ms * interval_ms
    else:
        first = end // interval_ms * interval_ms - (limit - 1) * interval_ms
    candles = [candle for candle in request.app[MARKET].candles(instrument, interval_ms, first, limit, now) if candle.open_time <= end]
    rows = [[str(c.open_time), str(c.open), str(c.high), str(c.low), str(c.close), str(c.volume), str(c.quote_volume)] for c in reversed(candles)]
    return json_response(envelope({"symbol": params["symbol"], "category": category, "list": rows}))


@web.middleware
async def bybit_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except BybitApiError as error:
        return json_response(envelope({}, error.code, error.msg))
    except ValueError:
        return json_response(envelope({}, 10001, "params error"))


def create_app(control: VenueControl, market_data: MarketData) -> web.Application:
    app = web.Application(middlewares=[fault_middleware(control, error_response), bybit_errors])
    app[MARKET] = market_data
    app.add_routes(
        [
            web.get("/v5/market/time", server_time),
            web.get("/v5/market/instruments-info", instruments_info),
            web.get("/v5/market/kline", kline),
        ]
    )
    return app
