"""The three PostgreSQL roles of the platform and the SQL that sets them up.

- the owner (`tp_owner` in the embedded server; the login of `DATABASE_URL` that runs
  migrations elsewhere) owns the tables and bypasses row-level security;
- `tp_app`, used by the web and worker processes: not a superuser, owns nothing, may only
  read and write rows, and sees only the rows of the user set for the transaction;
- `tp_system`, used by processes that act for all users (market stream and paper
  matcher, scheduler, Celery tasks fanned out across users): not a superuser, owns
  nothing, sees every row while no user is set and only that user's rows once one is.

Pure Python (no Django): the embedded launcher and the `db_roles` command both use it.
"""

from __future__ import annotations

OWNER_ROLE = "tp_owner"
APP_ROLE = "tp_app"
SYSTEM_ROLE = "tp_system"
ROLE_NAMES = {"owner": OWNER_ROLE, "app": APP_ROLE, "system": SYSTEM_ROLE}
ROW_ROLES = (APP_ROLE, SYSTEM_ROLE)

_ROLE_ATTRIBUTES = {
    OWNER_ROLE: "LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION BYPASSRLS",
    APP_ROLE: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
    SYSTEM_ROLE: "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
}


def sql_literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every supported PostgreSQL)."""
    return "'" + value.replace("'", "''") + "'"


def role_statements(role: str, password: str) -> list[str]:
    """Create the role if it is missing, then set its attributes and password (idempotent)."""
    attributes = _ROLE_ATTRIBUTES[role]
    return [
        f'DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {sql_literal(role)}) THEN CREATE ROLE "{role}" LOGIN; END IF; END $$',
        f'ALTER ROLE "{role}" WITH {attributes} PASSWORD {sql_literal(password)}',
    ]


# Run by the owner in each database after migrating. Only tables that are not partitions are
# granted: a query through a partitioned parent is checked (and filtered by row-level
# security) on the parent, and nothing may reach a partition directly.
GRANT_STATEMENTS = """
DO $$
DECLARE
    grantee text;
    relation record;
BEGIN
    FOREACH grantee IN ARRAY ARRAY[{roles}] LOOP
        CONTINUE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = grantee);
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', grantee);
        FOR relation IN
            SELECT c.oid::regclass AS name FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        LOOP
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', relation.name, grantee);
        END LOOP;
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', grantee);
        FOR relation IN
            SELECT p.oid::regprocedure AS name FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'tp\\_%'
        LOOP
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', relation.name, grantee);
        END LOOP;
    END LOOP;
END $$
""".replace("{roles}", ", ".join(sql_literal(role) for role in ROW_ROLES))
