"""Sign-in with a password (and a second factor), throttled per client so a stranger cannot lock anyone out.

Failures are counted in Redis twice: per (email, client address), which slows someone
guessing one account's password, and per client address, which slows someone trying
many emails. A wrong password typed from another address never delays the owner. Each
counter waits `LOGIN_LOCKOUT_SECONDS` once it reaches its limit and twice as long with
each further failure; the wait ends at a moment stored beside the count, so the message
can say how long is left.

While Redis is not answering, each web process counts in its own memory (`_LocalCounters`):
a guesser spread over several processes gets that many more attempts, but is still slowed,
and sign-in keeps working. Counting returns to Redis as soon as it answers.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import redis
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

logger = logging.getLogger(__name__)
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


def _lockout_wait(failures: int, limit: int) -> int:
    return lockout_seconds(failures=failures, limit=limit, base_seconds=settings.LOGIN_LOCKOUT_SECONDS, max_seconds=settings.LOGIN_LOCKOUT_MAX_SECONDS)


def _expiry_seconds(wait: int) -> int:
    return max(settings.LOGIN_FAILURE_WINDOW_SECONDS, wait) + 1


class _LocalCounters:
    """The same counters in this process's memory, used while Redis is not answering."""

    MAX_KEYS = 100_000  # past this, expired counters are dropped, then the oldest

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[int, float | None, float]] = {}  # key: (failures, locked_until, expires_at)

    def locked_until(self, key: str, now: float) -> float | None:
        with self._lock:
            row = self._rows.get(key)
            return row[1] if row is not None and row[2] > now else None

    def register_failure(self, key: str, limit: int, now: float) -> None:
        with self._lock:
            row = self._rows.get(key)
            failures, locked_until = (row[0], row[1]) if row is not None and row[2] > now else (0, None)
            failures += 1
            wait = _lockout_wait(failures, limit)
            if wait:
                locked_until = now + wait
            if len(self._rows) >= self.MAX_KEYS:
                self._forget_expired(now)
            self._rows[key] = (failures, locked_until, now + _expiry_seconds(wait))

    def forget(self, key: str) -> None:
        with self._lock:
            self._rows.pop(key, None)

    def _forget_expired(self, now: float) -> None:
        for stale in [key for key, row in self._rows.items() if row[2] <= now]:
            del self._rows[stale]
        while len(self._rows) >= self.MAX_KEYS:
            del self._rows[next(iter(self._rows))]


_local_counters = _LocalCounters()


def _redis_down(exc: redis.RedisError) -> None:
    logger.warning("sign-in failures counted in this process: Redis is not answering (%s)", exc)


def login_throttle_check(*, email: str, address: str) -> None:
    """Raise RateLimitedError, saying how long is left, while either counter is waiting."""
    keys = [key for key, _limit in _counters(email, address)]
    now = time.time()
    try:
        pipe = _redis().pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "locked_until")
        stored = [float(value) for value in pipe.execute() if value is not None]
    except redis.RedisError as exc:
        _redis_down(exc)
        stored = [until for until in (_local_counters.locked_until(key, now) for key in keys) if until is not None]
    left = max((remaining_seconds(locked_until=until, now=now) for until in stored), default=0)
    if left > 0:
        raise RateLimitedError(
            f"Too many failed sign-in attempts. Try again in {wait_phrase(left)}.",
            code=AccountsErrorCode.LOGIN_THROTTLED,
            extra={"retry_after_seconds": left},
        )


def _register_in_redis(key: str, limit: int, now: float) -> None:
    client = _redis()
    failures = int(client.hincrby(key, "failures", 1))
    wait = _lockout_wait(failures, limit)
    pipe = client.pipeline(transaction=False)
    if wait:
        pipe.hset(key, "locked_until", repr(now + wait))
    pipe.expire(key, _expiry_seconds(wait))
    pipe.execute()


def login_failure_register(*, email: str, address: str) -> None:
    """Count a failed attempt on both counters; an account that exists gets an audit event."""
    now = time.time()
    for key, limit in _counters(email, address):
        try:
            _register_in_redis(key, limit, now)
        except redis.RedisError as exc:
            _redis_down(exc)
            _local_counters.register_failure(key, limit, now)
    user = User.objects.filter(email__iexact=_normalise_email(email)).first()
    if user is not None:
        audit_record(actor=None, owner=user, action="auth.login_failed", summary=f"Failed sign-in for {user.email} from {address}", target=user)


def login_failures_clear(*, email: str, address: str) -> None:
    """After a successful sign-in: forget this (email, address) pair's failures.

    The address counter stays: signing in to one's own account must not reset the count
    of someone trying other people's passwords from the same address.
    """
    key = _pair_key(email, address)
    _local_counters.forget(key)
    try:
        _redis().delete(key)
    except redis.RedisError as exc:
        _redis_down(exc)


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
