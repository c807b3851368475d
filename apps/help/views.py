from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.help.guides import GuideNotFound, guide_get, guide_list


@login_required
@require_GET
def help_index_view(request: HttpRequest) -> HttpResponse:
    """Every guide with its summary, in reading order."""
    return render(request, "help/index.html", {"active_section": "help", "guides": guide_list()})


@login_required
@require_GET
def help_guide_view(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        guide = guide_get(slug=slug)
    except GuideNotFound as exc:
        context = {"active_section": "help", "message": exc.message, "guides": guide_list()}
        return render(request, "help/not_found.html", context, status=404)
    return render(request, "help/guide.html", {"active_section": "help", "guide": guide, "guides": guide_list()})
