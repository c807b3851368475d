"""Writes for users, sign-in, two-factor authentication, sessions and API keys.

Each write is one transaction with an audit event.
"""

from apps.accounts.services.api_keys import (
    API_KEY_SCHEME,
    MAX_ACTIVE_API_KEYS,
    ApiKeyRefusedError,
    CreatedApiKey,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
)
from apps.accounts.services.sessions import user_auth_epoch_raise, user_sign_out_everywhere
from apps.accounts.services.sign_in import login_failure_register, login_failures_clear, login_throttle_check, sign_in_full, sign_in_password
from apps.accounts.services.two_factor import (
    recovery_codes_regenerate,
    second_factor_verify,
    totp_disable,
    totp_enrolment_confirm,
    totp_enrolment_start,
    two_factor_enabled,
)
from apps.accounts.services.users import (
    user_grant_staff,
    user_register,
    user_register_request,
    user_set_password,
    user_update_preferences,
)

__all__ = [
    "API_KEY_SCHEME",
    "MAX_ACTIVE_API_KEYS",
    "ApiKeyRefusedError",
    "CreatedApiKey",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "login_failure_register",
    "login_failures_clear",
    "login_throttle_check",
    "recovery_codes_regenerate",
    "second_factor_verify",
    "sign_in_full",
    "sign_in_password",
    "totp_disable",
    "totp_enrolment_confirm",
    "totp_enrolment_start",
    "two_factor_enabled",
    "user_auth_epoch_raise",
    "user_grant_staff",
    "user_register",
    "user_register_request",
    "user_set_password",
    "user_sign_out_everywhere",
    "user_update_preferences",
]
