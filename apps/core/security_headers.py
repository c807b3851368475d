"""Headers every response carries.

The Content-Security-Policy allows scripts, styles, images and fonts from this site only:
no inline script, no inline style attribute, no eval. Pages keep their behaviour in static
files (`static/js/`), so a script injected into a page through a rendered value cannot run.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

API_PREFIX = "/api/"


def content_security_policy() -> str:
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": "'self'",  # CSP level 3: 'self' covers ws:// and wss:// to this host
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


_POLICY = content_security_policy()


class SecurityHeadersMiddleware:
    """CSP on every response; `Cache-Control: no-store` on every API response and every page a signed-in user sees."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", _POLICY)
        user = getattr(request, "user", None)
        if request.path.startswith(API_PREFIX) or (user is not None and user.is_authenticated):
            patch_cache_control(response, no_store=True)
        return response
