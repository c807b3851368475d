"""A request that meets a PostgreSQL or Redis outage answers 503 and says what is down, never a 500.

The API answers with the error body and `Retry-After`; a page answers with a page of its own
that needs neither the database nor Redis to render (no user, no navigation, no session).
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from apps.core.errors import ApplicationError, ServiceUnavailableError

logger = logging.getLogger(__name__)

_COMPONENT_NAMES = {"database": "The database (PostgreSQL)", "redis": "The cache and message broker (Redis)"}


def outage_component(exc: BaseException | None) -> str | None:
    """Which store is down ("database" or "redis") when `exc`, or what caused it, is a lost or refused connection.

    A platform error keeps its own answer whatever it was raised from: the code chose it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and not isinstance(exc, ApplicationError):
        seen.add(id(exc))
        if isinstance(exc, OperationalError | InterfaceError):
            return "database"
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return "redis"
        exc = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)
    return None


def outage_error(component: str) -> ServiceUnavailableError:
    retry_after = int(settings.OUTAGE_RETRY_AFTER_SECONDS)
    return ServiceUnavailableError(
        f"{_COMPONENT_NAMES[component]} is not answering; try again in {retry_after} seconds.",
        extra={"component": component, "retry_after_seconds": retry_after},
    )


def outage_response(request: HttpRequest, component: str) -> HttpResponse:
    """503 with Retry-After: the error body under /api/, the degraded page elsewhere."""
    error = outage_error(component)
    logger.warning("answered 503: %s is down (%s %s)", component, request.method, request.path)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error.as_dict(), status=error.status_code)
    else:
        page = render_to_string("core/unavailable.html", {"component": _COMPONENT_NAMES[component], "retry_after": error.extra["retry_after_seconds"]})
        response = HttpResponse(page, status=error.status_code)
    response["Retry-After"] = str(error.extra["retry_after_seconds"])
    response["Cache-Control"] = "no-store"
    return response
