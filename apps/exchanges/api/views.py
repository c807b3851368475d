from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.accounts.step_up import step_up_verify
from apps.core.api.params import required_param, text_parameter
from apps.core.api.schema import ErrorOutputSerializer
from apps.core.errors import ValidationError
from apps.exchanges.api.serializers import (
    ApiConnectionCreateInputSerializer,
    ApiConnectionOutputSerializer,
    ApiConnectionUpdateInputSerializer,
    ExchangeOutputSerializer,
    SymbolOutputSerializer,
)
from apps.exchanges.enums import MarketTypeChoice
from apps.exchanges.models import ApiConnection, Exchange, Symbol
from apps.exchanges.selectors import api_connection_get, api_connection_list, exchange_get, exchange_list, symbol_list
from apps.exchanges.services import api_connection_create, api_connection_delete, api_connection_update, api_connection_verify


class ExchangeListApi(generics.ListAPIView):
    serializer_class = ExchangeOutputSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Exchange]:
        return exchange_list()


class SymbolListApi(generics.ListAPIView):
    serializer_class = SymbolOutputSerializer

    @extend_schema(
        parameters=[
            text_parameter("exchange", required=True, max_length=16, description="BINANCE, BYBIT, OKX or SIM"),
            OpenApiParameter("market_type", str, required=False, enum=MarketTypeChoice.values),
            OpenApiParameter("search", str, required=False, description="Part of the symbol, its base or its quote currency."),
        ]
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Symbol]:
        params = self.request.query_params
        exchange = exchange_get(code=required_param(params, "exchange"))
        market_type = params.get("market_type") or None
        if market_type is not None and market_type not in MarketTypeChoice.values:
            raise ValidationError.for_field("market_type", f"Unknown market_type {market_type!r}; use spot or linear_perpetual.")
        return symbol_list(exchange=exchange, market_type=market_type, search=params.get("search", ""))


STEP_UP_REFUSED = OpenApiResponse(
    ErrorOutputSerializer,
    description="`api_key_not_allowed`: API keys cannot manage connections; `otp_required` / `otp_invalid`: two-factor is on and `otp` is missing, wrong or used.",
)

# API keys may list and read connections but never create, change, verify or remove them.
CONNECTIONS_READ_ONLY_FOR_KEYS = {"GET": ApiKeyScope.READ.value}


class ApiConnectionListCreateApi(generics.ListAPIView):
    serializer_class = ApiConnectionOutputSerializer
    api_key_scopes = CONNECTIONS_READ_ONLY_FOR_KEYS

    def get_queryset(self) -> QuerySet[ApiConnection]:
        return api_connection_list(actor=request_user(self.request))

    @extend_schema(
        request=ApiConnectionCreateInputSerializer,
        responses={
            201: ApiConnectionOutputSerializer,
            400: OpenApiResponse(ErrorOutputSerializer, description="A field is invalid or the exchange is unknown."),
            403: STEP_UP_REFUSED,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ApiConnectionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        step_up_verify(request, request_user(request), data.get("otp"))
        connection = api_connection_create(
            actor=request_user(request),
            exchange=exchange_get(code=data["exchange"]),
            label=data["label"],
            api_key=data["api_key"],
            secret=data["secret"],
            passphrase=data["passphrase"],
            testnet=data["testnet"],
        )
        return Response(ApiConnectionOutputSerializer(connection).data, status=status.HTTP_201_CREATED)


class ApiConnectionDetailApi(APIView):
    api_key_scopes = CONNECTIONS_READ_ONLY_FOR_KEYS

    @extend_schema(responses=ApiConnectionOutputSerializer)
    def get(self, request: Request, connection_id: str) -> Response:
        connection = api_connection_get(actor=request_user(request), connection_id=connection_id)
        return Response(ApiConnectionOutputSerializer(connection).data)

    @extend_schema(
        request=ApiConnectionUpdateInputSerializer,
        responses={
            200: ApiConnectionOutputSerializer,
            400: OpenApiResponse(ErrorOutputSerializer, description="A field is invalid."),
            403: STEP_UP_REFUSED,
            404: OpenApiResponse(ErrorOutputSerializer, description="No such connection of yours."),
        },
    )
    def patch(self, request: Request, connection_id: str) -> Response:
        serializer = ApiConnectionUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        step_up_verify(request, request_user(request), changes.pop("otp", None))
        connection = api_connection_update(actor=request_user(request), connection_id=connection_id, **changes)
        return Response(ApiConnectionOutputSerializer(connection).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, connection_id: str) -> Response:
        api_connection_delete(actor=request_user(request), connection_id=connection_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiConnectionVerifyApi(APIView):
    api_key_scopes: dict[str, str] = {}

    @extend_schema(request=None, responses=ApiConnectionOutputSerializer)
    def post(self, request: Request, connection_id: str) -> Response:
        connection = api_connection_verify(actor=request_user(request), connection_id=connection_id)
        return Response(ApiConnectionOutputSerializer(connection).data)
