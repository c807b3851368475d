from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.core.api.params import SYMBOL_PARAM, datetime_param, symbol_filter
from apps.core.errors import ValidationError
from apps.exchanges.selectors import symbol_get
from apps.orders.api.serializers import FillOutputSerializer, OrderCreateInputSerializer, OrderOutputSerializer, PositionCloseInputSerializer
from apps.orders.enums import OrderSource, OrderStatusChoice
from apps.orders.models import Fill, Order
from apps.orders.selectors import fill_list, order_get, order_list
from apps.orders.services.placement import OrderRequest, order_cancel, order_submit_once
from apps.orders.services.positions import position_close
from apps.portfolio.api.params import ACCOUNT_PARAM, MODE_PARAM, account_param, mode_param
from apps.portfolio.models import TradingAccount
from apps.portfolio.selectors import trading_account_get

REPLAYED_HEADER = "Idempotent-Replayed"

SINCE_PARAM = OpenApiParameter("since", OpenApiTypes.DATETIME, description="ISO 8601 or epoch milliseconds.")


def _pk(account: TradingAccount | None) -> Any:
    return account.pk if account is not None else None


def _status_param(params: Mapping[str, Any]) -> tuple[str, str]:
    """(tab, status) for `order_list`: "open" is every working status, else one status."""
    raw = params.get("status", "").strip().upper()
    if not raw:
        return "all", ""
    if raw == "OPEN_ANY":
        return "open", ""
    if raw not in OrderStatusChoice.values:
        allowed = ", ".join([*OrderStatusChoice.values, "OPEN_ANY"])
        raise ValidationError.for_field("status", f"Unknown status {raw!r}; use one of {allowed}.")
    return "all", raw


class OrderListCreateApi(generics.ListAPIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ, "POST": ApiKeyScope.TRADE}
    serializer_class = OrderOutputSerializer

    @extend_schema(
        parameters=[
            ACCOUNT_PARAM,
            MODE_PARAM,
            OpenApiParameter(
                "status", str, enum=[*OrderStatusChoice.values, "OPEN_ANY"], description="One status, or OPEN_ANY for NEW, OPEN and PARTIALLY_FILLED."
            ),
            SYMBOL_PARAM,
            SINCE_PARAM,
        ],
        description="Your orders, newest first.",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Order]:
        params = self.request.query_params
        actor = request_user(self.request)
        tab, order_status = _status_param(params)
        orders = order_list(
            actor=actor,
            mode=mode_param(params),
            account_id=_pk(account_param(params, actor)),
            tab=tab,
            status=order_status,
            since=datetime_param(params, "since"),
        )
        return symbol_filter(orders, params)

    @extend_schema(
        request=OrderCreateInputSerializer,
        parameters=[
            OpenApiParameter(
                REPLAYED_HEADER,
                str,
                location=OpenApiParameter.HEADER,
                response=[200, 201],
                enum=["true", "false"],
                description="true: an earlier order with this client_order_id, nothing placed; false: this request placed the order.",
            )
        ],
        responses={
            201: OpenApiResponse(OrderOutputSerializer, description="Placed (it may already be filled, or rejected / expired with a reason)."),
            200: OpenApiResponse(
                OrderOutputSerializer, description=f"The client_order_id was used before: the first order, nothing placed ({REPLAYED_HEADER}: true)."
            ),
        },
        description="Place an order. Money and quantities are strings. The response header "
        f"{REPLAYED_HEADER} says whether the order is new (false) or an earlier one with the same client_order_id (true).",
    )
    def post(self, request: Request) -> Response:
        serializer = OrderCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = request_user(request)
        account = trading_account_get(actor=actor, account_id=data["account"])
        symbol = symbol_get(exchange=account.exchange, symbol=data["symbol"])
        submission = order_submit_once(
            actor=actor,
            account=account,
            request=OrderRequest(
                symbol=symbol,
                side=data["side"],
                order_type=data["order_type"],
                quantity=data.get("quantity"),
                quote_amount=data.get("quote_amount"),
                price=data.get("price"),
                stop_price=data.get("stop_price"),
                time_in_force=data["time_in_force"],
                post_only=data["post_only"],
                reduce_only=data["reduce_only"],
                leverage=data["leverage"],
                margin_mode=data["margin_mode"],
                stop_loss=data.get("stop_loss"),
                take_profit=data.get("take_profit"),
                client_order_id=data["client_order_id"],
                source=OrderSource.API,
            ),
        )
        replayed = not submission.created
        return Response(
            OrderOutputSerializer(submission.order).data,
            status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED,
            headers={REPLAYED_HEADER: "true" if replayed else "false"},
        )


class OrderDetailApi(APIView):
    @extend_schema(responses=OrderOutputSerializer)
    def get(self, request: Request, order_id: str) -> Response:
        return Response(OrderOutputSerializer(order_get(actor=request_user(request), order_id=order_id)).data)


class OrderCancelApi(APIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"POST": ApiKeyScope.TRADE}

    @extend_schema(
        request=None,
        responses={200: OrderOutputSerializer, 409: OpenApiResponse(description="The order is no longer open.")},
        description="Cancel an open order. Paper orders are canceled at once and their hold released; live orders show "
        '"cancel requested" until the venue confirms.',
    )
    def post(self, request: Request, order_id: str) -> Response:
        return Response(OrderOutputSerializer(order_cancel(actor=request_user(request), order_id=order_id)).data)


class FillListApi(generics.ListAPIView):
    serializer_class = FillOutputSerializer

    @extend_schema(
        parameters=[ACCOUNT_PARAM, MODE_PARAM, OpenApiParameter("order", OpenApiTypes.UUID, description="Only this order's fills."), SYMBOL_PARAM, SINCE_PARAM],
        description="Your executions, newest first.",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Fill]:
        params = self.request.query_params
        actor = request_user(self.request)
        fills = fill_list(actor=actor, mode=mode_param(params), account_id=_pk(account_param(params, actor)), since=datetime_param(params, "since"))
        raw_order = params.get("order", "").strip()
        if raw_order:
            try:
                fills = fills.filter(order_id=uuid.UUID(raw_order))
            except ValueError:
                raise ValidationError.for_field("order", f"order {raw_order!r} is not an order id.") from None
        return symbol_filter(fills, params)


class PositionCloseApi(APIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"POST": ApiKeyScope.TRADE}

    @extend_schema(
        request=PositionCloseInputSerializer,
        responses={201: OrderOutputSerializer},
        description="Close the whole position with a reduce-only order: at the market, or a limit at `price`.",
    )
    def post(self, request: Request, position_id: str) -> Response:
        serializer = PositionCloseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = position_close(
            actor=request_user(request),
            position_id=position_id,
            order_type=serializer.validated_data["order_type"],
            price=serializer.validated_data["price"],
            source=OrderSource.API,
        )
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)
