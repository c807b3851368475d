"""Errors of sign-in, two-factor authentication and API keys."""

from __future__ import annotations

from apps.accounts.enums import AccountsErrorCode
from apps.core.errors import ApplicationError


class SignInError(ApplicationError):
    """Credentials, a code or a token that do not sign anyone in (401)."""

    status_code = 401
    default_code: str = AccountsErrorCode.INVALID_CREDENTIALS


class StepUpRequiredError(ApplicationError):
    """A change that needs a fresh two-factor code (403)."""

    status_code = 403
    default_code: str = AccountsErrorCode.OTP_REQUIRED
