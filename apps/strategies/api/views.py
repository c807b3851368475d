from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.strategies.api.serializers import StrategyOutputSerializer
from apps.strategies.domain.registry import get_strategy, list_strategies


class StrategyListApi(APIView):
    @extend_schema(
        responses=StrategyOutputSerializer(many=True),
        description="The built-in strategies with the JSON schema of their parameters (what `params` of a backtest accepts).",
    )
    def get(self, request: Request) -> Response:
        return Response(StrategyOutputSerializer(list_strategies(), many=True).data)


class StrategyDetailApi(APIView):
    @extend_schema(responses={200: StrategyOutputSerializer, 404: OpenApiResponse(description="No strategy by that name.")})
    def get(self, request: Request, name: str) -> Response:
        cls = get_strategy(name)  # UnknownStrategy: a 404 naming the known ones
        return Response(StrategyOutputSerializer({"name": cls.name, "description": cls.description, "schema": cls.Params.json_schema()}).data)
