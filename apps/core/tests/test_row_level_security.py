"""Row-level security as a second wall, checked with the real PostgreSQL roles and policies.

The web server of the test session (`live_server_url`) connects as the application role with
a connection pool, as `make run` does; the views of `tests.testapp.views` read user rows with
no user filter at all, like a view with a forgotten filter would.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from django.apps import apps
from django.db import connection, models, transaction
from django.test import Client
from psycopg import errors
from psycopg.conninfo import make_conninfo

from apps.accounts.models import User
from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import StaffUserFactory, UserFactory
from apps.accounts.tests.helpers import bearer
from apps.audit.services import audit_record
from apps.core import rls
from apps.core.db_roles import OWNER_ROLE, ROLE_NAMES
from apps.core.embedded import paths
from apps.orders.models import Fill
from apps.orders.tests.factories import FillFactory

pytestmark = [pytest.mark.django_db(transaction=True)]

# Tables with a user-owned foreign key that deliberately have no row-level security.
EXEMPT_TABLES = {
    "accounts_user": "the users themselves: read to authenticate, before anyone is acting",
    "auditlog_logentry": "django-auditlog's model diffs, written with INSERT ... RETURNING while nobody is signed in (registration) and read only in the staff admin",
    "token_blacklist_outstandingtoken": "refresh tokens' ids, written at sign-in and read at refresh and logout, before anyone is authenticated; never shown to users",
    "token_blacklist_blacklistedtoken": "the used and revoked refresh tokens, checked at refresh before anyone is authenticated; never shown to users",
}
USER_TABLE = "accounts_user"


@dataclass
class Trader:
    user: User
    account_id: str
    order_id: str
    fill_id: str
    api_key_id: str
    api_key: str


def _trader() -> Trader:
    user = UserFactory()
    fill = FillFactory(order__account__owner=user)
    created = api_key_create(actor=user, name="bot")
    audit_record(actor=user, action="test.event", summary=f"an event of {user.email}")
    return Trader(user, str(fill.account_id), str(fill.order_id), str(fill.id), str(created.api_key.pk), created.plaintext)


@pytest.fixture
def traders() -> tuple[Trader, Trader]:
    return _trader(), _trader()


def _role_conninfo(role: str) -> str:
    """How the given role reaches the test database (embedded server, or DATABASE_<ROLE>_URL)."""
    database = connection.settings_dict["NAME"]
    external = os.environ.get(f"DATABASE_{role.upper()}_URL")
    if external:
        return make_conninfo(external, dbname=database)
    if os.environ.get("DATABASE_URL"):
        pytest.skip(f"set DATABASE_{role.upper()}_URL to test the {role} role against an external server")
    login = ROLE_NAMES[role]
    settings = connection.settings_dict
    return make_conninfo(host=settings["HOST"], port=settings["PORT"] or None, user=login, password=paths.postgres_password(login), dbname=database)


@pytest.fixture
def as_role() -> Iterator[Any]:
    opened: list[psycopg.Connection[Any]] = []

    def connect(role: str) -> psycopg.Connection[Any]:
        conn = psycopg.connect(_role_conninfo(role))
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


def _ids(conn: psycopg.Connection[Any], sql: str, user_id: str = "", staff: bool = False) -> set[str]:
    with conn.transaction():
        conn.execute("SELECT set_config('app.user_id', %s, true), set_config('app.staff', %s, true)", [user_id, "on" if staff else ""])
        return {str(row[0]) for row in conn.execute(sql).fetchall()}


def _get(url: str, headers: dict[str, str]) -> dict[str, list[str]]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def _session_cookie(user: User) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def _rows_of(trader: Trader) -> dict[str, list[str]]:
    return {
        "accounts": [trader.account_id],
        "orders": [trader.order_id],
        "fills": [trader.fill_id],
        "api_keys": [trader.api_key_id],
        "audit_owners": [str(trader.user.pk)],
    }


NO_ROWS: dict[str, list[str]] = {"accounts": [], "orders": [], "fills": [], "api_keys": [], "audit_owners": []}


# A query that forgets its user filter -----------------------------------------------------


def test_a_page_that_forgets_its_user_filter_shows_only_the_signed_in_users_rows(live_server_url: str, traders: tuple[Trader, Trader]) -> None:
    first, second = traders

    seen = _get(f"{live_server_url}/testapp/unfiltered-rows/", _session_cookie(first.user))

    assert seen == _rows_of(first)
    assert _get(f"{live_server_url}/testapp/unfiltered-rows/", _session_cookie(second.user)) == _rows_of(second)


def test_an_api_view_that_forgets_its_user_filter_shows_only_the_rows_of_the_key_or_tokens_user(live_server_url: str, traders: tuple[Trader, Trader]) -> None:
    first, second = traders
    url = f"{live_server_url}/api/v1/testapp/unfiltered-rows/"

    assert _get(url, {"Authorization": f"Api-Key {second.api_key}"}) == _rows_of(second)
    assert _get(url, bearer(first.user)) == _rows_of(first)


def test_a_request_with_nobody_signed_in_sees_no_user_rows_even_on_a_connection_a_user_used_before(
    live_server_url: str, traders: tuple[Trader, Trader]
) -> None:
    first, _second = traders
    page, api = f"{live_server_url}/testapp/unfiltered-rows/", f"{live_server_url}/api/v1/testapp/unfiltered-rows/"

    for _ in range(6):  # the server's pool hands the same few connections from request to request
        assert _get(page, _session_cookie(first.user)) == _rows_of(first)
        assert _get(page, {}) == NO_ROWS
        assert _get(api, {}) == NO_ROWS


def _get_html(url: str, headers: dict[str, str]) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=15) as response:
        return str(response.read().decode())


def test_staff_see_everyones_audit_events_and_keys_in_the_admin_while_a_trader_asking_for_everyone_sees_their_own(
    live_server_url: str, traders: tuple[Trader, Trader]
) -> None:
    first, second = traders
    staff = StaffUserFactory(is_superuser=True)

    staff_audit = _get_html(f"{live_server_url}/audit/?scope=all&action=test.", _session_cookie(staff))
    trader_audit = _get_html(f"{live_server_url}/audit/?scope=all&action=test.", _session_cookie(first.user))
    staff_own_audit = _get_html(f"{live_server_url}/audit/?action=test.", _session_cookie(staff))
    admin_keys = _get_html(f"{live_server_url}/admin/accounts/apikey/", _session_cookie(staff))

    assert first.user.email in staff_audit and second.user.email in staff_audit
    assert first.user.email in trader_audit and second.user.email not in trader_audit
    assert first.user.email not in staff_own_audit
    assert first.api_key.split("_")[1].split(".")[0] in admin_keys and second.api_key.split("_")[1].split(".")[0] in admin_keys


# The roles ----------------------------------------------------------------------------------


def test_the_application_role_sees_no_user_rows_without_a_user_and_only_that_users_rows_with_one(as_role: Any, traders: tuple[Trader, Trader]) -> None:
    first, _second = traders
    app = as_role("app")

    assert _ids(app, "SELECT id FROM orders_fill") == set()
    assert _ids(app, "SELECT id FROM portfolio_tradingaccount") == set()
    assert _ids(app, "SELECT id FROM orders_fill", user_id=str(first.user.pk)) == {first.fill_id}
    assert _ids(app, "SELECT id FROM orders_order", user_id=str(first.user.pk)) == {first.order_id}
    assert _ids(app, "SELECT id FROM accounts_apikey", user_id=str(first.user.pk)) == {first.api_key_id}


def test_the_application_role_cannot_write_a_row_for_another_user(as_role: Any, traders: tuple[Trader, Trader]) -> None:
    first, second = traders
    app = as_role("app")

    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"), app.transaction():
        app.execute("SELECT set_config('app.user_id', %s, true)", [str(first.user.pk)])
        app.execute("UPDATE portfolio_tradingaccount SET name = 'mine now' WHERE id = %s", [second.account_id])
        app.execute("INSERT INTO risk_risklimits (id, created_at, updated_at, owner_id) VALUES (gen_random_uuid(), now(), now(), %s)", [str(second.user.pk)])
    with app.transaction():
        app.execute("SELECT set_config('app.user_id', %s, true)", [str(first.user.pk)])
        moved = app.execute("UPDATE portfolio_tradingaccount SET name = 'mine now' WHERE id = %s", [second.account_id]).rowcount
    assert moved == 0


def test_the_system_role_sees_every_users_rows_until_a_task_names_one_user(as_role: Any, traders: tuple[Trader, Trader]) -> None:
    first, second = traders
    system = as_role("system")

    assert _ids(system, "SELECT id FROM orders_fill") == {first.fill_id, second.fill_id}
    assert _ids(system, "SELECT id FROM accounts_apikey") == {first.api_key_id, second.api_key_id}
    assert _ids(system, "SELECT id FROM orders_fill", user_id=str(second.user.pk)) == {second.fill_id}


def test_staff_see_everyones_rows_only_when_asking_for_staffs_view_and_only_if_the_database_knows_them_as_staff(
    as_role: Any, traders: tuple[Trader, Trader]
) -> None:
    first, second = traders
    staff = StaffUserFactory()
    app = as_role("app")

    assert _ids(app, "SELECT id FROM orders_order", user_id=str(staff.pk), staff=True) == {first.order_id, second.order_id}
    assert _ids(app, "SELECT id FROM orders_order", user_id=str(staff.pk)) == set()
    assert _ids(app, "SELECT id FROM orders_order", user_id=str(first.user.pk), staff=True) == {first.order_id}


def test_the_application_and_system_roles_are_not_superusers_own_nothing_and_cannot_alter_or_drop(as_role: Any) -> None:
    for role in ("app", "system"):
        conn = as_role(role)
        super_, bypass, create_db, create_role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        owned = conn.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)").fetchone()
        assert (super_, bypass, create_db, create_role) == (False, False, False, False)
        assert owned == (0,)
        for statement in (
            "ALTER TABLE orders_order ADD COLUMN stolen text",
            "ALTER TABLE orders_order DISABLE ROW LEVEL SECURITY",
            "DROP TABLE orders_order",
            "TRUNCATE orders_fill",
            "DROP POLICY tp_user_rows ON orders_order",
            "CREATE TABLE mine (id int)",
        ):
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


def test_nothing_reaches_a_partition_directly_past_its_parents_policy(as_role: Any, traders: tuple[Trader, Trader]) -> None:
    first, _second = traders
    partition = Fill.objects.filter(id=first.fill_id).extra(select={"partition": "tableoid::regclass::text"}).values_list("partition", flat=True)[0]
    app = as_role("app")

    with pytest.raises(errors.InsufficientPrivilege), app.transaction():
        app.execute(f'SELECT * FROM "{partition}"')


def test_the_owner_that_migrates_is_not_a_superuser(as_role: Any) -> None:
    if os.environ.get("DATABASE_URL"):
        pytest.skip("the owner of an external database is the operator's choice")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (OWNER_ROLE, False)


# Every table of a user's rows ---------------------------------------------------------------


def _user_owned_tables_in_catalog() -> set[str]:
    """Tables with a foreign key to the users, or to a table that has one, found in pg_catalog."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE owned(name) AS (
                SELECT %s::name
                UNION
                SELECT child.relname
                FROM pg_constraint fk
                JOIN pg_class child ON child.oid = fk.conrelid
                JOIN pg_class parent ON parent.oid = fk.confrelid
                JOIN owned ON owned.name = parent.relname
                WHERE fk.contype = 'f' AND NOT child.relispartition
            )
            SELECT name FROM owned
            """,
            [USER_TABLE],
        )
        return {row[0] for row in cursor.fetchall()}


def _user_owned_tables_in_models() -> set[str]:
    """The same from the models, which also know the foreign keys partitioned tables keep without a constraint."""
    owned = {USER_TABLE}
    grew = True
    while grew:
        grew = False
        for model in apps.get_models(include_auto_created=True):
            table = model._meta.db_table
            if table in owned:
                continue
            targets = {field.related_model._meta.db_table for field in model._meta.concrete_fields if isinstance(field, models.ForeignKey)}
            if targets & owned:
                owned.add(table)
                grew = True
    return owned


def test_every_table_holding_a_users_rows_has_row_level_security_enabled_and_forced() -> None:
    owned = (_user_owned_tables_in_catalog() | _user_owned_tables_in_models()) - set(EXEMPT_TABLES)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s) AND relkind IN ('r', 'p')", [sorted(owned)])
        found = {name: (enabled, forced) for name, enabled, forced in cursor.fetchall()}

    unprotected = sorted(name for name in owned if found.get(name) != (True, True))
    assert not unprotected, f"add RowLevelSecurity(...) (apps/core/rls.py) in a migration for: {', '.join(unprotected)}"
    assert {"orders_fill", "audit_auditevent", "bots_botperformancesnapshot", "accounts_apikey", "exchanges_apiconnection"} <= owned


# The per-transaction setting ------------------------------------------------------------------


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('app.user_id', true), '')")
        return str(cursor.fetchone()[0])


def test_the_acting_user_is_set_for_each_transaction_and_gone_after_it() -> None:
    user = UserFactory()

    with rls.acting_for(user):
        inside = _setting()
        with transaction.atomic():
            in_transaction = _setting()
    after = _setting()

    assert (inside, in_transaction, after) == (str(user.pk), str(user.pk), "")


def test_a_transaction_that_changes_acting_user_midway_carries_the_new_one() -> None:
    first, second = UserFactory(), UserFactory()

    with transaction.atomic():
        with rls.acting_for(first):
            as_first = _setting()
        nobody = _setting()
        with rls.acting_for(second):
            as_second = _setting()

    assert (as_first, nobody, as_second) == (str(first.pk), "", str(second.pk))


def test_a_task_about_one_users_object_acts_for_that_user(traders: tuple[Trader, Trader]) -> None:
    _first, second = traders

    @rls.acting_for_owner_of("orders.Order", "order_id", "account__owner_id")
    def task(order_id: str) -> str:
        return _setting()

    assert task(order_id=second.order_id) == str(second.user.pk)
    assert task(second.order_id) == str(second.user.pk)
