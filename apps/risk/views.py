from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.auth import request_user
from apps.accounts.forms import apply_application_error
from apps.core.errors import ApplicationError
from apps.portfolio.selectors import trading_account_get, trading_account_list
from apps.portfolio.services import account_set_trading_state
from apps.risk.forms import RiskLimitsForm
from apps.risk.services import LIMIT_FIELDS, risk_limits_get, risk_limits_update


@login_required
@require_http_methods(["GET", "POST"])
def risk_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    limits = risk_limits_get(actor=user)
    form = RiskLimitsForm(request.POST or None, initial={name: getattr(limits, name) for name in LIMIT_FIELDS})
    if request.method == "POST" and form.is_valid():
        try:
            risk_limits_update(actor=user, **form.cleaned_data)
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            messages.success(request, "Risk limits saved. They apply to every order from the UI, the API and your bots.")
            return redirect("risk:limits")
    context = {"active_section": "risk", "form": form, "accounts": trading_account_list(actor=user)}
    return render(request, "risk/limits.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def account_state_view(request: HttpRequest, account_id: str) -> HttpResponse:
    user = request_user(request)
    try:
        account = trading_account_get(actor=user, account_id=account_id)
        account_set_trading_state(actor=user, account=account, state=request.POST.get("state", ""), reason=request.POST.get("reason", "set by you"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("risk:limits")
