"""A local OKX v5: public REST (time, instruments, candles, history-candles) in OKX's envelope
`{"code", "msg", "data"}`. Swaps are quoted in contracts of `ctVal` base units.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.venues.server import CandleData, Instrument, MarketData, VenueControl, fault_middleware, html_error, json_response, now_ms

D = Decimal
SPOT: dict[str, Instrument] = {
    "BTC-USDT": Instrument("BTC", "USDT", D("0.1"), D("0.00000001"), D("0.00001"), D("0"), D("60000"), max_leverage=10),
    "ETH-USDT": Instrument("ETH", "USDT", D("0.01"), D("0.000001"), D("0.0001"), D("0"), D("3000"), max_leverage=10),
    "OLD-USDT": Instrument("OLD", "USDT", D("0.0001"), D("0.0001"), D("1"), D("0"), D("0.2"), active=False),
}
SWAP: dict[str, Instrument] = {
    "BTC-USDT-SWAP": Instrument("BTC", "USDT", D("0.1"), D("0.01"), D("0.01"), D("0"), D("60000"), perpetual=True, max_leverage=100, contract_size=D("0.01")),
    "ETH-USDT-SWAP": Instrument("ETH", "USDT", D("0.01"), D("0.01"), D("0.01"), D("0"), D("3000"), perpetual=True, max_leverage=100, contract_size=D("0.1")),
    "BTC-USD-SWAP": Instrument("BTC", "USD", D("0.1"), D("1"), D("1"), D("0"), D("60000"), perpetual=True, max_leverage=100, contract_size=D("100")),
}
HOUR = 3_600_000
# bar -> (length, offset of the open times): plain day bars open at 00:00 Hong Kong time (16:00 UTC)
BARS: dict[str, tuple[int, int]] = {
    "1m": (60_000, 0),
    "3m": (180_000, 0),
    "5m": (300_000, 0),
    "15m": (900_000, 0),
    "30m": (1_800_000, 0),
    "1H": (HOUR, 0),
    "2H": (2 * HOUR, 0),
    "4H": (4 * HOUR, 0),
    "6H": (6 * HOUR, -8 * HOUR),
    "12H": (12 * HOUR, -8 * HOUR),
    "1D": (24 * HOUR, -8 * HOUR),
    "6Hutc": (6 * HOUR, 0),
    "12Hutc": (12 * HOUR, 0),
    "1Dutc": (24 * HOUR, 0),
}
RECENT_CANDLES = 1440  # /market/candles serves only the latest 1,440 bars; older ones are history
MAX_LIMIT = 300
MARKET = web.AppKey("okx_market_data", MarketData)


class OkxApiError(Exception):
    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def envelope(data: list[Any], code: str = "0", msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def error_response(status: int) -> web.Response:
    if status in (418, 429):
        return json_response(envelope([], "50011", "Too Many Requests"), status=status)
    return html_error(status)


def _instrument_info(inst_id: str, instrument: Instrument, inst_type: str) -> dict[str, Any]:
    swap = inst_type == "SWAP"
    linear = instrument.quote != "USD"
    family = f"{instrument.base}-{instrument.quote}"
    return {
        "instType": inst_type,
        "instId": inst_id,
        "instIdCode": zlib.crc32(inst_id.encode()) % 100_000,
        "uly": family if swap else "",
        "instFamily": family if swap else "",
        "baseCcy": "" if swap else instrument.base,
        "quoteCcy": "" if swap else instrument.quote,
        "settleCcy": (instrument.quote if linear else instrument.base) if swap else "",
        "ctVal": str(instrument.contract_size) if swap else "",
        "ctMult": "1" if swap else "",
        "ctValCcy": (instrument.base if linear else instrument.quote) if swap else "",
        "ctType": ("linear" if linear else "inverse") if swap else "",
        "optType": "",
        "stk": "",
        "listTime": "1611907686000",
        "contTdSwTime": "1611907686000",
        "expTime": "",
        "lever": str(instrument.max_leverage) if instrument.max_leverage > 1 else "",
        "tickSz": str(instrument.tick),
        "lotSz": str(instrument.lot),
        "minSz": str(instrument.min_qty),
        "alias": "",
        "state": "live" if instrument.active else "suspend",
        "ruleType": "normal",
        "maxLmtSz": "9999999999",
        "maxMktSz": "1000000" if not swap else "12000",
        "maxLmtAmt": "20000000",
        "maxMktAmt": "1000000",
        "maxTwapSz": "9999999999",
        "maxIcebergSz": "9999999999",
        "maxTriggerSz": "9999999999",
        "maxStopSz": "1000000",
        "futureSettlement": False,
    }


async def server_time(request: web.Request) -> web.Response:
    return json_response(envelope([{"ts": str(now_ms())}]))


async def instruments(request: web.Request) -> web.Response:
    inst_type = request.query.get("instType")
    if not inst_type:
        raise OkxApiError("50014", "Parameter instType can not be empty.", status=400)
    catalogue = {"SPOT": SPOT, "SWAP": SWAP}.get(inst_type, {})
    if inst_type not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
        raise OkxApiError("51000", "Parameter instType error", status=400)
    rows = [_instrument_info(inst_id, instrument, inst_type) for inst_id, instrument in catalogue.items()]
    if "instId" in request.query:
        rows = [row for row in rows if row["instId"] == request.query["instId"]]
    return json_response(envelope(rows))


def _candle_row(candle: CandleData, instrument: Instrument, swap: bool) -> list[str]:
    if swap:  # vol in contracts, volCcy in base currency
        volumes = [str(candle.volume / instrument.contract_size), str(candle.volume), str(candle.quote_volume)]
    else:  # vol in base currency, volCcy and volCcyQuote in quote currency
        volumes = [str(candle.volume), str(candle.quote_volume), str(candle.quote_volume)]
    return [str(candle.open_time), str(candle.open), str(candle.high), str(candle.low), str(candle.close), *volumes, "1" if candle.closed else "0"]


def _candles_handler(history: bool) -> Any:
    async def handler(request: web.Request) -> web.Response:
        params = request.query
        inst_id = params.get("instId", "")
        instrument = SPOT.get(inst_id) or SWAP.get(inst_id)
        if instrument is None:
            raise OkxApiError("51001", "Instrument ID does not exist.")
        if params.get("bar", "1m") not in BARS:
            raise OkxApiError("51000", "Parameter bar error")
        length, offset = BARS[params.get("bar", "1m")]
        limit = min(int(params.get("limit", 100)), MAX_LIMIT)
        now = now_ms()
        current_open = (now - offset) // length * length + offset
        # after: records older than this ts; before: records newer than this ts; newest first
        newest = min(current_open, (int(params["after"]) - 1 - offset) // length * length + offset) if "after" in params else current_open
        oldest_allowed = int(params["before"]) + 1 if "before" in params else None
        if not history:
            floor = current_open - (RECENT_CANDLES - 1) * length
            oldest_allowed = max(floor, oldest_allowed) if oldest_allowed is not None else floor
        first = newest - (limit - 1) * length
        candles = request.app[MARKET].candles(instrument, length, first, limit, now)
        if oldest_allowed is not None:
            candles = [candle for candle in candles if candle.open_time >= oldest_allowed]
        swap = inst_id in SWAP
        return json_response(envelope([_candle_row(candle, instrument, swap) for candle in reversed(candles)]))

    return handler


@web.middleware
async def okx_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except OkxApiError as error:
        return json_response(envelope([], error.code, error.msg), status=error.status)
    except ValueError:
        return json_response(envelope([], "50014", "Parameter error"), status=400)


def create_app(control: VenueControl, market_data: MarketData) -> web.Application:
    app = web.Application(middlewares=[fault_middleware(control, error_response), okx_errors])
    app[MARKET] = market_data
    app.add_routes(
        [
            web.get("/api/v5/public/time", server_time),
            web.get("/api/v5/public/instruments", instruments),
            web.get("/api/v5/market/candles", _candles_handler(history=False)),
            web.get("/api/v5/market/history-candles", _candles_handler(history=True)),
        ]
    )
    return app
