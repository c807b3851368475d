"""DRF authentication: `Authorization: Api-Key <key>` for bots, and JWTs checked against the user's epoch."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from apps.accounts.enums import AccountsErrorCode
from apps.accounts.models import User
from apps.accounts.services import ApiKeyRefusedError, api_key_authenticate
from apps.accounts.tokens import token_epoch
from apps.core.client_address import client_address

KEYWORD = "Api-Key"
TOKEN_ENDED = "This token was issued before a password change, a two-factor change or 'Sign out everywhere'; sign in again."


class CodedPermissionDenied(exceptions.PermissionDenied):
    """A 403 whose error body carries a specific code and extra (read by the API exception handler)."""

    def __init__(self, message: str, code: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message)
        self.error_code = code
        self.error_extra = extra or {}


class CodedAuthenticationFailed(exceptions.AuthenticationFailed):
    def __init__(self, message: str, code: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message)
        self.error_code = code
        self.error_extra = extra or {}


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, value = header.partition(" ")
        if keyword != KEYWORD:
            return None
        value = value.strip()
        if not value:
            raise exceptions.AuthenticationFailed("The Api-Key header has no key.")
        try:
            api_key = api_key_authenticate(plaintext=value, address=client_address(request._request))
        except ApiKeyRefusedError as exc:
            raise CodedPermissionDenied(exc.message, code=exc.code, extra=exc.extra) from None
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class EpochJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer authentication, refusing tokens issued before the user's current epoch."""

    def get_user(self, validated_token: Any) -> Any:
        user = super().get_user(validated_token)
        if isinstance(user, User) and token_epoch(validated_token) != user.auth_epoch:
            raise CodedAuthenticationFailed(TOKEN_ENDED, code=AccountsErrorCode.TOKEN_REVOKED)
        return user
