"""As the application role (as the web and worker processes run): events are appended to the chain,
never changed, and row-level security on the trail keeps working with the new columns."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import psycopg
import pytest
from django.db import connection
from psycopg import errors
from psycopg.conninfo import make_conninfo

from apps.accounts.services import api_key_create
from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.audit.verification import audit_chain_verify
from apps.core.db_roles import ROLE_NAMES
from apps.core.embedded import paths
from apps.orders.tests.factories import sim_markets

pytestmark = [pytest.mark.django_db(transaction=True)]


def _app_connection() -> psycopg.Connection[Any]:
    database = connection.settings_dict["NAME"]
    external = os.environ.get("DATABASE_APP_URL")
    if external:
        return psycopg.connect(make_conninfo(external, dbname=database))
    if os.environ.get("DATABASE_URL"):
        pytest.skip("set DATABASE_APP_URL to test the application role against an external server")
    settings = connection.settings_dict
    login = ROLE_NAMES["app"]
    return psycopg.connect(
        make_conninfo(host=settings["HOST"], port=settings["PORT"] or None, user=login, password=paths.postgres_password(login), dbname=database)
    )


def test_a_request_served_as_the_application_role_appends_a_chained_event_naming_the_key(live_server_url: str) -> None:
    sim_markets()
    trader = UserFactory()
    created = api_key_create(actor=trader, name="grid bot", scopes=["read", "trade"])
    request = urllib.request.Request(
        f"{live_server_url}/api/v1/accounts/",
        data=json.dumps({"exchange": "SIM", "balances": {"USDT": "500"}}).encode(),
        headers={"Authorization": f"Api-Key {created.plaintext}", "Content-Type": "application/json", "User-Agent": "grid-bot/2.1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        assert response.status == 201

    event = AuditEvent.objects.filter(owner=trader, actor_kind="api_key").latest("created_at")
    assert event.actor_ref == str(created.api_key.pk) and event.user_agent == "grid-bot/2.1" and event.hash
    assert all(result.ok for result in audit_chain_verify())


def test_the_application_role_may_not_change_or_delete_even_its_own_events() -> None:
    trader = UserFactory()
    event = audit_record(actor=trader, action="settings.changed", summary="mine")
    app = _app_connection()
    try:
        for statement in ("UPDATE audit_auditevent SET summary = 'rewritten' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"):
            with pytest.raises(errors.InsufficientPrivilege, match="append-only"), app.transaction():
                app.execute("SELECT set_config('app.user_id', %s, true)", [str(trader.pk)])
                app.execute(statement, [event.id])
        with app.transaction():
            app.execute("SELECT set_config('app.user_id', %s, true)", [str(UserFactory().pk)])
            seen = app.execute("SELECT count(*) FROM audit_auditevent WHERE id = %s", [event.id]).fetchone()
    finally:
        app.close()

    assert seen == (0,), "another user does not see the event"
    assert AuditEvent.objects.get(id=event.id).summary == "mine"


def test_the_application_role_may_not_fill_in_the_chain_fields_of_an_event_it_wrote() -> None:
    trader = UserFactory()
    app = _app_connection()
    try:
        with pytest.raises(errors.InsufficientPrivilege, match="append-only"), app.transaction():
            app.execute("SELECT set_config('app.user_id', %s, true)", [str(trader.pk)])
            app.execute(
                "INSERT INTO audit_auditevent (id, created_at, actor_id, owner_id, actor_kind, actor_ref, actor_name, action,"
                " target_type, target_id, summary, changes, personal_digest, request_id)"
                " VALUES (gen_random_uuid(), now(), %s, %s, 'user', '', '', 'settings.changed', '', '', 'forged', '{}', '', '')",
                [trader.pk, trader.pk],
            )
            app.execute("UPDATE audit_auditevent SET seq = 1, prev_hash = repeat('0', 64), hash = repeat('f', 64) WHERE summary = 'forged'")
    finally:
        app.close()

    assert not AuditEvent.objects.filter(summary="forged").exists()


def test_the_application_role_may_not_fill_in_chain_fields_from_a_trigger_of_its_own() -> None:
    trader = UserFactory()
    app = _app_connection()
    try:
        with pytest.raises(errors.InsufficientPrivilege, match="append-only"), app.transaction():
            app.execute("SELECT set_config('app.user_id', %s, true)", [str(trader.pk)])
            app.execute(
                "INSERT INTO audit_auditevent (id, created_at, actor_id, owner_id, actor_kind, actor_ref, actor_name, action,"
                " target_type, target_id, summary, changes, personal_digest, request_id)"
                " VALUES (gen_random_uuid(), now(), %s, %s, 'user', '', '', 'settings.changed', '', '', 'forged', '{}', '', '')",
                [trader.pk, trader.pk],
            )
            app.execute("CREATE TEMP TABLE nudge (n int)")
            app.execute(
                "CREATE FUNCTION pg_temp.forge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " UPDATE audit_auditevent SET seq = 1, prev_hash = repeat('0', 64), hash = repeat('f', 64) WHERE summary = 'forged';"
                " RETURN NULL; END $$"
            )
            app.execute("CREATE TRIGGER forge AFTER INSERT ON nudge FOR EACH ROW EXECUTE FUNCTION pg_temp.forge()")
            app.execute("INSERT INTO nudge VALUES (1)")
    finally:
        app.close()

    assert not AuditEvent.objects.filter(summary="forged").exists()
