"""Headers every response carries, and the JSON error body for every API error whatever the settings.

The Content-Security-Policy allows scripts, styles, images and fonts from this site only:
no inline script, no inline style attribute, no eval. Pages keep their behaviour in static
files (`static/js/`), so a script injected into a page through a rendered value cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

API_PREFIX = "/api/"

_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


def content_security_policy(request: HttpRequest) -> str:
    host = request.get_host()
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": f"'self' ws://{host} wss://{host}",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";", 1)[0].strip().endswith("json")


def api_error_response(status: int, original: HttpResponse) -> JsonResponse:
    """The platform's error body in place of an HTML error page (Django's technical pages included)."""
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    code = _ERROR_CODES.get(status, "server_error" if status >= 500 else "error")
    message = {404: "Nothing lives at this address.", 500: "The error was logged with its request id."}.get(status, f"{reason}.")
    replacement = JsonResponse({"code": code, "message": message, "extra": {}}, status=status)
    for header in ("Retry-After", "Allow", "WWW-Authenticate"):
        if header in original:
            replacement[header] = original[header]
    return replacement


class SecurityHeadersMiddleware:
    """CSP on every response; `Cache-Control: no-store` on every API response and every page a signed-in user sees."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and response.status_code >= 400 and not is_json(response):
            response = api_error_response(response.status_code, response)
        response.setdefault("Content-Security-Policy", content_security_policy(request))
        user = getattr(request, "user", None)
        if request.path.startswith(API_PREFIX) or (user is not None and user.is_authenticated):
            patch_cache_control(response, no_store=True)
        return response
