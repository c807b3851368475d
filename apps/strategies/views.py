from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.strategies.domain.registry import list_strategies


@login_required
@require_GET
def strategies_view(request: HttpRequest) -> HttpResponse:
    """The built-in strategies: what each does and its parameters (type, default, range)."""
    strategies = [{**strategy, "parameters": list(strategy["schema"]["properties"].items())} for strategy in list_strategies()]
    return render(request, "strategies/strategies.html", {"active_section": "strategies", "strategies": strategies})
