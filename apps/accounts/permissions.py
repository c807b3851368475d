"""What an API key may do: the scope each operation needs, and the operations no key may use.

A view names the scope per HTTP method in `api_key_scopes`; a method missing from it is
refused to every key. A view that names none lets keys read (safe methods need `read`)
and write nothing. Sessions and JWTs are not limited by scopes.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from apps.accounts.authentication import CodedPermissionDenied
from apps.accounts.enums import AccountsErrorCode, ApiKeyScope
from apps.accounts.models import ApiKey

NOT_FOR_KEYS = (
    "API keys cannot do this: managing keys, the profile, the password, two-factor authentication and exchange connections needs a signed-in session or a JWT."
)


def required_api_key_scope(view: Any, method: str) -> str | None:
    """The scope a key needs for `method` on `view`, or None when no key may call it."""
    declared: dict[str, str] | None = getattr(view, "api_key_scopes", None)
    if declared is None:
        return ApiKeyScope.READ.value if method in SAFE_METHODS else None
    if method in {"HEAD", "OPTIONS"} and method not in declared:
        method = "GET"
    scope = declared.get(method)
    return str(scope) if scope is not None else None


class ApiKeyScopePermission(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        scope = required_api_key_scope(view, request.method or "GET")
        if scope is None:
            raise CodedPermissionDenied(NOT_FOR_KEYS, code=AccountsErrorCode.API_KEY_NOT_ALLOWED)
        if scope not in api_key.scopes:
            raise CodedPermissionDenied(
                f"This API key lacks the '{scope}' scope that this operation needs; create a key with it.",
                code=AccountsErrorCode.API_KEY_SCOPE_MISSING,
                extra={"required_scope": scope, "key_scopes": list(api_key.scopes)},
            )
        return True
