from django.db import models


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
