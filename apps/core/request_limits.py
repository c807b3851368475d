"""Requests no view can answer sensibly are refused before any view runs.

- A NUL character in the path or a query parameter: PostgreSQL text cannot hold one, and no
  identifier, symbol or date contains one (400); more query parameters than Django parses (400).
- A body larger than REQUEST_BODY_MAX_BYTES (413).
- A JSON body nested deeper than REQUEST_JSON_MAX_DEPTH: Python's JSON parser recurses per
  level and gives up with a RecursionError long before memory runs out (400).

The API answers with the error body, pages with the error page.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict

from apps.core.errors import ApplicationError, CoreErrorCode, PayloadTooLargeError, ValidationError
from apps.core.middleware import application_error_response

# A JSON string (skipped: brackets inside it do not nest) or a bracket.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in `body` (0 for a scalar), without parsing it."""
    depth = deepest = 0
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _query_refusal(request: HttpRequest) -> ApplicationError | None:
    if "\x00" in request.path:
        return ValidationError("The address contains a NUL character.")
    try:
        parameters = request.GET.lists()
    except TooManyFieldsSent:
        request.GET = QueryDict()  # later readers (logging, error pages) would raise again
        return ValidationError(f"More than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} query parameters.")
    for name, values in parameters:
        if "\x00" in name or any("\x00" in value for value in values):
            label = name.replace("\x00", "\\x00")
            return ValidationError.for_field(label, f"The {label!r} parameter contains a NUL character.")
    return None


def _declared_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _is_json(request: HttpRequest) -> bool:
    media_type = request.content_type or ""
    return media_type == "application/json" or media_type.endswith("+json")


def _body_refusal(request: HttpRequest) -> ApplicationError | None:
    limit = int(settings.REQUEST_BODY_MAX_BYTES)
    too_large = PayloadTooLargeError(f"The request body is larger than {limit} bytes.", extra={"max_bytes": limit})
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        return too_large
    if not declared or not _is_json(request):
        return None
    body = request.body
    if len(body) > limit:
        return too_large
    max_depth = int(settings.REQUEST_JSON_MAX_DEPTH)
    # A body with fewer brackets than the limit cannot nest deeper than it: skip the scan.
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(body) > max_depth:
        return ValidationError(f"The JSON body nests arrays and objects deeper than {max_depth} levels.", code=CoreErrorCode.TOO_DEEP)
    return None


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = _query_refusal(request) or _body_refusal(request)
        if refusal is not None:
            return application_error_response(request, refusal)
        return self.get_response(request)
