"""Logins and logouts are audit events too."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from apps.audit.services import audit_record


@receiver(user_logged_in, dispatch_uid="audit.user_logged_in")
def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action="auth.login", summary=f"{user.email} signed in", target=user)


@receiver(user_logged_out, dispatch_uid="audit.user_logged_out")
def on_user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action="auth.logout", summary=f"{user.email} signed out", target=user)
