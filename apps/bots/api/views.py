from __future__ import annotations

from typing import ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.bots.api.serializers import BotCreateInputSerializer, BotLogEntrySerializer, BotOutputSerializer, BotUpdateInputSerializer
from apps.bots.models import Bot, BotLogEntry, BotStatus
from apps.bots.selectors import bot_get, bot_list
from apps.bots.services import BotLimits, bot_action, bot_create, bot_delete, bot_update_params
from apps.core.errors import NotFoundError, ValidationError
from apps.exchanges.selectors import symbol_get
from apps.portfolio.selectors import trading_account_get


class BotListCreateApi(generics.ListAPIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ, "POST": ApiKeyScope.BOTS}
    serializer_class = BotOutputSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=BotStatus.values, description="Only bots in this status."),
            OpenApiParameter("search", str, description="Part of the name."),
        ],
        description="Your bots, newest first, with their performance at the last processed bar.",
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Bot]:
        params = self.request.query_params
        raw = params.get("status", "").strip().upper()
        if raw and raw not in BotStatus.values:
            raise ValidationError.for_field("status", f"Unknown status {raw!r}; use one of {', '.join(BotStatus.values)}.")
        return bot_list(actor=request_user(self.request), status=raw, search=params.get("search", ""))

    @extend_schema(
        request=BotCreateInputSerializer,
        responses={201: BotOutputSerializer},
        description="Create a bot (stopped). Parameters are checked against the strategy's schema; an error names the field as params.<name>.",
    )
    def post(self, request: Request) -> Response:
        serializer = BotCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = request_user(request)
        account = trading_account_get(actor=actor, account_id=data["account"])
        try:
            symbol = symbol_get(exchange=account.exchange, symbol=data["symbol"])
        except NotFoundError as exc:
            raise ValidationError(exc.message, code=exc.code, extra={"fields": {"symbol": [exc.message]}}) from None
        bot = bot_create(
            actor=actor,
            name=data["name"],
            account=account,
            symbol=symbol,
            timeframe=data["timeframe"],
            strategy=data["strategy"],
            params=data.get("params") or {},
            limits=BotLimits(data.get("max_position_notional"), data.get("max_daily_loss"), data.get("max_drawdown_percent")),
        )
        return Response(BotOutputSerializer(bot_get(actor=actor, bot_id=bot.pk)).data, status=status.HTTP_201_CREATED)


class BotDetailApi(APIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ, "PATCH": ApiKeyScope.BOTS, "DELETE": ApiKeyScope.BOTS}

    @extend_schema(responses={200: BotOutputSerializer}, description="One of your bots.")
    def get(self, request: Request, bot_id: str) -> Response:
        return Response(BotOutputSerializer(bot_get(actor=request_user(request), bot_id=bot_id)).data)

    @extend_schema(
        request=BotUpdateInputSerializer, responses={200: BotOutputSerializer}, description="Change the parameters of a stopped bot (409 otherwise)."
    )
    def patch(self, request: Request, bot_id: str) -> Response:
        serializer = BotUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = request_user(request)
        if "params" in serializer.validated_data:
            bot_id = str(bot_update_params(actor=actor, bot_id=bot_id, params=serializer.validated_data["params"]).pk)
        return Response(BotOutputSerializer(bot_get(actor=actor, bot_id=bot_id)).data)

    @extend_schema(responses={204: None}, description="Delete (softly); a bot that is not stopped is stopped first, its working orders canceled.")
    def delete(self, request: Request, bot_id: str) -> Response:
        bot_delete(actor=request_user(request), bot_id=bot_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotActionApi(APIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"POST": ApiKeyScope.BOTS}
    action_name = ""

    @extend_schema(request=None, responses={200: BotOutputSerializer}, description="A lifecycle action; one the bot's status does not allow is a 409.")
    def post(self, request: Request, bot_id: str) -> Response:
        actor = request_user(request)
        bot = bot_action(actor=actor, bot_id=bot_id, action=self.action_name)
        return Response(BotOutputSerializer(bot_get(actor=actor, bot_id=bot.pk)).data)


def action_view(name: str) -> type[BotActionApi]:
    return type(f"Bot{name.capitalize()}Api", (BotActionApi,), {"action_name": name, "__doc__": f"{name.capitalize()} the bot."})


class BotLogApi(generics.ListAPIView):
    serializer_class = BotLogEntrySerializer

    @extend_schema(description="What the bot decided and why, newest first.")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[BotLogEntry]:
        bot = bot_get(actor=request_user(self.request), bot_id=self.kwargs["bot_id"])
        return BotLogEntry.objects.filter(bot=bot).order_by("-created_at")
