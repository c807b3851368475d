from __future__ import annotations

from typing import ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.risk.api.serializers import RiskLimitsInputSerializer, RiskLimitsOutputSerializer
from apps.risk.services import risk_limits_get, risk_limits_update


class RiskLimitsApi(APIView):
    """Your limits across every account and bot; each order is checked against them before it is placed."""

    api_key_scopes: ClassVar[dict[str, str]] = {"GET": ApiKeyScope.READ}

    @extend_schema(responses=RiskLimitsOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(RiskLimitsOutputSerializer(risk_limits_get(actor=request_user(request))).data)

    @extend_schema(request=RiskLimitsInputSerializer, responses=RiskLimitsOutputSerializer, description="Replace all five limits; null is no limit.")
    def put(self, request: Request) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=RiskLimitsInputSerializer, responses=RiskLimitsOutputSerializer, description="Change the limits given; the others stay.")
    def patch(self, request: Request) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        serializer = RiskLimitsInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        limits = risk_limits_update(actor=request_user(request), **serializer.validated_data)
        return Response(RiskLimitsOutputSerializer(limits).data)
