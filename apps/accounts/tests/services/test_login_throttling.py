from __future__ import annotations

import pytest
from django.conf import settings

from apps.accounts.enums import AccountsErrorCode
from apps.accounts.services import login_failure_register, login_failures_clear, login_throttle_check
from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.core.errors import RateLimitedError

pytestmark = pytest.mark.django_db


def _fail(email: str, times: int) -> None:
    for _ in range(times):
        login_failure_register(email=email)


def test_sign_in_is_allowed_until_the_failure_limit_is_reached() -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT - 1)
    login_throttle_check(email="ada@example.com")

    login_failure_register(email="ada@example.com")
    with pytest.raises(RateLimitedError) as caught:
        login_throttle_check(email="ada@example.com")

    assert caught.value.status_code == 429
    assert caught.value.code == AccountsErrorCode.LOGIN_THROTTLED
    window_minutes = settings.LOGIN_FAILURE_WINDOW_SECONDS // 60
    assert caught.value.message == f"Too many failed sign-in attempts. Try again in {window_minutes} minutes."
    assert caught.value.extra == {"retry_after_minutes": window_minutes}


def test_failures_count_against_the_email_whatever_its_case() -> None:
    _fail("Ada@Example.com", settings.LOGIN_FAILURE_LIMIT)

    with pytest.raises(RateLimitedError):
        login_throttle_check(email=" ada@example.COM")


def test_failures_for_one_email_do_not_block_another() -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT)

    login_throttle_check(email="bob@example.com")


def test_clearing_the_failures_lifts_the_block() -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT)

    login_failures_clear(email="ADA@example.com")

    login_throttle_check(email="ada@example.com")


def test_each_failed_sign_in_for_an_existing_account_shows_in_its_audit_trail() -> None:
    user = UserFactory()

    _fail(user.email.upper(), 2)
    _fail("nobody@example.com", 1)

    events = AuditEvent.objects.filter(action="auth.login_failed")
    assert [event.owner_id for event in events] == [user.pk, user.pk]
    assert all(event.actor_id is None for event in events)
