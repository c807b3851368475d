"""Who is acting, from where, and which request or task caused it: read by `audit_record`.

A request names the user (session or JWT) or the API key it was authenticated with, the
client address and user agent, and its request id. A Celery task is a system process named
after what it does (reconciliation, scheduler, risk monitor), with its task id as the
correlation id; a bot's decisions run inside `acting_as_bot(bot)`, a long-running process
such as the market stream inside `acting_as_system("stream")`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from django.apps import apps as django_apps

from apps.audit.models import ActorKind
from apps.core.logging import current_request_id
from apps.core.request_context import current_ip_address
from apps.core.rls import current_request

USER_AGENT_LENGTH = 255


@dataclass(frozen=True)
class ActorDetail:
    kind: str
    ref: str = ""
    name: str = ""


_acting: ContextVar[ActorDetail | None] = ContextVar("audit_acting", default=None)
_correlation: ContextVar[str] = ContextVar("audit_correlation_id", default="")

# Task-name prefixes of the platform's system processes, first match wins.
SYSTEM_TASK_ACTORS: tuple[tuple[str, str], ...] = (
    ("orders.reconcile", "reconciliation"),
    ("risk.", "risk_monitor"),
    ("market.", "stream"),
    ("core.", "scheduler"),
    ("exchanges.", "scheduler"),
    ("bots.run_due", "scheduler"),
)


@contextmanager
def acting_as(detail: ActorDetail, *, correlation_id: str = "") -> Iterator[None]:
    token = _acting.set(detail)
    correlation_token = _correlation.set(correlation_id) if correlation_id else None
    try:
        yield
    finally:
        _acting.reset(token)
        if correlation_token is not None:
            _correlation.reset(correlation_token)


def acting_as_system(name: str, *, correlation_id: str = "") -> Any:
    """Events in the block are the system process `name`'s (stream, reconciliation, scheduler, ...)."""
    return acting_as(ActorDetail(ActorKind.SYSTEM, ref=name, name=name), correlation_id=correlation_id)


def acting_as_bot(bot: Any, *, correlation_id: str = "") -> Any:
    """Events in the block are the bot's (its owner's trail, the bot named as the actor)."""
    detail = ActorDetail(ActorKind.BOT, ref=str(bot.pk), name=str(getattr(bot, "name", ""))[:128])
    return acting_as(detail, correlation_id=correlation_id)


def system_actor_for_task(task_name: str) -> str:
    for prefix, actor in SYSTEM_TASK_ACTORS:
        if task_name.startswith(prefix):
            return actor
    return task_name.split(".", 1)[0] or "worker"


def _is_api_key(auth: Any) -> bool:
    # accounts sits above audit (its services record events): look its model up by label
    return isinstance(auth, django_apps.get_model("accounts", "ApiKey"))


def actor_detail(actor: Any | None) -> ActorDetail:
    """The acting party: an explicit bot or system process, else the request's API key or user."""
    explicit = _acting.get()
    if explicit is not None:
        return explicit
    request = current_request()
    auth = getattr(request, "auth", None) if request is not None else None
    if auth is not None and _is_api_key(auth):
        return ActorDetail(ActorKind.API_KEY, ref=str(auth.pk), name=f"{auth.name} ({auth.prefix})"[:128])
    if actor is not None and getattr(actor, "is_authenticated", False):
        return ActorDetail(ActorKind.USER, ref=str(actor.pk), name=str(getattr(actor, "email", ""))[:128])
    return ActorDetail(ActorKind.SYSTEM, ref="platform", name="platform")


def correlation_id() -> str:
    """The request id, or the id of the task or process run that caused the event."""
    request_id = current_request_id.get()
    if request_id and request_id != "-":
        return request_id[:64]
    return _correlation.get()[:64]


def client_address() -> str | None:
    address = current_ip_address.get()
    if not address:
        return None
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return None


def user_agent() -> str | None:
    request = current_request()
    if request is None:
        return None
    agent = request.headers.get("User-Agent", "")
    return agent[:USER_AGENT_LENGTH] or None


def begin_task(actor_name: str, task_id: str) -> tuple[Token[Any], Token[Any]]:
    """Start a task's scope (see `apps.audit.signals`); `end_task` ends it."""
    return _acting.set(ActorDetail(ActorKind.SYSTEM, ref=actor_name, name=actor_name)), _correlation.set(task_id)


def end_task(tokens: tuple[Token[Any], Token[Any]]) -> None:
    acting, correlation = tokens
    _acting.reset(acting)
    _correlation.reset(correlation)
