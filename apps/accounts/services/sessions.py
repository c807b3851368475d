"""Ending sessions and tokens: one counter per user that every session and JWT carries."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from apps.accounts.models import User
from apps.audit.services import audit_record


def user_auth_epoch_raise(*, user: User) -> User:
    """End every session and make every JWT issued so far fail; the caller audits why."""
    User.objects.filter(pk=user.pk).update(auth_epoch=F("auth_epoch") + 1)
    user.refresh_from_db(fields=["auth_epoch"])
    return user


@transaction.atomic
def user_sign_out_everywhere(*, actor: User) -> User:
    user_auth_epoch_raise(user=actor)
    audit_record(actor=actor, action="user.signed_out_everywhere", summary="Signed out of every session and token", target=actor)
    return actor
