from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.db.models import F, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.backtesting.api.serializers import SLIPPAGE_PATTERN
from apps.backtesting.models import Optimisation, OptimisationMethod
from apps.backtesting.optimisation.services import OBJECTIVES, optimisation_create
from apps.backtesting.selectors import optimisation_get, optimisation_list
from apps.core.api.fields import ExactDecimalField
from apps.core.domain.money import AMOUNT_WHOLE_DIGITS
from apps.exchanges.selectors import exchange_get, symbol_get


class OptimisationCreateInputSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    param_space = serializers.DictField(help_text='{"fast": {"min": 5, "max": 50, "step": 5}, "slow": {"values": [60, 120]}}')
    base_params = serializers.DictField(required=False, default=dict)
    objective = serializers.ChoiceField(choices=list(OBJECTIVES), default="sharpe")
    method = serializers.ChoiceField(choices=OptimisationMethod.values, default="grid")
    max_runs = serializers.IntegerField(min_value=1, max_value=2000, default=100)
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    in_sample_fraction = ExactDecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=Decimal("0.1"),
        max_value=Decimal("0.95"),
        pattern=r"^0?\.(?:[1-8]\d{0,2}|9(?:[0-4]\d?)?|950?)$",
        default=Decimal("0.7"),
        help_text="0.1-0.95.",
    )
    walk_forward_windows = serializers.IntegerField(min_value=0, max_value=12, default=0)
    initial_capital = ExactDecimalField(max_digits=AMOUNT_WHOLE_DIGITS + 8, decimal_places=8, positive=True, default=Decimal("10000"))
    fee = ExactDecimalField(max_digits=10, decimal_places=8, default=Decimal("0.001"))
    slippage_bps = ExactDecimalField(
        max_digits=7, decimal_places=3, min_value=Decimal(0), max_value=Decimal(1000), pattern=SLIPPAGE_PATTERN, default=Decimal("0")
    )


class OptimisationOutputSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="symbol.symbol", read_only=True)
    progress = serializers.IntegerField(read_only=True)

    class Meta:
        model = Optimisation
        fields = [
            "id",
            "strategy",
            "base_params",
            "param_space",
            "objective",
            "method",
            "max_runs",
            "symbol",
            "timeframe",
            "start",
            "end",
            "in_sample_fraction",
            "walk_forward_windows",
            "status",
            "progress",
            "total_runs",
            "completed_runs",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class OptimisationListCreateApi(generics.ListAPIView):
    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ, "POST": ApiKeyScope.BOTS}
    serializer_class = OptimisationOutputSerializer

    def get_queryset(self) -> QuerySet[Optimisation]:
        return optimisation_list(actor=request_user(self.request))

    @extend_schema(request=OptimisationCreateInputSerializer, responses={201: OptimisationOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = OptimisationCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        symbol = symbol_get(exchange=exchange_get(code=data.pop("exchange")), symbol=data.pop("symbol"))
        optimisation = optimisation_create(actor=request_user(request), symbol=symbol, **data)
        return Response(OptimisationOutputSerializer(optimisation).data, status=status.HTTP_201_CREATED)


class OptimisationDetailApi(APIView):
    @extend_schema(responses=OptimisationOutputSerializer)
    def get(self, request: Request, optimisation_id: str) -> Response:
        optimisation = optimisation_get(actor=request_user(request), optimisation_id=optimisation_id)
        results = [
            {"params": r.params, "score": r.score, "in_sample": r.in_sample, "out_of_sample": r.out_of_sample}
            for r in optimisation.results.order_by(F("score").desc(nulls_last=True))[:500]
        ]
        return Response({**OptimisationOutputSerializer(optimisation).data, "results": results})
