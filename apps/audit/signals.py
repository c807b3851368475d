"""Logins and logouts are audit events too; a Celery task acts as its system process."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_delete
from django.dispatch import receiver

from apps.audit import context
from apps.audit.services import audit_personal_data_erase, audit_record

_task_tokens: dict[str, tuple[Token[Any], Token[Any]]] = {}


@receiver(user_logged_in, dispatch_uid="audit.user_logged_in")
def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action="auth.login", summary=f"{user.email} signed in", target=user)


@receiver(user_logged_out, dispatch_uid="audit.user_logged_out")
def on_user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action="auth.logout", summary=f"{user.email} signed out", target=user)


@task_prerun.connect(dispatch_uid="audit.task_prerun")
def on_task_start(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    """Events a task writes name its system process and carry its id as the correlation id."""
    if task_id is None or task is None:
        return
    _task_tokens[task_id] = context.begin_task(context.system_actor_for_task(str(task.name)), task_id)


@task_postrun.connect(dispatch_uid="audit.task_postrun")
def on_task_end(task_id: str | None = None, **kwargs: Any) -> None:
    tokens = _task_tokens.pop(task_id or "", None)
    if tokens is not None:
        context.end_task(tokens)


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deleted user's client addresses and user agents are erased from the trail; the chain stays valid."""
    audit_personal_data_erase(actor=None, user_id=instance.pk)


def connect_user_deletion() -> None:
    from django.contrib.auth import get_user_model

    post_delete.connect(on_user_deleted, sender=get_user_model(), dispatch_uid="audit.user_deleted")


connect_user_deletion()
