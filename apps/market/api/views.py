from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.params import datetime_param, int_param, int_parameter, required_param, text_parameter
from apps.exchanges.domain.timeframes import TIMEFRAMES
from apps.exchanges.selectors import exchange_get, symbol_get, symbol_list
from apps.market.selectors import (
    DEFAULT_CANDLES_PER_REQUEST,
    MAX_BOOK_DEPTH,
    MAX_CANDLES_PER_REQUEST,
    candle_series_json,
    check_timeframe,
    order_book_dict,
    ticker_dicts,
)

EXCHANGE_PARAM = text_parameter("exchange", required=True, max_length=16, description="BINANCE, BYBIT, OKX or SIM")
SYMBOL_PARAM = text_parameter("symbol", required=True, description="BTC/USDT or its slug BTC-USDT")


class CandleListApi(APIView):
    @extend_schema(
        parameters=[
            EXCHANGE_PARAM,
            SYMBOL_PARAM,
            OpenApiParameter("timeframe", str, required=True, enum=list(TIMEFRAMES)),
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="inclusive; ISO 8601 or epoch ms"),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="exclusive; the newest `limit` candles before it are returned"),
            int_parameter(
                "limit", minimum=1, maximum=MAX_CANDLES_PER_REQUEST, description=f"1-{MAX_CANDLES_PER_REQUEST}, default {DEFAULT_CANDLES_PER_REQUEST}"
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
        description="Candles oldest first as [open_time_ms, open, high, low, close, volume] with prices as strings.",
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        exchange = exchange_get(code=required_param(params, "exchange"))
        symbol = symbol_get(exchange=exchange, symbol=required_param(params, "symbol"))
        timeframe = check_timeframe(required_param(params, "timeframe"))
        series = candle_series_json(
            symbol=symbol,
            timeframe=timeframe,
            start=datetime_param(params, "start"),
            end=datetime_param(params, "end"),
            limit=int_param(params, "limit", default=DEFAULT_CANDLES_PER_REQUEST, minimum=1, maximum=MAX_CANDLES_PER_REQUEST),
        )
        # The series is JSON built by PostgreSQL; splice it in rather than parse and re-encode it.
        header = f'{{"exchange":"{exchange.code}","symbol":"{symbol.symbol}","timeframe":"{timeframe}","candles":'
        return HttpResponse(header + series + "}", content_type="application/json")


class TickerListApi(APIView):
    @extend_schema(parameters=[EXCHANGE_PARAM], responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        exchange = exchange_get(code=required_param(request.query_params, "exchange"))
        symbols = list(symbol_list(exchange=exchange))
        tickers = ticker_dicts(exchange_code=exchange.code, symbols=symbols)
        return Response({"exchange": exchange.code, "tickers": [tickers[s.slug] for s in symbols if s.slug in tickers]})


class OrderBookApi(APIView):
    @extend_schema(
        parameters=[EXCHANGE_PARAM, SYMBOL_PARAM, int_parameter("depth", minimum=1, maximum=MAX_BOOK_DEPTH, description=f"1-{MAX_BOOK_DEPTH}, default 20")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        exchange = exchange_get(code=required_param(params, "exchange"))
        symbol = symbol_get(exchange=exchange, symbol=required_param(params, "symbol"))
        depth = int_param(params, "depth", default=20, minimum=1, maximum=MAX_BOOK_DEPTH)
        return Response({"exchange": exchange.code, **order_book_dict(symbol=symbol, depth=depth)})
