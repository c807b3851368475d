"""The OpenAPI schema documents every operation's errors, with the error body, as the server answers them.

`PlatformAutoSchema` adds to each operation the errors any request can meet (bad input, not
found, rate limited, an outage) and, by what the operation is, those of authentication (401,
403) and of writes (409 conflict, 413 body too large, 422 refused by a rule). A status an
operation documents itself keeps its description and gains the error body.

Rules between fields that a serializer's `validate()` enforces ("quantity or quote_amount,
not both") are stated by the serializer as `openapi_request_rules` (JSON Schema keywords such
as `oneOf`) and merged into its request component, so generated clients know them too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from apps.core.api.fields import NOT_STRIPPED


class ErrorOutputSerializer(serializers.Serializer):
    """The body of every API error."""

    code = serializers.CharField(help_text="Machine-readable reason, e.g. invalid, not_found, otp_invalid, api_key_scope_missing, unavailable.")
    message = serializers.CharField(help_text="One sentence for a person.")
    extra = serializers.DictField(help_text="Details: fields in error (extra.fields), the scope needed, seconds to wait (retry_after_seconds).")


ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `extra.fields` names each field or parameter in error.",
    "401": "Not signed in, or the token or key is invalid, expired or revoked.",
    "403": "Not allowed: an API key without the scope this needs (403 `api_key_scope_missing` naming it), or an operation keys may not use.",
    "404": "Not found, or not yours.",
    "409": "Conflicts with the current state (for example the order is no longer open, or the bot is running).",
    "413": "The request body is larger than the server accepts.",
    "422": "Refused by a rule (a risk limit, the account's trading state).",
    "429": "Too many requests; `Retry-After` says when to try again.",
    "503": "The database or Redis is not answering (`extra.component`); `Retry-After` says when to try again.",
}
_ALWAYS = ("400", "404", "429", "503")
_AUTHENTICATED = ("401", "403")
_WRITES = ("409", "413", "422")
_RETRY_AFTER = {"schema": {"type": "integer", "minimum": 0}, "description": "Seconds to wait before trying again."}


class ExactDecimalFieldExtension(OpenApiSerializerFieldExtension):
    """An exact amount is a string in plain notation whose pattern carries its sign, digits and bound."""

    target_class = "apps.core.api.fields.ExactDecimalField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        return {"type": "string", "format": "decimal", "pattern": self.target.schema_pattern()}


class PlatformAutoSchema(AutoSchema):
    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        rules = getattr(serializer, "openapi_request_rules", None)
        if direction == "request" and rules:
            schema.update(rules)
        return schema

    def _error_codes(self) -> list[str]:
        codes = list(_ALWAYS)
        if not any(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            codes += _AUTHENTICATED
        if self.method in {"POST", "PUT", "PATCH", "DELETE"}:
            codes += _WRITES
        return sorted(codes)

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        # DRF strips text before refusing it as blank: "   " is no more valid than "".
        blank_refused = isinstance(field, serializers.CharField) and field.trim_whitespace and not field.allow_blank and not field.read_only
        if blank_refused and schema.get("type") == "string" and "pattern" not in schema and "format" not in schema and "enum" not in schema:
            schema["pattern"] = NOT_STRIPPED

    def _get_request_body(self, direction: Any = "request") -> dict[str, Any] | None:
        body: dict[str, Any] | None = super()._get_request_body(direction)
        rules = getattr(self.get_request_serializer(), "openapi_request_rules", None)
        if body is not None and rules and ("oneOf" in rules or "anyOf" in rules):
            body["required"] = True  # one of the alternatives must be sent
        return body

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in sorted({*self._error_codes(), *(code for code in responses if code >= "400")}):
            documented = responses.get(code)
            if documented is not None and "content" in documented:
                continue
            description = (documented or {}).get("description") or ERROR_DESCRIPTIONS.get(code, "Error.")
            responses[code] = self._get_response_for_code(OpenApiResponse(ErrorOutputSerializer, description=description), code, direction=direction)
        return dict(sorted(responses.items()))

    def _get_response_headers_for_code(self, status_code: str, direction: Any = "response") -> dict[str, Any]:
        headers: dict[str, Any] = super()._get_response_headers_for_code(status_code, direction)
        if status_code in {"429", "503"}:
            headers["Retry-After"] = _RETRY_AFTER
        return headers
