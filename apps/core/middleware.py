from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.response import Response

from apps.core.client_address import client_address
from apps.core.errors import ApplicationError
from apps.core.logging import current_request_id
from apps.core.metrics import db_queries_total, http_request_db_seconds, http_request_duration_seconds, http_requests_total
from apps.core.outage import outage_component, outage_response
from apps.core.request_context import current_ip_address

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Take a well-formed X-Request-ID from the client or make one; echo it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request_id.set(request_id)
        ip_token = current_ip_address.set(client_address(request))
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
            current_ip_address.reset(ip_token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class MetricsMiddleware:
    """Requests by route template (never the raw path: ids would explode the label set), their
    latency, and the time and number of database queries each one ran."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timer = _QueryTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = self.get_response(request)
        elapsed = time.perf_counter() - started
        method = request.method if request.method in _KNOWN_METHODS else "OTHER"
        route = route_label(request)
        http_requests_total.labels(method=method, route=route, status=str(response.status_code)).inc()
        http_request_duration_seconds.labels(method=method, route=route).observe(elapsed)
        http_request_db_seconds.labels(route=route).observe(timer.seconds)
        db_queries_total.labels(route=route).inc(timer.queries)
        return response


_KNOWN_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def route_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "static" if request.path.startswith("/static/") else "unmatched"
    return "/" + match.route


class _QueryTimer:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


_ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Refused",
    429: "Slow down",
    503: "Unavailable",
}


def application_error_response(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    """The error body under /api/, the error page elsewhere, with the error's status."""
    if request.path.startswith("/api/"):
        return JsonResponse(error.as_dict(), status=error.status_code)
    context = {"title": _ERROR_TITLES.get(error.status_code, "Something went wrong"), "message": error.message}
    return render(request, "core/error.html", context, status=error.status_code)


_STATUS_CODES = {400: "bad_request", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 500: "server_error"}
_STATUS_MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have access to this address.",
    404: "Nothing lives at this address.",
    500: "The error was logged with its request id.",
}


class ApiErrorBodyMiddleware:
    """Every error under /api/ has the JSON error body, whatever DEBUG says.

    Django answers an unknown URL, a refused request or a crash before or outside DRF with
    its own page (the technical one when DEBUG is on); under /api/ that page becomes the
    error body with the same status. DRF's responses already carry the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not request.path.startswith("/api/") or response.get("Content-Type", "").startswith("application/json"):
            return response
        if isinstance(response, Response):
            return response
        status = response.status_code
        body = {"code": _STATUS_CODES.get(status, "error"), "message": _STATUS_MESSAGES.get(status, response.reason_phrase + "."), "extra": {}}
        replacement = JsonResponse(body, status=status)
        for header in ("Retry-After", "Allow", REQUEST_ID_HEADER):
            if header in response:
                replacement[header] = response[header]
        return replacement


class ApplicationErrorMiddleware:
    """A service error that escapes an HTML view becomes a page with its status, an outage a 503, never a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        component = outage_component(exception)
        if component is not None:
            return outage_response(request, component)
        if not isinstance(exception, ApplicationError):
            return None
        return application_error_response(request, exception)
