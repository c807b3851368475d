from __future__ import annotations

import hashlib

import pyotp
import pytest

from apps.accounts.enums import AccountsErrorCode
from apps.accounts.errors import SignInError
from apps.accounts.models import RecoveryCode, TotpDevice
from apps.accounts.services import (
    recovery_codes_regenerate,
    second_factor_verify,
    totp_disable,
    totp_enrolment_confirm,
    totp_enrolment_start,
    two_factor_enabled,
)
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tests.helpers import enable_two_factor, totp_code
from apps.audit.models import AuditEvent
from apps.core.errors import ConflictError, ValidationError

pytestmark = pytest.mark.django_db


def test_enrolment_gives_a_secret_that_is_stored_encrypted_and_is_not_on_until_confirmed() -> None:
    user = UserFactory()

    enrolment = totp_enrolment_start(actor=user)

    device = TotpDevice.objects.get(user=user)
    assert enrolment.secret not in device.secret_encrypted
    assert device.confirmed_at is None
    assert not two_factor_enabled(user=user)
    assert enrolment.provisioning_uri(user.email).startswith("otpauth://totp/Trading%20Platform:")
    assert AuditEvent.objects.filter(action="two_factor.enrolment_started", owner=user).exists()


def test_a_first_code_turns_two_factor_on_and_gives_ten_recovery_codes_stored_hashed() -> None:
    user = UserFactory()
    enrolment = totp_enrolment_start(actor=user)
    epoch = user.auth_epoch

    codes = totp_enrolment_confirm(actor=user, code=pyotp.TOTP(enrolment.secret).now())

    assert two_factor_enabled(user=user)
    assert len(codes) == len(set(codes)) == 10
    stored = set(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert stored == {hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in codes}
    assert user.auth_epoch == epoch + 1
    assert AuditEvent.objects.filter(action="two_factor.enabled", owner=user).exists()


def test_a_wrong_first_code_is_a_field_error_and_leaves_two_factor_off() -> None:
    user = UserFactory()
    totp_enrolment_start(actor=user)

    with pytest.raises(ValidationError) as caught:
        totp_enrolment_confirm(actor=user, code="000000")

    assert caught.value.code == AccountsErrorCode.OTP_INVALID
    assert "code" in caught.value.extra["fields"]
    assert not two_factor_enabled(user=user)


def test_enrolling_again_once_on_is_a_conflict() -> None:
    user = UserFactory()
    enable_two_factor(user)

    with pytest.raises(ConflictError):
        totp_enrolment_start(actor=user)


def test_a_current_code_is_accepted_once() -> None:
    user = UserFactory()
    secret, _codes = enable_two_factor(user)
    code = totp_code(secret)

    assert second_factor_verify(user=user, code=code) == "totp"
    with pytest.raises(SignInError) as caught:
        second_factor_verify(user=user, code=code)

    assert caught.value.code == AccountsErrorCode.OTP_INVALID
    assert "already been used" in caught.value.message


@pytest.mark.parametrize("code", ["123456", "abcde-fghjk", "   "])
def test_a_wrong_or_empty_code_is_refused_naming_what_is_wrong(code: str) -> None:
    user = UserFactory()
    enable_two_factor(user)

    with pytest.raises(SignInError) as caught:
        second_factor_verify(user=user, code=code)

    if code.strip():
        assert caught.value.code == AccountsErrorCode.OTP_INVALID
        assert "wrong or has expired" in caught.value.message
    else:
        assert caught.value.code == AccountsErrorCode.OTP_REQUIRED


def test_a_recovery_code_works_once_then_is_refused_as_used() -> None:
    user = UserFactory()
    _secret, codes = enable_two_factor(user)

    assert second_factor_verify(user=user, code=codes[3].upper()) == "recovery"
    with pytest.raises(SignInError) as caught:
        second_factor_verify(user=user, code=codes[3])

    assert caught.value.message == "This recovery code has already been used; each one works once."
    assert AuditEvent.objects.filter(action="two_factor.recovery_code_used", owner=user).count() == 1


def test_recovery_codes_are_refused_where_only_the_app_will_do() -> None:
    user = UserFactory()
    _secret, codes = enable_two_factor(user)

    with pytest.raises(SignInError):
        second_factor_verify(user=user, code=codes[0], allow_recovery=False)


def test_new_recovery_codes_replace_the_old_ones() -> None:
    user = UserFactory()
    _secret, old = enable_two_factor(user)

    new = recovery_codes_regenerate(actor=user)

    assert set(new).isdisjoint(old)
    with pytest.raises(SignInError):
        second_factor_verify(user=user, code=old[0])
    assert second_factor_verify(user=user, code=new[0]) == "recovery"
    assert AuditEvent.objects.filter(action="two_factor.recovery_codes_regenerated", owner=user).exists()


def test_turning_two_factor_off_needs_a_code_and_removes_the_secret_and_codes() -> None:
    user = UserFactory()
    secret, _codes = enable_two_factor(user)

    with pytest.raises(SignInError):
        totp_disable(actor=user, code="000000")
    assert two_factor_enabled(user=user)

    totp_disable(actor=user, code=totp_code(secret))

    assert not two_factor_enabled(user=user)
    assert not TotpDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="two_factor.disabled", owner=user).exists()
