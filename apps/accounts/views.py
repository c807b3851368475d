from __future__ import annotations

import time
from datetime import timedelta

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.auth import request_user
from apps.accounts.enums import ApiKeyScope
from apps.accounts.forms import (
    ApiKeyCreateForm,
    EmailLoginForm,
    PreferencesForm,
    RegistrationForm,
    SecondFactorForm,
    ServicePasswordChangeForm,
    ServiceSetPasswordForm,
    TotpConfirmForm,
    TwoFactorDisableForm,
    apply_application_error,
)
from apps.accounts.models import User
from apps.accounts.selectors import api_key_list
from apps.accounts.services import (
    api_key_create,
    api_key_revoke,
    login_failure_register,
    login_failures_clear,
    login_throttle_check,
    second_factor_verify,
    totp_disable,
    totp_enrolment_confirm,
    totp_enrolment_start,
    two_factor_enabled,
    user_register_request,
    user_sign_out_everywhere,
    user_update_preferences,
)
from apps.accounts.services.two_factor import recovery_codes_left, totp_secret_for_enrolment
from apps.accounts.step_up import OTP_FIELD, add_step_up_field, step_up_mark_fresh, step_up_verify
from apps.core.client_address import client_address
from apps.core.errors import ApplicationError

PENDING_SIGN_IN_KEY = "sign_in_pending"
PENDING_SIGN_IN_SECONDS = 300
EMAIL_BACKEND_PATH = "apps.accounts.backends.EmailBackend"


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return None


