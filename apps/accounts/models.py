from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.accounts.enums import ApiKeyScope, QuoteCurrency, Theme
from apps.core.models import BaseModel

TIME_ZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(BaseModel, AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address."""

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=80, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the admin site and see everyone's audit trail.")
    date_joined = models.DateTimeField(auto_now_add=True)

    time_zone = models.CharField(max_length=64, default="UTC", choices=TIME_ZONE_CHOICES)
    quote_currency = models.CharField(max_length=8, default=QuoteCurrency.USDT, choices=QuoteCurrency.choices)
    theme = models.CharField(max_length=8, default=Theme.AUTO, choices=Theme.choices)
    auth_epoch = models.PositiveIntegerField(
        default=0,
        help_text="Raised to end every session and invalidate every token issued before (password, 2FA, sign out everywhere).",
    )

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(condition=models.Q(quote_currency__in=QuoteCurrency.values), name="accounts_user_quote_currency_valid"),
            models.CheckConstraint(condition=models.Q(theme__in=Theme.values), name="accounts_user_theme_valid"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        # Sign-in looks the email up in lower case, so forms that save a user (the admin's) store it so.
        self.email = self.email.strip().lower()

    @property
    def name(self) -> str:
        return self.display_name or self.email.split("@", 1)[0]

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django ends a session whose stored hash no longer matches: folding the epoch in
        # ends every session when it is raised, as a new password does.
        key_salt = "apps.accounts.models.User.session_auth_hash"
        return salted_hmac(key_salt, f"{self.password}:{self.auth_epoch}", secret=secret, algorithm="sha256").hexdigest()


def default_api_key_scopes() -> list[str]:
    return [ApiKeyScope.READ.value]


class ApiKey(BaseModel):
    """A key for bots and scripts: `Authorization: Api-Key <prefix>.<secret>`.

    Only a SHA-256 of the key is stored; the key is shown once, at creation.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = ArrayField(models.CharField(max_length=8, choices=ApiKeyScope.choices), default=default_api_key_scopes)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_networks = ArrayField(
        models.CharField(max_length=49),
        default=list,
        blank=True,
        help_text="Addresses or networks (CIDR) the key may be used from; empty means any.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="accounts_apikey_user_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scopes__contained_by=ApiKeyScope.values) & ~models.Q(scopes=[]),
                name="accounts_apikey_scopes_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class TotpDevice(BaseModel):
    """A user's authenticator app: the shared TOTP secret, encrypted at rest.

    A device without `confirmed_at` is an enrolment in progress; two-factor sign-in is on
    once a first code has confirmed it.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret_encrypted = models.TextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(null=True, blank=True, help_text="The 30-second step of the last accepted code; older or equal steps are refused.")

    def __str__(self) -> str:
        return f"Authenticator of {self.user_id}"


class RecoveryCode(BaseModel):
    """A one-time code that stands in for the authenticator; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="accounts_recoverycode_unique")]

    def __str__(self) -> str:
        return f"Recovery code of {self.user_id}"
