from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from apps.audit.filters import ACTION_GROUPS, AuditFilter, audit_filter_from_params
from apps.audit.models import ActorKind
from apps.audit.selectors import audit_event_list
from apps.audit.verification import audit_verification_latest
from apps.core import rls
from apps.core.errors import ApplicationError

PAGE_SIZE = 50


def _filter_error(exc: ApplicationError) -> dict[str, str]:
    fields = (exc.extra or {}).get("fields", {})
    return {name: messages[0] for name, messages in fields.items()} or {"__all__": exc.message}


@login_required
def audit_list_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    errors: dict[str, str] = {}
    try:
        filters = audit_filter_from_params(request.GET, actor=user, strict_scope=False)
    except ApplicationError as exc:
        errors = _filter_error(exc)
        filters = AuditFilter()
    if filters.everyone:
        rls.allow_staff_view(request)
    events = audit_event_list(actor=user, filters=filters)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "params": request.GET,
        "errors": errors,
        "groups": [(key, label) for key, (label, _prefixes) in ACTION_GROUPS.items()],
        "actor_kinds": ActorKind.choices,
        "everyone": filters.everyone,
        "export_query": urlencode(filters.as_params()),
        "verification": audit_verification_latest() if user.is_staff else None,  # type: ignore[union-attr]
        "action_prefix": filters.action,
        "active_section": "audit",
    }
    template = "audit/list.html#event-table" if request.htmx else "audit/list.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=400 if errors else 200)
