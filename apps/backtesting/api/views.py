from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.backtesting.api.serializers import BacktestCreateInputSerializer, BacktestDetailOutputSerializer, BacktestOutputSerializer
from apps.backtesting.forms import DEFAULT_DAYS
from apps.backtesting.models import Backtest, RunStatus
from apps.backtesting.selectors import backtest_get, backtest_list
from apps.backtesting.services import backtest_create, equity_csv, trades_csv
from apps.backtesting.views import csv_response, finished_backtest
from apps.core.errors import ValidationError
from apps.exchanges.selectors import exchange_get, symbol_get

CSV_RESPONSES: dict[Any, Any] = {
    (200, "text/csv"): OpenApiTypes.STR,
    404: OpenApiResponse(description="No such backtest of yours."),
    409: OpenApiResponse(description="The backtest is not done (queued, running or failed)."),
}


class BacktestListCreateApi(generics.ListAPIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ, "POST": ApiKeyScope.BOTS}
    serializer_class = BacktestOutputSerializer

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=RunStatus.values, description="Only backtests in this status.")],
        description="Your backtests, newest first, with their headline metrics once done.",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Backtest]:
        backtests = backtest_list(actor=request_user(self.request))
        wanted = self.request.query_params.get("status", "").strip().lower()
        if wanted:
            if wanted not in RunStatus.values:
                raise ValidationError.for_field("status", f"Unknown status {wanted!r}; use one of {', '.join(RunStatus.values)}.")
            backtests = backtests.filter(status=wanted)
        return backtests

    @extend_schema(
        request=BacktestCreateInputSerializer,
        responses={201: OpenApiResponse(BacktestOutputSerializer, description="Queued: a worker runs it; poll its status, progress and metrics.")},
        description="Validate and queue a backtest of a built-in strategy over the symbol's stored candles. A parameter out of range, "
        "an unknown strategy, start not before end or too little stored data is a 400 naming the field.",
    )
    def post(self, request: Request) -> Response:
        serializer = BacktestCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        end = data.get("end") or timezone.now().replace(second=0, microsecond=0)
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS)
        symbol = symbol_get(exchange=exchange_get(code=data["exchange"]), symbol=data["symbol"])
        backtest = backtest_create(
            actor=request_user(request),
            strategy=data["strategy"],
            params=data["params"],
            symbol=symbol,
            timeframe=data["timeframe"],
            start=start,
            end=end,
            initial_capital=data["initial_capital"],
            maker_fee=data["maker_fee"],
            taker_fee=data["taker_fee"],
            slippage_bps=data["slippage_bps"],
            fill_mode=data["fill_mode"],
            name=data["name"],
        )
        return Response(BacktestOutputSerializer(backtest).data, status=status.HTTP_201_CREATED)


class BacktestDetailApi(APIView):
    @extend_schema(responses=BacktestDetailOutputSerializer, description="Status and progress while it runs; every metric once done.")
    def get(self, request: Request, backtest_id: str) -> Response:
        return Response(BacktestDetailOutputSerializer(backtest_get(actor=request_user(request), backtest_id=backtest_id)).data)


class BacktestTradesCsvApi(APIView):
    @extend_schema(responses=CSV_RESPONSES, description="side, entry_time, exit_time, quantity, entry_price, exit_price, fees, funding, pnl.")
    def get(self, request: Request, backtest_id: str) -> HttpResponse:
        backtest = finished_backtest(actor=request_user(request), backtest_id=backtest_id)
        return csv_response(backtest, "trades", trades_csv(backtest))


class BacktestEquityCsvApi(APIView):
    @extend_schema(responses=CSV_RESPONSES, description="timestamp (ISO 8601, UTC), equity at the bar's close.")
    def get(self, request: Request, backtest_id: str) -> HttpResponse:
        backtest = finished_backtest(actor=request_user(request), backtest_id=backtest_id)
        return csv_response(backtest, "equity", equity_csv(backtest))
