from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.auth import request_user
from apps.accounts.forms import (
    ApiKeyCreateForm,
    EmailLoginForm,
    PreferencesForm,
    RegistrationForm,
    ServicePasswordChangeForm,
    ServiceSetPasswordForm,
    apply_application_error,
)
from apps.accounts.selectors import api_key_list
from apps.accounts.services import api_key_create, api_key_revoke, user_register, user_update_preferences
from apps.core.errors import ApplicationError


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return None


@require_http_methods(["GET", "POST"])
def register_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("core:dashboard")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                display_name=form.cleaned_data["display_name"],
            )
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            login(request, user, backend="apps.accounts.backends.EmailBackend")
            messages.success(request, "Welcome! Your account is ready.")
            return redirect("core:dashboard")
    return render(request, "accounts/register.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request) or "core:dashboard")
    form = EmailLoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        assert user is not None
        login(request, user, backend="apps.accounts.backends.EmailBackend")
        return redirect(_safe_next(request) or "core:dashboard")
    context = {"form": form, "next": _safe_next(request) or ""}
    return render(request, "accounts/login.html", context, status=400 if form.errors else 200)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


def _settings_context(request: HttpRequest, **overrides: object) -> dict[str, object]:
    user = request_user(request)
    context: dict[str, object] = {
        "active_section": "settings",
        "preferences_form": PreferencesForm(
            initial={
                "display_name": user.display_name,
                "time_zone": user.time_zone,
                "quote_currency": user.quote_currency,
                "theme": user.theme,
            }
        ),
        "api_key_form": ApiKeyCreateForm(),
        "api_keys": api_key_list(actor=user),
        "new_api_key": None,
    }
    context.update(overrides)
    return context


@login_required
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            try:
                user_update_preferences(actor=request_user(request), **form.cleaned_data)
            except ApplicationError as exc:
                apply_application_error(form, exc)
            else:
                messages.success(request, "Preferences saved.")
                return redirect("accounts:settings")
        return render(request, "accounts/settings.html", _settings_context(request, preferences_form=form), status=400)
    return render(request, "accounts/settings.html", _settings_context(request))


@login_required
@require_POST
def api_key_create_view(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    new_api_key = None
    if form.is_valid():
        try:
            new_api_key = api_key_create(actor=request_user(request), name=form.cleaned_data["name"])
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            form = ApiKeyCreateForm()
    context = _settings_context(request, api_key_form=form, new_api_key=new_api_key)
    status = 400 if form.errors else 200
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "accounts/settings.html#api-keys", context, status=status)
    return render(request, "accounts/settings.html", context, status=status)


@login_required
@require_POST
def api_key_revoke_view(request: HttpRequest, api_key_id: str) -> HttpResponse:
    try:
        api_key_revoke(actor=request_user(request), api_key_id=api_key_id)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    context = _settings_context(request)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "accounts/settings.html#api-keys", context)
    return redirect("accounts:settings")


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = ServicePasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:settings")

    def form_valid(self, form: ServicePasswordChangeForm) -> HttpResponse:  # type: ignore[override]
        user = form.save()
        update_session_auth_hash(self.request, user)
        messages.success(self.request, "Password changed.")
        return redirect(self.success_url)


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = ServiceSetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
