from __future__ import annotations

import hmac
import sys

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.core.health import exchange_statuses, run_checks
from apps.core.metrics import registry_for_scrape
from apps.core.navigation import PLANNED_SECTIONS
from apps.core.outage import outage_component, outage_response


@require_GET
@never_cache
def health_view(request: HttpRequest) -> JsonResponse:
    components = run_checks()
    healthy = all(component.ok for component in components)
    body = {
        "status": "ok" if healthy else "unhealthy",
        "components": {c.name: {"ok": c.ok, "detail": c.detail, **c.extra} for c in components},
        "failing": [c.name for c in components if not c.ok],
        # Venues are reported, not judged: the platform is healthy while a venue is down.
        "exchanges": exchange_statuses() if components[0].ok else {},
    }
    return JsonResponse(body, status=200 if healthy else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(header, f"Bearer {token}")


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _metrics_allowed(request):
        return JsonResponse(
            {"code": "permission_denied", "message": "Metrics need a staff login or the metrics bearer token.", "extra": {}},
            status=403,
        )
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=CONTENT_TYPE_LATEST)


@login_required
def planned_section_view(request: HttpRequest, section: str) -> HttpResponse:
    planned = PLANNED_SECTIONS[section]
    return render(request, "core/planned_section.html", {"section": planned, "active_section": section})


def _error_page(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        code = {400: "bad_request", 403: "permission_denied", 404: "not_found", 500: "server_error"}[status]
        return JsonResponse({"code": code, "message": message, "extra": {}}, status=status)
    return render(request, "core/error.html", {"title": title, "message": message}, status=status)


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 400, "Bad request", "The request could not be understood.")


def permission_denied_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 403, "Not allowed", "You do not have access to this page.")


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 404, "Not found", "Nothing lives at this address.")


def server_error_view(request: HttpRequest) -> HttpResponse:
    # Called while the uncaught exception is being handled: an outage met outside a view
    # (the session, the user, a middleware) is a 503 saying what is down.
    component = outage_component(sys.exc_info()[1])
    if component is not None:
        return outage_response(request, component)
    return _error_page(request, 500, "Something went wrong", "The error was logged with its request id.")
