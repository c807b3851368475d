"""Two-factor authentication with an authenticator app (TOTP, RFC 6238) and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
from django.db import transaction
from django.utils import timezone

from apps.accounts.enums import AccountsErrorCode
from apps.accounts.errors import SignInError
from apps.accounts.models import RecoveryCode, TotpDevice, User
from apps.accounts.services.sessions import user_auth_epoch_raise
from apps.audit.services import audit_record
from apps.core import rls
from apps.core.crypto import field_cipher
from apps.core.errors import ConflictError, ValidationError

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
# Codes one step either side of now are accepted: phone clocks drift and people type slowly.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
ISSUER = "Trading Platform"

WRONG_CODE = "The two-factor code is wrong or has expired; enter the current code from your authenticator app."
CODE_REUSED = "This code has already been used; wait for the next one in your authenticator app."
RECOVERY_CODE_USED = "This recovery code has already been used; each one works once."
CODE_MISSING = "This account has two-factor authentication: enter the code from your authenticator app (or a recovery code)."


@dataclass(frozen=True)
class Enrolment:
    device: TotpDevice
    secret: str

    def provisioning_uri(self, email: str) -> str:
        return pyotp.TOTP(self.secret).provisioning_uri(name=email, issuer_name=ISSUER)


def _encrypt(secret: str) -> str:
    return field_cipher().encrypt(secret.encode()).decode()


def _decrypt(token: str) -> str:
    return field_cipher().decrypt(token.encode()).decode()


def _hash_recovery_code(code: str) -> str:
    return hashlib.sha256(_normalise_code(code).encode()).hexdigest()


def _normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _current_step() -> int:
    return int(time.time()) // TOTP_STEP_SECONDS


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _matching_step(secret: str, code: str) -> int | None:
    """The step within the drift window whose code is `code`, or None."""
    totp = pyotp.TOTP(secret)
    now = _current_step()
    for step in range(now - TOTP_DRIFT_STEPS, now + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def two_factor_enabled(*, user: User) -> bool:
    # Also asked while signing in, before anyone is acting: row-level security must see this user's device.
    with rls.acting_for(user):
        return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def totp_secret_for_enrolment(*, actor: User) -> Enrolment | None:
    """The enrolment in progress (not yet confirmed), if any."""
    device = TotpDevice.objects.filter(user=actor, confirmed_at__isnull=True).first()
    return Enrolment(device=device, secret=_decrypt(device.secret_encrypted)) if device else None


@transaction.atomic
def totp_enrolment_start(*, actor: User) -> Enrolment:
    """A new secret for the authenticator app, replacing an unconfirmed one."""
    User.objects.select_for_update().filter(pk=actor.pk).get()
    device = TotpDevice.objects.filter(user=actor).first()
    if device is not None and device.confirmed_at is not None:
        raise ConflictError("Two-factor authentication is already on.", code=AccountsErrorCode.TWO_FACTOR_ALREADY_ENABLED)
    secret = pyotp.random_base32()
    if device is None:
        device = TotpDevice.objects.create(user=actor, secret_encrypted=_encrypt(secret))
    else:
        device.secret_encrypted = _encrypt(secret)
        device.last_used_step = None
        device.save(update_fields=["secret_encrypted", "last_used_step", "updated_at"])
    audit_record(actor=actor, action="two_factor.enrolment_started", summary="Two-factor enrolment started", target=device)
    return Enrolment(device=device, secret=secret)


@transaction.atomic
def totp_enrolment_confirm(*, actor: User, code: str) -> list[str]:
    """Turn two-factor on with a first code; return the recovery codes, shown this once."""
    device = TotpDevice.objects.select_for_update().filter(user=actor).first()
    if device is None:
        raise ValidationError("Start the two-factor setup first.", code=AccountsErrorCode.TWO_FACTOR_NOT_ENABLED)
    if device.confirmed_at is not None:
        raise ConflictError("Two-factor authentication is already on.", code=AccountsErrorCode.TWO_FACTOR_ALREADY_ENABLED)
    step = _matching_step(_decrypt(device.secret_encrypted), _normalise_code(code))
    if step is None:
        raise ValidationError.for_field("code", WRONG_CODE, code=AccountsErrorCode.OTP_INVALID)
    device.confirmed_at = timezone.now()
    device.last_used_step = step
    device.save(update_fields=["confirmed_at", "last_used_step", "updated_at"])
    codes = _recovery_codes_replace(user=actor)
    user_auth_epoch_raise(user=actor)
    audit_record(actor=actor, action="two_factor.enabled", summary="Two-factor authentication turned on", target=device)
    return codes


def _recovery_codes_replace(*, user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create([RecoveryCode(user=user, code_hash=_hash_recovery_code(code)) for code in codes])
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, actor: User) -> list[str]:
    if not two_factor_enabled(user=actor):
        raise ValidationError("Two-factor authentication is off.", code=AccountsErrorCode.TWO_FACTOR_NOT_ENABLED)
    codes = _recovery_codes_replace(user=actor)
    audit_record(actor=actor, action="two_factor.recovery_codes_regenerated", summary="New recovery codes made; the old ones no longer work", target=actor)
    return codes


@transaction.atomic
def totp_disable(*, actor: User, code: str) -> None:
    """Turn two-factor off; a fresh code (or a recovery code) is required."""
    if not two_factor_enabled(user=actor):
        raise ValidationError("Two-factor authentication is already off.", code=AccountsErrorCode.TWO_FACTOR_NOT_ENABLED)
    second_factor_verify(user=actor, code=code, field="code")
    TotpDevice.objects.filter(user=actor).delete()
    RecoveryCode.objects.filter(user=actor).delete()
    user_auth_epoch_raise(user=actor)
    audit_record(actor=actor, action="two_factor.disabled", summary="Two-factor authentication turned off", target=actor)


def second_factor_verify(*, user: User, code: str, field: str = "otp", allow_recovery: bool = True) -> str:
    """Accept a current TOTP code (each step once) or an unused recovery code; return which it was.

    Raises SignInError naming what is wrong: missing, wrong or expired, or already used. Runs
    acting for `user`: at sign-in the password has named the user, but nobody is signed in yet.
    """
    with rls.acting_for(user), transaction.atomic():
        return _second_factor_check(user=user, code=code, field=field, allow_recovery=allow_recovery)


def _second_factor_check(*, user: User, code: str, field: str, allow_recovery: bool) -> str:
    normalised = _normalise_code(code or "")
    if not normalised:
        raise SignInError(CODE_MISSING, code=AccountsErrorCode.OTP_REQUIRED, extra={"fields": {field: [CODE_MISSING]}})
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        raise ValidationError("Two-factor authentication is off.", code=AccountsErrorCode.TWO_FACTOR_NOT_ENABLED)
    if normalised.isdigit() and len(normalised) == TOTP_DIGITS:
        step = _matching_step(_decrypt(device.secret_encrypted), normalised)
        if step is None:
            raise SignInError(WRONG_CODE, code=AccountsErrorCode.OTP_INVALID, extra={"fields": {field: [WRONG_CODE]}})
        if device.last_used_step is not None and step <= device.last_used_step:
            raise SignInError(CODE_REUSED, code=AccountsErrorCode.OTP_INVALID, extra={"fields": {field: [CODE_REUSED]}})
        device.last_used_step = step
        device.save(update_fields=["last_used_step", "updated_at"])
        return "totp"
    if allow_recovery:
        recovery = RecoveryCode.objects.select_for_update().filter(user=user, code_hash=_hash_recovery_code(normalised)).first()
        if recovery is not None and recovery.used_at is not None:
            raise SignInError(RECOVERY_CODE_USED, code=AccountsErrorCode.OTP_INVALID, extra={"fields": {field: [RECOVERY_CODE_USED]}})
        if recovery is not None:
            recovery.used_at = timezone.now()
            recovery.save(update_fields=["used_at", "updated_at"])
            left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
            audit_record(actor=user, action="two_factor.recovery_code_used", summary=f"Signed in with a recovery code ({left} left)", target=user)
            return "recovery"
    raise SignInError(WRONG_CODE, code=AccountsErrorCode.OTP_INVALID, extra={"fields": {field: [WRONG_CODE]}})


def recovery_codes_left(*, user: User) -> int:
    with rls.acting_for(user):
        return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
