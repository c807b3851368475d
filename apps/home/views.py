from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.home.dashboard import dashboard_figures
from apps.portfolio.mode import current_mode


@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    figures = dashboard_figures(actor=request.user, mode=current_mode(request))
    template = "home/dashboard.html#dashboard-body" if request.htmx else "home/dashboard.html"  # type: ignore[attr-defined]
    return render(request, template, {"active_section": "dashboard", "figures": figures})
