from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.accounts.api.serializers import (
    ApiKeyCreatedOutputSerializer,
    ApiKeyCreateInputSerializer,
    ApiKeyOutputSerializer,
    MeOutputSerializer,
    PreferencesInputSerializer,
    ThrottledTokenObtainSerializer,
)
from apps.accounts.auth import request_user
from apps.accounts.models import ApiKey
from apps.accounts.selectors import api_key_list
from apps.accounts.services import api_key_create, api_key_revoke, user_update_preferences
from apps.core.api.throttling import ScopedRateThrottle


class TokenObtainApi(TokenObtainPairView):
    serializer_class = ThrottledTokenObtainSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class TokenRefreshApi(TokenRefreshView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class MeApi(APIView):
    @extend_schema(responses=MeOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)

    @extend_schema(request=PreferencesInputSerializer, responses=MeOutputSerializer)
    def patch(self, request: Request) -> Response:
        serializer = PreferencesInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request_user(request)
        values = {
            "time_zone": user.time_zone,
            "quote_currency": user.quote_currency,
            "theme": user.theme,
            "display_name": user.display_name,
            **serializer.validated_data,
        }
        updated = user_update_preferences(actor=user, **values)
        return Response(MeOutputSerializer(updated).data)


class ApiKeyListCreateApi(generics.ListAPIView):
    serializer_class = ApiKeyOutputSerializer

    def get_queryset(self) -> QuerySet[ApiKey]:
        return api_key_list(actor=request_user(self.request))

    @extend_schema(request=ApiKeyCreateInputSerializer, responses={201: ApiKeyCreatedOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = api_key_create(actor=request_user(request), name=serializer.validated_data["name"])
        created.api_key.key = created.plaintext  # type: ignore[attr-defined]
        return Response(ApiKeyCreatedOutputSerializer(created.api_key).data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    @extend_schema(request=None, responses={200: ApiKeyOutputSerializer})
    def delete(self, request: Request, api_key_id: str) -> Response:
        api_key = api_key_revoke(actor=request_user(request), api_key_id=api_key_id)
        return Response(ApiKeyOutputSerializer(api_key).data)
