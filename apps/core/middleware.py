from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

from apps.core.client_address import client_address
from apps.core.logging import current_request_id
from apps.core.metrics import db_queries_total, http_request_db_seconds, http_request_duration_seconds, http_requests_total
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


class ApplicationErrorMiddleware:
    """A service error that escapes an HTML view becomes a page with its status, never a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.http import JsonResponse
        from django.shortcuts import render

        from apps.core.errors import ApplicationError

        if not isinstance(exception, ApplicationError):
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(exception.as_dict(), status=exception.status_code)
        titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Refused", 429: "Slow down", 503: "Unavailable"}
        context = {"title": titles.get(exception.status_code, "Something went wrong"), "message": exception.message}
        return render(request, "core/error.html", context, status=exception.status_code)
