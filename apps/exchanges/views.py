from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.auth import request_user
from apps.accounts.forms import apply_application_error
from apps.accounts.step_up import OTP_FIELD, add_step_up_field, step_up_verify
from apps.core.errors import ApplicationError
from apps.exchanges.forms import ApiConnectionForm
from apps.exchanges.selectors import api_connection_list
from apps.exchanges.services import api_connection_create, api_connection_delete, api_connection_verify


def _render(request: HttpRequest, form: forms.Form, status: int = 200, flash: str = "", flash_kind: str = "success") -> HttpResponse:
    context = {
        "active_section": "settings",
        "form": form,
        "connections": api_connection_list(actor=request_user(request)),
        "flash": flash,
        "flash_kind": flash_kind,
    }
    template = "exchanges/connections.html#connections" if request.htmx else "exchanges/connections.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def connections_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if request.method == "GET":
        return _render(request, add_step_up_field(ApiConnectionForm(), request, user))
    form = add_step_up_field(ApiConnectionForm(request.POST), request, user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            step_up_verify(request, user, data.get(OTP_FIELD))
            connection = api_connection_create(
                actor=request_user(request),
                exchange=data["exchange"],
                label=data["label"],
                api_key=data["api_key"],
                secret=data["secret"],
                passphrase=data["passphrase"],
                testnet=data["testnet"],
            )
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            return _render(
                request,
                add_step_up_field(ApiConnectionForm(), request, user),
                flash=f"Saved {connection.label}. Press Verify to check it with {connection.exchange.name}.",
            )
    return _render(request, form, status=400)


@login_required
@require_POST
def connection_verify_view(request: HttpRequest, connection_id: str) -> HttpResponse:
    try:
        connection = api_connection_verify(actor=request_user(request), connection_id=connection_id)
    except ApplicationError as exc:
        return _render(request, ApiConnectionForm(), status=200, flash=exc.message, flash_kind="error")
    kind = "success" if connection.is_verified else "error"
    return _render(request, ApiConnectionForm(), flash=f"{connection.label}: {connection.status_detail}", flash_kind=kind)


@login_required
@require_POST
def connection_delete_view(request: HttpRequest, connection_id: str) -> HttpResponse:
    try:
        api_connection_delete(actor=request_user(request), connection_id=connection_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("exchanges:connections")
    return _render(request, ApiConnectionForm(), flash="Connection removed.")
