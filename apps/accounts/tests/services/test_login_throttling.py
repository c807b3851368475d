"""Sign-in throttling: real Redis counters, time moved by time-machine (the wait ends at a stored moment)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import time_machine
from django.conf import settings

from apps.accounts.enums import AccountsErrorCode
from apps.accounts.errors import SignInError
from apps.accounts.services import login_failure_register, login_failures_clear, login_throttle_check, sign_in_password
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from apps.audit.models import AuditEvent
from apps.core.errors import RateLimitedError

pytestmark = pytest.mark.django_db

HOME = "198.51.100.10"
STRANGER = "203.0.113.66"
# A fixed moment (the start of the previous hour), so no test straddles a minute boundary;
# in the past, so ids and audit partitions made meanwhile stay where they belong.
START = float((int(time.time()) // 3600 - 1) * 3600)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _fail(email: str, times: int, address: str = HOME) -> None:
    for _ in range(times):
        login_failure_register(email=email, address=address)


def _wait_error(email: str, address: str = HOME) -> RateLimitedError:
    with pytest.raises(RateLimitedError) as caught:
        login_throttle_check(email=email, address=address)
    return caught.value


def test_sign_in_is_allowed_until_the_limit_then_waits_the_first_delay(clock: time_machine.Coordinates) -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT - 1)
    login_throttle_check(email="ada@example.com", address=HOME)

    login_failure_register(email="ada@example.com", address=HOME)
    error = _wait_error("ada@example.com")

    assert error.status_code == 429
    assert error.code == AccountsErrorCode.LOGIN_THROTTLED
    assert error.message == "Too many failed sign-in attempts. Try again in 1 minute."
    assert error.extra == {"retry_after_seconds": settings.LOGIN_LOCKOUT_SECONDS}


def test_the_message_shows_the_time_that_is_left_not_the_whole_wait(clock: time_machine.Coordinates) -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT)

    clock.shift(25)
    error = _wait_error("ada@example.com")

    assert error.message == "Too many failed sign-in attempts. Try again in 35 seconds."
    assert error.extra == {"retry_after_seconds": 35}


def test_after_the_wait_sign_in_is_allowed_and_each_further_failure_doubles_the_wait(clock: time_machine.Coordinates) -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT)
    clock.shift(settings.LOGIN_LOCKOUT_SECONDS)
    login_throttle_check(email="ada@example.com", address=HOME)

    login_failure_register(email="ada@example.com", address=HOME)
    assert _wait_error("ada@example.com").extra == {"retry_after_seconds": 2 * settings.LOGIN_LOCKOUT_SECONDS}
    clock.shift(2 * settings.LOGIN_LOCKOUT_SECONDS)
    login_failure_register(email="ada@example.com", address=HOME)

    error = _wait_error("ada@example.com")
    assert error.extra == {"retry_after_seconds": 4 * settings.LOGIN_LOCKOUT_SECONDS}
    assert error.message == "Too many failed sign-in attempts. Try again in 4 minutes."


def test_a_stranger_guessing_from_another_address_does_not_lock_the_owner_out(clock: time_machine.Coordinates) -> None:
    user = UserFactory()
    _fail(user.email, settings.LOGIN_FAILURE_LIMIT * 3, address=STRANGER)
    assert _wait_error(user.email, address=STRANGER).code == AccountsErrorCode.LOGIN_THROTTLED

    signed_in = sign_in_password(request=None, email=user.email, password=DEFAULT_PASSWORD, address=HOME)

    assert signed_in == user


def test_one_address_trying_many_emails_is_slowed_for_every_email(clock: time_machine.Coordinates) -> None:
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        login_failure_register(email=f"victim{n}@example.com", address=STRANGER)

    error = _wait_error("someone-new@example.com", address=STRANGER)

    assert error.extra == {"retry_after_seconds": settings.LOGIN_LOCKOUT_SECONDS}
    login_throttle_check(email="someone-new@example.com", address=HOME)


def test_failures_count_against_the_email_whatever_its_case(clock: time_machine.Coordinates) -> None:
    _fail("Ada@Example.com", settings.LOGIN_FAILURE_LIMIT)

    _wait_error(" ada@example.COM")


def test_failures_for_one_email_do_not_block_another_below_the_address_limit(clock: time_machine.Coordinates) -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT)

    login_throttle_check(email="bob@example.com", address=HOME)


def test_a_successful_sign_in_clears_its_own_failures_but_not_the_address_count(clock: time_machine.Coordinates) -> None:
    _fail("ada@example.com", settings.LOGIN_FAILURE_LIMIT)
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT - settings.LOGIN_FAILURE_LIMIT - 1):
        login_failure_register(email=f"other{n}@example.com", address=HOME)

    login_failures_clear(email="ADA@example.com", address=HOME)
    login_throttle_check(email="ada@example.com", address=HOME)

    login_failure_register(email="bob@example.com", address=HOME)  # the address's limit is reached
    assert _wait_error("carol@example.com").code == AccountsErrorCode.LOGIN_THROTTLED


def test_the_right_password_while_waiting_is_refused_without_checking_it(clock: time_machine.Coordinates) -> None:
    user = UserFactory()
    _fail(user.email, settings.LOGIN_FAILURE_LIMIT)

    with pytest.raises(RateLimitedError):
        sign_in_password(request=None, email=user.email, password=DEFAULT_PASSWORD, address=HOME)


def test_a_wrong_password_is_counted_and_says_nothing_about_the_account(clock: time_machine.Coordinates) -> None:
    user = UserFactory()

    for email in (user.email, "nobody@example.com"):
        with pytest.raises(SignInError) as caught:
            sign_in_password(request=None, email=email, password="not-the-password", address=HOME)
        assert caught.value.message == "Email or password is wrong."

    assert AuditEvent.objects.filter(action="auth.login_failed", owner=user).count() == 1


def test_each_failed_sign_in_for_an_existing_account_shows_in_its_audit_trail(clock: time_machine.Coordinates) -> None:
    user = UserFactory()

    _fail(user.email.upper(), 2)
    _fail("nobody@example.com", 1)

    events = AuditEvent.objects.filter(action="auth.login_failed")
    assert [event.owner_id for event in events] == [user.pk, user.pk]
    assert all(event.actor_id is None for event in events)
    assert HOME in events[0].summary
