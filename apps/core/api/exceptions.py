"""Every API error has the same body: {"code", "message", "extra"}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from apps.core.errors import ApplicationError
from apps.core.outage import outage_component, outage_error

_DRF_CODES = {
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


_RETRY_STATUSES = {status.HTTP_429_TOO_MANY_REQUESTS, status.HTTP_503_SERVICE_UNAVAILABLE}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    component = outage_component(exc)
    if component is not None:
        exc = outage_error(component)
    if isinstance(exc, ApplicationError):
        error_response = Response(exc.as_dict(), status=exc.status_code)
        retry_after = exc.extra.get("retry_after_seconds")
        if exc.status_code in _RETRY_STATUSES and isinstance(retry_after, int):
            error_response["Retry-After"] = str(retry_after)
        return error_response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "message": _first_message(exc.detail) or "Invalid input.",
            "extra": {"fields": exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}},
        }
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    code = getattr(exc, "error_code", None) or next((name for cls, name in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    extra: dict[str, Any] = dict(getattr(exc, "error_extra", {}))
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        extra["retry_after_seconds"] = int(wait)
    message = _plain_message(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"code": code, "message": message, "extra": extra}
    return response


def _plain_message(detail: Any) -> str:
    """A sentence for the client: never the repr of a nested detail (simplejwt nests its own)."""
    if isinstance(detail, dict) and "detail" in detail:
        detail = detail["detail"]
    text = (_first_message(detail) or "The request was refused.").strip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


def _first_message(detail: Any) -> str | None:
    """The first message, prefixed with its field, for a one-line summary."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            if inner:
                return inner if field == "non_field_errors" else f"{field}: {inner}"
        return None
    if isinstance(detail, list):
        for item in detail:
            inner = _first_message(item)
            if inner:
                return inner
        return None
    return str(detail)
