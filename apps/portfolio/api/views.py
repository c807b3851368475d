from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.core.api.params import SYMBOL_PARAM, symbol_filter
from apps.core.errors import NotFoundError
from apps.exchanges.selectors import api_connection_get, exchange_get
from apps.portfolio.api.params import ACCOUNT_PARAM, MODE_PARAM, account_param, mode_param
from apps.portfolio.api.serializers import (
    BalanceOutputSerializer,
    PositionOutputSerializer,
    TradingAccountCreateInputSerializer,
    TradingAccountOutputSerializer,
)
from apps.portfolio.models import Balance, Position, TradingAccount
from apps.portfolio.presentation import cross_for, marks_for, position_row
from apps.portfolio.selectors import balance_list, position_list, trading_account_get, trading_account_list
from apps.portfolio.services import live_account_create, paper_account_create


class TradingAccountListCreateApi(generics.ListAPIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ, "POST": ApiKeyScope.TRADE}
    serializer_class = TradingAccountOutputSerializer

    @extend_schema(parameters=[MODE_PARAM], description="Your trading accounts with their balances.")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[TradingAccount]:
        accounts = trading_account_list(actor=request_user(self.request), mode=mode_param(self.request.query_params))
        return accounts.prefetch_related(Prefetch("balances", queryset=Balance.objects.order_by("asset"))).order_by("mode", "exchange__code")

    @extend_schema(
        request=TradingAccountCreateInputSerializer,
        responses={201: TradingAccountOutputSerializer},
        description='Paper: {"exchange": "SIM", "balances": {"USDT": "10000"}}. Live: {"api_connection": "<id of a verified connection>"}.',
    )
    def post(self, request: Request) -> Response:
        serializer = TradingAccountCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = request_user(request)
        if data.get("api_connection") is not None:
            try:
                connection = api_connection_get(actor=actor, connection_id=data["api_connection"])
            except NotFoundError as exc:
                raise NotFoundError(exc.message, extra={"fields": {"api_connection": [exc.message]}}) from None
            account = live_account_create(actor=actor, connection=connection, name=data["name"], fee_tier=data["fee_tier"])
        else:
            account = paper_account_create(
                actor=actor,
                exchange=exchange_get(code=data["exchange"]),
                initial_balances=data.get("balances") or {},
                name=data["name"],
                fee_tier=data["fee_tier"],
            )
        account = trading_account_get(actor=actor, account_id=account.pk)
        return Response(TradingAccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


class BalanceListApi(generics.ListAPIView):
    serializer_class = BalanceOutputSerializer

    @extend_schema(parameters=[ACCOUNT_PARAM], description="Free and held amounts per asset.")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Balance]:
        actor = request_user(self.request)
        return balance_list(actor=actor, account=account_param(self.request.query_params, actor)).order_by("account__mode", "account__exchange__code", "asset")


class PositionListApi(generics.ListAPIView):
    serializer_class = PositionOutputSerializer

    @extend_schema(
        parameters=[
            ACCOUNT_PARAM,
            MODE_PARAM,
            SYMBOL_PARAM,
            OpenApiParameter("include_closed", bool, description="Also flat positions (their realised P&L); default false."),
        ],
        description="Open positions valued at the current mark: unrealised P&L, ROI and the liquidation price of perpetuals.",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Position]:
        params = self.request.query_params
        actor = request_user(self.request)
        include_closed = params.get("include_closed", "").strip().lower() in ("1", "true", "yes")
        positions = position_list(actor=actor, account=account_param(params, actor), mode=mode_param(params), open_only=not include_closed)
        return symbol_filter(positions, params)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        positions = list(page if page is not None else self.get_queryset())
        marks = marks_for([p.symbol for p in positions if p.quantity != 0])
        wallets: dict[Any, Any] = {}
        data = PositionOutputSerializer([position_row(p, marks.get(p.symbol_id), cross_for(p, marks, wallets)) for p in positions], many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)
