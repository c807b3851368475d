from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.audit.selectors import audit_event_list
from apps.core import rls


@login_required
def audit_list_view(request: HttpRequest) -> HttpResponse:
    action_prefix = request.GET.get("action", "").strip()[:64]
    everyone = request.GET.get("scope") == "all" and request.user.is_staff
    if everyone:
        rls.allow_staff_view(request)
    events = audit_event_list(actor=request.user, action_prefix=action_prefix, include_all_users=everyone)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    context = {"page": page, "action_prefix": action_prefix, "everyone": everyone, "active_section": "audit"}
    template = "audit/list.html#event-table" if request.htmx else "audit/list.html"  # type: ignore[attr-defined]
    return render(request, template, context)
