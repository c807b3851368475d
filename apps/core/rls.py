"""PostgreSQL row-level security: whose rows a transaction may see and write.

Every table of a user's rows has row-level security enabled and forced, with a policy that
admits a row when it belongs to the user named by the transaction-local setting
`app.user_id` (see `RowLevelSecurity` below and `migrations/0001_row_security_functions`).
That setting is made here, at the start of each transaction, for the acting user:

- in a request, whoever `request.user` is at the moment of the statement (the session
  user, the user a DRF authenticator found from a JWT or an API key, the user `login()`
  just signed in); `RowSecurityMiddleware` puts the request in reach;
- in a task or command acting for one user, the user given to `acting_for(...)`.

With no user, the application role sees no user rows at all; the system role (processes
acting for all users) sees every row. Staff see every row where the platform shows them
others' rows: the admin site and the audit trail of everyone (`app.staff`, honoured by
the database only for an active staff user).

The setting is transaction-local (`set_config(..., true)`), so a pooled or persistent
connection never carries one user's setting into the next request: a statement that runs
outside a transaction is wrapped in one, just long enough to carry the setting.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.apps import apps as django_apps
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.operations import RunSQL
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from psycopg import pq

P = ParamSpec("P")
R = TypeVar("R")
ADMIN_PATH_PREFIX = "/admin/"
_SET_SCOPE_SQL = "SELECT set_config('app.user_id', %s, true), set_config('app.staff', %s, true), set_config('app.api_key_prefix', %s, true)"


@dataclass(frozen=True)
class RowScope:
    """What one transaction may see: one user's rows (optionally staff's view), or none."""

    user_id: str = ""
    staff: bool = False
    api_key_prefix: str = ""

    def settings(self) -> tuple[str, str, str]:
        return (self.user_id, "on" if self.staff else "", self.api_key_prefix)


NO_USER = RowScope()
_request: ContextVar[HttpRequest | None] = ContextVar("row_security_request", default=None)
_fixed: ContextVar[RowScope | None] = ContextVar("row_security_scope", default=None)
_api_key_prefix: ContextVar[str] = ContextVar("row_security_api_key_prefix", default="")
_STAFF_VIEW_ATTRIBUTE = "row_security_staff_view"


def _user_id(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return str(user.pk)


def _request_scope(request: HttpRequest) -> RowScope:
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:  # type: ignore[attr-defined]
        return NO_USER  # not resolved yet: resolving it here would run this very statement again
    user_id = _user_id(user)
    staff = (
        bool(user_id)
        and bool(getattr(user, "is_staff", False))
        and (request.path.startswith(ADMIN_PATH_PREFIX) or getattr(request, _STAFF_VIEW_ATTRIBUTE, False))
    )
    return RowScope(user_id=user_id, staff=staff)


def current_scope() -> RowScope:
    """The scope the next statement will run with."""
    fixed = _fixed.get()
    request = _request.get()
    if fixed is not None:
        scope = fixed
    elif request is not None:
        scope = _request_scope(request)
    else:
        scope = NO_USER
    prefix = _api_key_prefix.get()
    return RowScope(scope.user_id, scope.staff, prefix) if prefix else scope


@contextmanager
def acting_for(user: Any, *, staff: bool = False) -> Iterator[None]:
    """Run the block for one user (a user, or a user's id): a task or command acting for them."""
    user_id = str(user) if isinstance(user, (str, uuid.UUID)) else _user_id(user)
    token = _fixed.set(RowScope(user_id=user_id, staff=staff and bool(user_id)))
    try:
        yield
    finally:
        _fixed.reset(token)


@contextmanager
def api_key_lookup(prefix: str) -> Iterator[None]:
    """Let the block read the API key with this prefix before anyone is authenticated."""
    token = _api_key_prefix.set(prefix)
    try:
        yield
    finally:
        _api_key_prefix.reset(token)


def acting_for_owner_of(model_label: str, argument: str, owner_path: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a task about one user's object: it runs acting for that object's owner.

        @acting_for_owner_of("orders.Order", "order_id", "account__owner_id")

    The owner is looked up by the process's own role (the system role sees every row); an
    object that is gone leaves the task acting for nobody in particular, as before.
    """

    def decorate(task: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(task)

        @functools.wraps(task)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            object_id = signature.bind(*args, **kwargs).arguments[argument]
            model = django_apps.get_model(model_label)
            owner_id = model._base_manager.filter(pk=object_id).values_list(owner_path, flat=True).first()
            with acting_for(str(owner_id) if owner_id else ""):
                return task(*args, **kwargs)

        return run

    return decorate


def current_request() -> HttpRequest | None:
    """The request being served on this thread or task, if any (for who-and-from-where details)."""
    return _request.get()


def allow_staff_view(request: HttpRequest) -> None:
    """For the rest of this request a staff user sees everyone's rows (e.g. the audit trail of all users)."""
    setattr(request, _STAFF_VIEW_ATTRIBUTE, True)


class RowSecurityMiddleware:
    """Put the request in reach of the database wrapper; placed after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None:
            user.is_authenticated  # noqa: B018 -- resolve the session's user before any statement needs it
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _apply_scope(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Database execute wrapper: the first statement of each transaction carries the scope."""
    connection: BaseDatabaseWrapper = context["connection"]
    scope = current_scope()
    if connection.get_autocommit():
        if scope == NO_USER:
            return execute(sql, params, many, context)
        with transaction.atomic(using=connection.alias):
            return _execute_in_transaction(connection, scope, execute, sql, params, many, context)
    return _execute_in_transaction(connection, scope, execute, sql, params, many, context)


def _execute_in_transaction(
    connection: BaseDatabaseWrapper, scope: RowScope, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    raw = connection.connection
    status = raw.info.transaction_status
    applied = getattr(connection, "_row_scope", None)
    if status == pq.TransactionStatus.IDLE:
        applied = NO_USER  # a new transaction starts with every setting empty
    if status in (pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS) and applied != scope:
        raw.execute(_SET_SCOPE_SQL, scope.settings())
        applied = scope
    connection._row_scope = applied  # type: ignore[attr-defined]
    return execute(sql, params, many, context)


def install(connection: BaseDatabaseWrapper, **_: Any) -> None:
    """`connection_created` receiver: every statement on the connection goes through `_apply_scope`.

    It goes first in the list: a connection opened inside `connection.execute_wrapper(...)` (the
    request metrics time every query so) would otherwise lose it when that block pops its own
    wrapper off the end, and a persistent connection would run every later request unscoped."""
    if _apply_scope not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _apply_scope)


# Migration operations -----------------------------------------------------------------------

ACTING_USER_SQL = "(SELECT tp_acting_user())"


def owned_by(column: str) -> str:
    """A row is the user's when `column` holds the user's id."""
    return f'"{column}" = {ACTING_USER_SQL}'


def owned_through(column: str, parent_table: str, parent_owner_column: str = "owner_id") -> str:
    """A row is the user's when `column` points at a row of `parent_table` that is the user's."""
    return f'"{column}" IN (SELECT "id" FROM "{parent_table}" WHERE "{parent_owner_column}" = {ACTING_USER_SQL})'


POLICY_NAME = "tp_user_rows"
APPEND_POLICY_NAME = "tp_append_rows"


class RowLevelSecurity(RunSQL):
    """Enable and force row-level security on a table of a user's rows, in one migration line:

        RowLevelSecurity("orders_order", owned_through("account_id", "portfolio_tradingaccount"))

    `user_rows` is the SQL condition that makes a row the acting user's; staff's view and the
    system role's view of all rows come on top. `also_visible` adds an alternative condition
    (e.g. the API key being looked up); `anyone_may_insert` lets any transaction append rows
    it then cannot read (audit events written while nobody is signed in).
    """

    def __init__(self, table: str, user_rows: str, *, also_visible: str = "", anyone_may_insert: bool = False) -> None:
        visible = f"(SELECT tp_sees_all_rows()) OR {user_rows}" + (f" OR {also_visible}" if also_visible else "")
        forward = [
            f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
            f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
            f'CREATE POLICY {POLICY_NAME} ON "{table}" USING ({visible}) WITH CHECK ({visible})',
        ]
        backward = [f'DROP POLICY IF EXISTS {POLICY_NAME} ON "{table}"']
        if anyone_may_insert:
            forward.append(f'CREATE POLICY {APPEND_POLICY_NAME} ON "{table}" FOR INSERT WITH CHECK (true)')
            backward.append(f'DROP POLICY IF EXISTS {APPEND_POLICY_NAME} ON "{table}"')
        backward += [f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY', f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY']
        self.table = table
        super().__init__(sql=";\n".join(forward), reverse_sql=";\n".join(backward), elidable=False)

    def describe(self) -> str:
        return f"Row-level security on {self.table}"
