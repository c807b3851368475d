from __future__ import annotations

from django.contrib.auth.models import update_last_login
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.api.serializers import (
    ApiKeyCreatedOutputSerializer,
    ApiKeyCreateInputSerializer,
    ApiKeyOutputSerializer,
    LogoutInputSerializer,
    MeOutputSerializer,
    PreferencesInputSerializer,
    TokenObtainInputSerializer,
    TokenPairOutputSerializer,
    TokenRefreshInputSerializer,
)
from apps.accounts.auth import request_user
from apps.accounts.enums import AccountsErrorCode, ApiKeyScope
from apps.accounts.errors import SignInError
from apps.accounts.models import ApiKey, User
from apps.accounts.selectors import api_key_list
from apps.accounts.services import api_key_create, api_key_revoke, sign_in_full, user_update_preferences
from apps.accounts.step_up import step_up_verify
from apps.accounts.tokens import token_epoch, token_pair_for
from apps.core.api.schema import ErrorOutputSerializer
from apps.core.api.throttling import ScopedRateThrottle
from apps.core.client_address import client_address

REFRESH_REFUSED = "This refresh token is invalid, expired, already used or revoked; sign in again."
REFRESH_ENDED = "This refresh token was issued before a password change, a two-factor change or 'Sign out everywhere'; sign in again."


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorOutputSerializer, description=description)


NO_API_KEYS: dict[str, str] = {}  # every method refused to API keys


class TokenObtainApi(APIView):
    authentication_classes = ()  # type: ignore[assignment]
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=TokenObtainInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            400: _error("Missing or malformed fields."),
            401: _error(
                "`authentication_failed`: email or password wrong; `otp_required`: two-factor is on and `otp` is missing; `otp_invalid`: the code is wrong, expired or used."
            ),
            429: _error("`login_throttled`: too many failures from this client; `Retry-After` and `extra.retry_after_seconds` say when to retry."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenObtainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = sign_in_full(
            request=request._request,
            email=data["email"],
            password=data["password"],
            otp=data.get("otp", ""),
            address=client_address(request._request),
        )
        update_last_login(User, user)
        return Response(token_pair_for(user))


class TokenRefreshApi(APIView):
    authentication_classes = ()  # type: ignore[assignment]
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=TokenRefreshInputSerializer,
        responses={
            200: TokenPairOutputSerializer,
            400: _error("`refresh` is missing."),
            401: _error(
                "`token_revoked`: the refresh token is invalid, expired, already used (each one works once) or ended by a sign-out everywhere, password or two-factor change."
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(serializer.validated_data["refresh"])
        except TokenError:
            raise SignInError(REFRESH_REFUSED, code=AccountsErrorCode.TOKEN_REVOKED) from None
        user = User.objects.filter(pk=refresh.get("user_id"), is_active=True).first()
        if user is None or token_epoch(refresh) != user.auth_epoch:
            refresh.blacklist()
            raise SignInError(REFRESH_ENDED if user is not None else REFRESH_REFUSED, code=AccountsErrorCode.TOKEN_REVOKED)
        # Rotation: this refresh token ends now and a new pair replaces it. Of two requests
        # racing with one token, only the one that blacklists it gets a new pair.
        with transaction.atomic():
            ended_now: bool = refresh.blacklist()[1]  # type: ignore[index]
        if not ended_now:
            raise SignInError(REFRESH_REFUSED, code=AccountsErrorCode.TOKEN_REVOKED)
        return Response(token_pair_for(user))


class LogoutApi(APIView):
    authentication_classes = ()  # type: ignore[assignment]
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=LogoutInputSerializer,
        responses={
            204: OpenApiResponse(description="The refresh token is ended; access tokens made from it lapse within 15 minutes."),
            400: _error("`refresh` is missing."),
            401: _error("`token_revoked`: the refresh token is invalid, expired or already ended."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = LogoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(serializer.validated_data["refresh"])
        except TokenError:
            raise SignInError(REFRESH_REFUSED, code=AccountsErrorCode.TOKEN_REVOKED) from None
        refresh.blacklist()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    api_key_scopes = NO_API_KEYS

    @extend_schema(
        responses={200: MeOutputSerializer, 401: _error("Not signed in."), 403: _error("`api_key_not_allowed`: API keys cannot read or change the profile.")}
    )
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)

    @extend_schema(
        request=PreferencesInputSerializer,
        responses={200: MeOutputSerializer, 400: _error("A field is invalid."), 401: _error("Not signed in."), 403: _error("`api_key_not_allowed`.")},
    )
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
    api_key_scopes = NO_API_KEYS

    def get_queryset(self) -> QuerySet[ApiKey]:
        return api_key_list(actor=request_user(self.request))

    @extend_schema(
        responses={200: ApiKeyOutputSerializer(many=True), 401: _error("Not signed in."), 403: _error("`api_key_not_allowed`: keys cannot manage keys.")}
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=ApiKeyCreateInputSerializer,
        responses={
            201: ApiKeyCreatedOutputSerializer,
            400: _error("A field is invalid (name, scopes, expires_at in the past, an address that is not an IP or network), or 20 keys are active."),
            401: _error("Not signed in."),
            403: _error(
                "`api_key_not_allowed`: keys cannot create keys; `otp_required` / `otp_invalid`: a key with the trade scope needs a current two-factor code in `otp`."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request_user(request)
        if ApiKeyScope.TRADE in data["scopes"]:
            step_up_verify(request, user, data.get("otp"))
        created = api_key_create(
            actor=user,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            allowed_networks=data["allowed_networks"],
        )
        created.api_key.key = created.plaintext  # type: ignore[attr-defined]
        response = Response(ApiKeyCreatedOutputSerializer(created.api_key).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class ApiKeyRevokeApi(APIView):
    api_key_scopes = NO_API_KEYS

    @extend_schema(
        request=None,
        responses={
            200: ApiKeyOutputSerializer,
            401: _error("Not signed in."),
            403: _error("`api_key_not_allowed`."),
            404: _error("No such key of yours."),
            409: _error("Already revoked."),
        },
    )
    def delete(self, request: Request, api_key_id: str) -> Response:
        api_key = api_key_revoke(actor=request_user(request), api_key_id=api_key_id)
        return Response(ApiKeyOutputSerializer(api_key).data)
