"""Writes for users, preferences, passwords and API keys. Each is one transaction with an audit event."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.enums import AccountsErrorCode, QuoteCurrency, Theme
from apps.accounts.models import TIME_ZONE_CHOICES, ApiKey, User
from apps.audit.services import audit_record, diff_fields
from apps.core import rls
from apps.core.errors import ConflictError, NotFoundError, RateLimitedError, ValidationError
from apps.core.rows import rows_select

API_KEY_SCHEME = "tpk"
MAX_ACTIVE_API_KEYS = 20
LAST_USED_WRITE_INTERVAL = timedelta(minutes=1)
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
    audit_record(actor=actor or user, owner=user, action=f"user.password_{reason}", summary=f"Password {reason}", target=user)
    return user


# Login throttling --------------------------------------------------------------------


def _failure_key(email: str) -> str:
    digest = hashlib.sha256(_normalise_email(email).encode()).hexdigest()[:32]
    return f"login-failures:{digest}"


def login_throttle_check(*, email: str) -> None:
    """Raise when this email has failed too often within the window."""
    failures = cache.get(_failure_key(email), 0)
    if failures >= settings.LOGIN_FAILURE_LIMIT:
        ttl = cache.ttl(_failure_key(email)) if hasattr(cache, "ttl") else settings.LOGIN_FAILURE_WINDOW_SECONDS
        minutes = max(1, round((ttl or settings.LOGIN_FAILURE_WINDOW_SECONDS) / 60))
        raise RateLimitedError(
            f"Too many failed sign-in attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            code=AccountsErrorCode.LOGIN_THROTTLED,
            extra={"retry_after_minutes": minutes},
        )


def login_failure_register(*, email: str) -> int:
    key = _failure_key(email)
    cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    failures = cache.incr(key)
    user = User.objects.filter(email__iexact=_normalise_email(email)).first()
    if user is not None:
        audit_record(actor=None, owner=user, action="auth.login_failed", summary=f"Failed sign-in for {user.email} ({failures})", target=user)
    return failures


def login_failures_clear(*, email: str) -> None:
    cache.delete(_failure_key(email))


# API keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    plaintext: str


def _hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, actor: User, name: str) -> CreatedApiKey:
    name = name.strip()
    if not name:
        raise ValidationError.for_field("name", "Give the key a name, e.g. the bot that will use it.")
    if len(name) > 80:
        raise ValidationError.for_field("name", "Keep the name under 80 characters.")
    if ApiKey.objects.filter(user=actor, revoked_at__isnull=True).count() >= MAX_ACTIVE_API_KEYS:
        raise ValidationError(f"At most {MAX_ACTIVE_API_KEYS} active API keys; revoke one first.", code=AccountsErrorCode.API_KEY_LIMIT)
    prefix = secrets.token_hex(6)
    plaintext = f"{API_KEY_SCHEME}_{prefix}.{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(user=actor, name=name, prefix=prefix, key_hash=_hash_key(plaintext))
    audit_record(actor=actor, action="api_key.created", summary=f"API key {name!r} created", target=api_key)
    return CreatedApiKey(api_key=api_key, plaintext=plaintext)


@transaction.atomic
def api_key_revoke(*, actor: User, api_key_id: uuid.UUID | str) -> ApiKey:
    try:
        api_key = ApiKey.objects.select_for_update().get(pk=api_key_id, user=actor)
    except (ApiKey.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFoundError("No such API key.") from None
    if api_key.revoked_at is not None:
        raise ConflictError("This API key is already revoked.", code=AccountsErrorCode.API_KEY_REVOKED)
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "updated_at"])
    audit_record(actor=actor, action="api_key.revoked", summary=f"API key {api_key.name!r} revoked", target=api_key)
    return api_key


def api_key_authenticate(*, plaintext: str) -> ApiKey | None:
    """The active key matching `plaintext`, or None. Records last use at most once a minute."""
    scheme, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition(".")
    if scheme != API_KEY_SCHEME or not prefix or not secret:
        return None
    # Nobody is authenticated yet: row-level security lets this lookup see the one key it names
    # (one transaction, so the setting travels once for the reads and the write).
    with rls.api_key_lookup(prefix), transaction.atomic():
        return _api_key_check(prefix=prefix, plaintext=plaintext)


def _api_key_check(*, prefix: str, plaintext: str) -> ApiKey | None:
    # Every API call of a bot comes through here: rows are read by key without the ORM's compile step.
    keys = rows_select(ApiKey, where={"prefix": prefix})
    if not keys or not hmac.compare_digest(keys[0].key_hash, _hash_key(plaintext)):
        return None
    api_key = keys[0]
    users = rows_select(User, where={"id": api_key.user_id})
    if api_key.revoked_at is not None or not users or not users[0].is_active:
        return None
    api_key.user = users[0]
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_WRITE_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


@transaction.atomic
def user_grant_staff(*, actor: User | None, user: User, superuser: bool = False) -> User:
    before = {"is_staff": user.is_staff, "is_superuser": user.is_superuser}
    user.is_staff = True
    user.is_superuser = user.is_superuser or superuser
    user.save(update_fields=["is_staff", "is_superuser", "updated_at"])
    changes = diff_fields(before, {"is_staff": user.is_staff, "is_superuser": user.is_superuser})
    audit_record(actor=actor, owner=user, action="user.staff_granted", summary=f"{user.email} made staff", target=user, changes=changes)
    return user
