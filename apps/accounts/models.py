from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

from apps.accounts.enums import QuoteCurrency, Theme
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

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="accounts_apikey_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
