from django.db import models

from apps.core.api.scopes import ApiKeyScope as ApiKeyScope  # the scopes are shared by every app's API


class Theme(models.TextChoices):
    AUTO = "auto", "Follow the system"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class QuoteCurrency(models.TextChoices):
    USDT = "USDT", "USDT"
    USDC = "USDC", "USDC"
    USD = "USD", "USD"
    EUR = "EUR", "EUR"
    BTC = "BTC", "BTC"


class AccountsErrorCode(models.TextChoices):
    EMAIL_TAKEN = "email_taken"
    LOGIN_THROTTLED = "login_throttled"
    API_KEY_REVOKED = "api_key_revoked"
    API_KEY_INVALID = "api_key_invalid"
    API_KEY_LIMIT = "api_key_limit"
    API_KEY_EXPIRED = "api_key_expired"
    API_KEY_ADDRESS_REFUSED = "api_key_address_refused"
    API_KEY_SCOPE_MISSING = "api_key_scope_missing"
    API_KEY_NOT_ALLOWED = "api_key_not_allowed"
    INVALID_CREDENTIALS = "authentication_failed"
    OTP_REQUIRED = "otp_required"
    OTP_INVALID = "otp_invalid"
    TWO_FACTOR_ALREADY_ENABLED = "two_factor_already_enabled"
    TWO_FACTOR_NOT_ENABLED = "two_factor_not_enabled"
    TOKEN_REVOKED = "token_revoked"
