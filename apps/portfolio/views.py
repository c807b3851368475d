from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.accounts.auth import request_user
from apps.core.errors import ApplicationError
from apps.exchanges.selectors import api_connection_get, exchange_get
from apps.portfolio.enums import AccountMode
from apps.portfolio.forms import PaperAccountForm
from apps.portfolio.mode import SESSION_KEY
from apps.portfolio.services import live_account_create, paper_account_create


@login_required
@require_POST
def mode_switch_view(request: HttpRequest) -> HttpResponse:
    mode = request.POST.get("mode", "")
    if mode in AccountMode.values:
        request.session[SESSION_KEY] = mode
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponseClientRefresh()
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)


@login_required
@require_POST
def paper_account_create_view(request: HttpRequest) -> HttpResponse:
    form = PaperAccountForm(request.POST)
    if form.is_valid():
        try:
            paper_account_create(
                actor=request_user(request),
                exchange=exchange_get(code=form.cleaned_data["exchange"]),
                initial_balances={"USDT": form.cleaned_data["starting_usdt"]},
                fee_tier=form.cleaned_data["fee_tier"],
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Paper account created.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    request.session[SESSION_KEY] = AccountMode.PAPER
    return redirect("orders:list")


@login_required
@require_POST
def live_account_create_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    try:
        connection = api_connection_get(actor=user, connection_id=request.POST.get("connection", ""))
        live_account_create(actor=user, connection=connection)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        request.session[SESSION_KEY] = AccountMode.LIVE
        messages.success(request, "Live account created. Orders placed in live mode now go to the exchange.")
    return redirect("positions:list")
