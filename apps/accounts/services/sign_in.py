"""Sign-in with a password (and a second factor), throttled per client so a stranger cannot lock anyone out.

Failures are counted in Redis twice: per (email, client address), which slows someone
guessing one account's password, and per client address, which slows someone trying
many emails. A wrong password typed from another address never delays the owner. Each
counter waits `LOGIN_LOCKOUT_SECONDS` once it reaches its limit and twice as long with
each further failure; the wait ends at a moment stored beside the count, so the message
can say how long is left.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

from apps.accounts.domain.lockout import lockout_seconds, remaining_seconds, wait_phrase
from apps.accounts.enums import AccountsErrorCode
from apps.accounts.errors import SignInError
from apps.accounts.models import User
from apps.accounts.services.two_factor import second_factor_verify, two_factor_enabled
from apps.audit.services import audit_record
from apps.core.errors import RateLimitedError
from apps.core.redis_clients import quick_redis_client

WRONG_CREDENTIALS = "Email or password is wrong."


def _normalise_email(email: str) -> str:
    return email.strip().lower()


def _pair_key(email: str, address: str) -> str:
    digest = hashlib.sha256(f"{_normalise_email(email)}|{address}".encode()).hexdigest()[:32]
    return f"signin:pair:{digest}"


def _address_key(address: str) -> str:
    return f"signin:address:{address}"


def _counters(email: str, address: str) -> list[tuple[str, int]]:
    """(Redis key, failure limit) of each counter a sign-in attempt touches."""
    return [(_pair_key(email, address), settings.LOGIN_FAILURE_LIMIT), (_address_key(address), settings.LOGIN_ADDRESS_FAILURE_LIMIT)]


def _redis():  # type: ignore[no-untyped-def]
    return quick_redis_client(settings.REDIS_CACHE_URL)


def login_throttle_check(*, email: str, address: str) -> None:
    """Raise RateLimitedError, saying how long is left, while either counter is waiting."""
    pipe = _redis().pipeline(transaction=False)
    for key, _limit in _counters(email, address):
        pipe.hget(key, "locked_until")
    now = time.time()
    left = max((remaining_seconds(locked_until=float(value), now=now) for value in pipe.execute() if value is not None), default=0)
    if left > 0:
        raise RateLimitedError(
            f"Too many failed sign-in attempts. Try again in {wait_phrase(left)}.",
            code=AccountsErrorCode.LOGIN_THROTTLED,
            extra={"retry_after_seconds": left},
        )


def login_failure_register(*, email: str, address: str) -> None:
    """Count a failed attempt on both counters; an account that exists gets an audit event."""
    redis = _redis()
    now = time.time()
    for key, limit in _counters(email, address):
        failures = int(redis.hincrby(key, "failures", 1))
        wait = lockout_seconds(
            failures=failures,
            limit=limit,
            base_seconds=settings.LOGIN_LOCKOUT_SECONDS,
            max_seconds=settings.LOGIN_LOCKOUT_MAX_SECONDS,
        )
        pipe = redis.pipeline(transaction=False)
        if wait:
            pipe.hset(key, "locked_until", repr(now + wait))
        pipe.expire(key, max(settings.LOGIN_FAILURE_WINDOW_SECONDS, wait) + 1)
        pipe.execute()
    user = User.objects.filter(email__iexact=_normalise_email(email)).first()
    if user is not None:
        audit_record(actor=None, owner=user, action="auth.login_failed", summary=f"Failed sign-in for {user.email} from {address}", target=user)


def login_failures_clear(*, email: str, address: str) -> None:
    """After a successful sign-in: forget this (email, address) pair's failures.

    The address counter stays: signing in to one's own account must not reset the count
    of someone trying other people's passwords from the same address.
    """
    _redis().delete(_pair_key(email, address))


def sign_in_password(*, request: HttpRequest | None, email: str, password: str, address: str) -> User:
    """The active user with this email and password, or SignInError; throttled per client."""
    login_throttle_check(email=email, address=address)
    user = authenticate(request, email=email, password=password)
    if not isinstance(user, User) or not user.is_active:
        login_failure_register(email=email, address=address)
        raise SignInError(WRONG_CREDENTIALS)
    return user


def sign_in_full(*, request: HttpRequest | None, email: str, password: str, otp: str, address: str) -> User:
    """Password and, once two-factor is on, a code, in one step (the token endpoint)."""
    user = sign_in_password(request=request, email=email, password=password, address=address)
    if two_factor_enabled(user=user):
        try:
            second_factor_verify(user=user, code=otp)
        except SignInError as exc:
            if exc.code != AccountsErrorCode.OTP_REQUIRED:
                login_failure_register(email=email, address=address)
            raise
    login_failures_clear(email=email, address=address)
    return user
