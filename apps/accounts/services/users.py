"""Writes for users, preferences, passwords and API keys. Each is one transaction with an audit event."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from apps.accounts.enums import AccountsErrorCode, QuoteCurrency, Theme
from apps.accounts.models import TIME_ZONE_CHOICES, User
from apps.accounts.services.sessions import user_auth_epoch_raise
from apps.audit.services import audit_record, diff_fields
from apps.core.errors import ValidationError

_VALID_TIME_ZONES = {name for name, _label in TIME_ZONE_CHOICES}


def _normalise_email(email: str) -> str:
    return email.strip().lower()


@transaction.atomic
def user_register(*, email: str, password: str, display_name: str = "") -> User:
    email = _normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError.for_field("email", "An account with this email already exists.", code=AccountsErrorCode.EMAIL_TAKEN)
    candidate = User(email=email, display_name=display_name.strip())
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationError("; ".join(exc.messages), extra={"fields": {"password": exc.messages}}) from None
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        raise ValidationError.for_field("email", "An account with this email already exists.", code=AccountsErrorCode.EMAIL_TAKEN) from None
    audit_record(actor=candidate, action="user.registered", summary=f"{email} registered", target=candidate)
    return candidate


def _send_account_email(*, to: str, template: str, context: dict[str, str]) -> None:
    subject = render_to_string(f"accounts/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/{template}_email.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to]))


@transaction.atomic
def user_register_request(*, email: str, password: str, display_name: str, sign_in_url: str, password_reset_url: str) -> User | None:
    """Registration from the public page, which answers the same whether or not the email is known.

    A new email gets an account and a welcome email. A known one gets no account and no
    error; its owner gets an email saying someone tried to register with it. A weak
    password is refused either way, before the email is looked at.
    """
    try:
        user = user_register(email=email, password=password, display_name=display_name)
    except ValidationError as exc:
        if exc.code != AccountsErrorCode.EMAIL_TAKEN:
            raise
        owner = User.objects.get(email__iexact=_normalise_email(email))
        audit_record(actor=None, owner=owner, action="user.registration_attempted", summary="Someone tried to register with this email", target=owner)
        context = {"email": owner.email, "sign_in_url": sign_in_url, "password_reset_url": password_reset_url}
        _send_account_email(to=owner.email, template="registration_attempt", context=context)
        return None
    _send_account_email(to=user.email, template="welcome", context={"email": user.email, "sign_in_url": sign_in_url, "password_reset_url": password_reset_url})
    return user


@transaction.atomic
def user_update_preferences(*, actor: User, time_zone: str, quote_currency: str, theme: str, display_name: str | None = None) -> User:
    if time_zone not in _VALID_TIME_ZONES:
        raise ValidationError.for_field("time_zone", f"Unknown time zone {time_zone!r}.")
    if quote_currency not in QuoteCurrency.values:
        raise ValidationError.for_field("quote_currency", f"Unsupported quote currency {quote_currency!r}.")
    if theme not in Theme.values:
        raise ValidationError.for_field("theme", f"Unknown theme {theme!r}.")
    user = User.objects.select_for_update().get(pk=actor.pk)
    fields = ["time_zone", "quote_currency", "theme", "display_name"]
    before = {name: getattr(user, name) for name in fields}
    user.time_zone, user.quote_currency, user.theme = time_zone, quote_currency, theme
    if display_name is not None:
        user.display_name = display_name.strip()[:80]
    after = {name: getattr(user, name) for name in fields}
    changes = diff_fields(before, after)
    if changes:
        user.save(update_fields=[*changes.keys(), "updated_at"])
        audit_record(actor=actor, action="user.preferences_changed", summary="Preferences changed", target=user, changes=changes)
    return user


@transaction.atomic
def user_set_password(*, actor: User | None, user: User, password: str, reason: str) -> User:
    """Set a new password (after a change or a reset). The hash is never audited."""
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError("; ".join(exc.messages), extra={"fields": {"password": exc.messages}}) from None
    user.set_password(password)
    user.save(update_fields=["password", "updated_at"])
    # A new password ends every session and token; the view keeps the current session when it should.
    user_auth_epoch_raise(user=user)
    audit_record(actor=actor or user, owner=user, action=f"user.password_{reason}", summary=f"Password {reason}", target=user)
    return user


@transaction.atomic
def user_grant_staff(*, actor: User | None, user: User, superuser: bool = False) -> User:
    before = {"is_staff": user.is_staff, "is_superuser": user.is_superuser}
    user.is_staff = True
    user.is_superuser = user.is_superuser or superuser
    user.save(update_fields=["is_staff", "is_superuser", "updated_at"])
    changes = diff_fields(before, {"is_staff": user.is_staff, "is_superuser": user.is_superuser})
    audit_record(actor=actor, owner=user, action="user.staff_granted", summary=f"{user.email} made staff", target=user, changes=changes)
    return user
