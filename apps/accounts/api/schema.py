"""OpenAPI security schemes: one per API-key scope, and on each operation the one it needs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object

from apps.accounts.enums import ApiKeyScope
from apps.accounts.permissions import required_api_key_scope

_SCHEME_NAMES = {scope: f"ApiKey{scope.capitalize()}" for scope in ApiKeyScope.values}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = list(_SCHEME_NAMES.values())

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[Any]] | None:  # type: ignore[override]
        scope = required_api_key_scope(auto_schema.view, auto_schema.method.upper())
        return {_SCHEME_NAMES[scope]: []} if scope else None

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": (
                    f"`Authorization: Api-Key <key>` with a key holding the `{scope}` scope ({label.split(': ', 1)[1]}). "
                    "A key without it gets 403 `api_key_scope_missing` naming the scope; operations without an "
                    "API-key scheme refuse every key (403 `api_key_not_allowed`)."
                ),
            }
            for scope, label in ApiKeyScope.choices
        ]


class EpochJWTScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.EpochJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        scheme = build_bearer_security_scheme_object(header_name="AUTHORIZATION", token_prefix="Bearer", bearer_format="JWT")
        scheme["description"] = (
            "Access token from POST /api/v1/auth/token/ (15 minutes at most); ends with 'Sign out everywhere', a password or a two-factor change."
        )
        return scheme