@require_http_methods(["GET", "POST"])
def register_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home:dashboard")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_register_request(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                display_name=form.cleaned_data["display_name"],
                sign_in_url=request.build_absolute_uri(reverse("accounts:login")),
                password_reset_url=request.build_absolute_uri(reverse("accounts:password_reset")),
            )
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            # The same answer whether the email was new or already had an account.
            return render(request, "accounts/register_done.html", {"email": form.cleaned_data["email"].strip().lower()})
    return render(request, "accounts/register.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request) or "home:dashboard")
    form = EmailLoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        assert user is not None
        if two_factor_enabled(user=user):
            # The password was right; the session is not signed in until the code is too.
            request.session[PENDING_SIGN_IN_KEY] = {"user": str(user.pk), "at": time.time(), "next": _safe_next(request) or ""}
            return redirect("accounts:login_two_factor")
        login_failures_clear(email=user.email, address=client_address(request))
        login(request, user, backend=EMAIL_BACKEND_PATH)
        return redirect(_staff_landing(user) or _safe_next(request) or "home:dashboard")
    context = {"form": form, "next": _safe_next(request) or ""}
    return render(request, "accounts/login.html", context, status=400 if form.errors else 200)


def _staff_landing(user: User) -> str | None:
    """Staff without two-factor go to its setup first when REQUIRE_STAFF_2FA is on."""
    if settings.REQUIRE_STAFF_2FA and user.is_staff and not two_factor_enabled(user=user):
        return reverse("accounts:two_factor_setup")
    return None


def _pending_sign_in(request: HttpRequest) -> tuple[User, str] | None:
    """The user whose password was right a moment ago on this session, and where they were going."""
    pending = request.session.get(PENDING_SIGN_IN_KEY)
    if not isinstance(pending, dict) or not pending.get("user") or time.time() - float(pending.get("at", 0)) > PENDING_SIGN_IN_SECONDS:
        return None
    user = User.objects.filter(pk=str(pending.get("user", "")), is_active=True).first()
    return (user, str(pending.get("next", ""))) if user is not None else None


@require_http_methods(["GET", "POST"])
def login_two_factor_view(request: HttpRequest) -> HttpResponse:
    pending = _pending_sign_in(request)
    if pending is None:
        messages.info(request, "Sign in with your email and password first.")
        return redirect("accounts:login")
    user, next_url = pending
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = client_address(request)
        try:
            login_throttle_check(email=user.email, address=address)
            second_factor_verify(user=user, code=form.cleaned_data["otp"])
        except ApplicationError as exc:
            if exc.status_code == 401:
                login_failure_register(email=user.email, address=address)
            form.add_error(OTP_FIELD if exc.status_code == 401 else None, exc.message)
        else:
            login_failures_clear(email=user.email, address=address)
            del request.session[PENDING_SIGN_IN_KEY]
            login(request, user, backend=EMAIL_BACKEND_PATH)
            step_up_mark_fresh(request, user)
            return redirect(next_url or "home:dashboard")
    return render(request, "accounts/login_two_factor.html", {"form": form}, status=400 if form.errors else 200)


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
        "api_key_form": add_step_up_field(ApiKeyCreateForm(), request, user),
        "api_keys": api_key_list(actor=user),
        "new_api_key": None,
        "two_factor_on": two_factor_enabled(user=user),
        "recovery_codes_left": recovery_codes_left(user=user),
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
    user = request_user(request)
    form = ApiKeyCreateForm(request.POST)
    add_step_up_field(form, request, user)
    new_api_key = None
    if form.is_valid():
        data = form.cleaned_data
        days = data["expires_in_days"]
        try:
            if ApiKeyScope.TRADE in data["scopes"]:
                step_up_verify(request, user, data.get(OTP_FIELD))
            new_api_key = api_key_create(
                actor=user,
                name=data["name"],
                scopes=data["scopes"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                allowed_networks=form.network_list(),
            )
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            form = ApiKeyCreateForm()
            add_step_up_field(form, request, user)
    context = _settings_context(request, api_key_form=form, new_api_key=new_api_key)
    status = 400 if form.errors else 200
    template = "accounts/settings.html#api-keys" if request.htmx else "accounts/settings.html"  # type: ignore[attr-defined]
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)  # the new key's plaintext is on this page
    return response


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


@login_required
@require_POST
def sign_out_everywhere_view(request: HttpRequest) -> HttpResponse:
    user_sign_out_everywhere(actor=request_user(request))
    logout(request)
    messages.info(request, "You are signed out on every device, and every API token issued so far no longer works.")
    return redirect("accounts:login")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if two_factor_enabled(user=user):
        messages.info(request, "Two-factor authentication is already on.")
        return redirect("accounts:settings")
    enrolment = totp_secret_for_enrolment(actor=user)
    if request.method == "GET" or enrolment is None:
        enrolment = totp_enrolment_start(actor=user)
    form = TotpConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = totp_enrolment_confirm(actor=user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            apply_application_error(form, exc)
        else:
            user.refresh_from_db(fields=["auth_epoch"])
            update_session_auth_hash(request, user)  # other sessions end, this one stays
            step_up_mark_fresh(request, user)
            return render(request, "accounts/two_factor_recovery_codes.html", {"codes": codes})
    context = {"form": form, "secret": enrolment.secret, "staff_required": settings.REQUIRE_STAFF_2FA and user.is_staff}
    return render(request, "accounts/two_factor_setup.html", context, status=400 if form.errors else 200)


@login_required
@never_cache
@require_GET
def two_factor_qr_view(request: HttpRequest) -> HttpResponse:
    enrolment = totp_secret_for_enrolment(actor=request_user(request))
    if enrolment is None:
        return HttpResponse(status=404)
    image = qrcode.make(enrolment.provisioning_uri(request_user(request).email), image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    return HttpResponse(image.to_string(encoding="unicode"), content_type="image/svg+xml")


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_disable_view(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    if not two_factor_enabled(user=user):
        return redirect("accounts:settings")
    form = TwoFactorDisableForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = client_address(request)
        try:
            login_throttle_check(email=user.email, address=address)
            totp_disable(actor=user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            if exc.status_code == 401:
                login_failure_register(email=user.email, address=address)
            form.add_error("code" if exc.status_code == 401 else None, exc.message)
        else:
            user.refresh_from_db(fields=["auth_epoch"])
            update_session_auth_hash(request, user)
            messages.success(request, "Two-factor authentication is off. Every other session has ended.")
            return redirect("accounts:settings")
    return render(request, "accounts/two_factor_disable.html", {"form": form}, status=400 if form.errors else 200)


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
