"""SQL functions that row-level security policies and partition maintenance call.

- `tp_acting_user()`: the user set for this transaction (`app.user_id`), or NULL.
- `tp_sees_all_rows()`: true for the system role while no user is set, and for an
  active staff user whose transaction asked for staff's view (`app.staff`).
- `tp_api_key_prefix()`: the API key being looked up while authenticating.
- `tp_partition_create()` / `tp_partition_drop()`: the only DDL the application and
  system roles may run, limited to partitions of partitioned tables, run as the owner.
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION tp_acting_user() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('app.user_id', true), '')::uuid
$$;

CREATE OR REPLACE FUNCTION tp_api_key_prefix() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('app.api_key_prefix', true), '')
$$;

CREATE OR REPLACE FUNCTION tp_sees_all_rows() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN tp_acting_user() IS NULL THEN current_user = 'tp_system'
        WHEN current_setting('app.staff', true) = 'on' THEN EXISTS (
            SELECT FROM public.accounts_user u WHERE u.id = tp_acting_user() AND u.is_staff AND u.is_active
        )
        ELSE false
    END
$$;

CREATE OR REPLACE FUNCTION tp_partition_create(parent text, partition text, lower_bound timestamptz, upper_bound timestamptz)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF parent !~ '^[a-z_][a-z0-9_]*$' OR partition !~ '^[a-z_][a-z0-9_]*$' OR left(partition, length(parent) + 1) <> parent || '_' THEN
        RAISE EXCEPTION 'not a partition name of %: %', parent, partition;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_class WHERE oid = to_regclass('public.' || parent) AND relkind = 'p') THEN
        RAISE EXCEPTION 'not a partitioned table: %', parent;
    END IF;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', partition, parent, lower_bound, upper_bound);
END
$$;

CREATE OR REPLACE FUNCTION tp_partition_drop(partition text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF to_regclass('public.' || quote_ident(partition)) IS NULL THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_class WHERE oid = to_regclass('public.' || quote_ident(partition)) AND relispartition AND relkind = 'r') THEN
        RAISE EXCEPTION 'not a partition: %', partition;
    END IF;
    EXECUTE format('DROP TABLE %I', partition);
END
$$;

REVOKE ALL ON FUNCTION tp_partition_create(text, text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION tp_partition_drop(text) FROM PUBLIC;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS tp_partition_drop(text);
DROP FUNCTION IF EXISTS tp_partition_create(text, text, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS tp_sees_all_rows();
DROP FUNCTION IF EXISTS tp_api_key_prefix();
DROP FUNCTION IF EXISTS tp_acting_user();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS)]
