"""Events are chained when their transaction commits, not when they are written.

An event is inserted with its chain fields empty, beside its canonical form in the
`audit_auditchainpending` table (rows that never outlive their transaction). A deferred
constraint trigger chains each new event at commit: it locks the month's head, hashes the
canonical form around the head's hash and next position (as `audit_record` did), fills the
event's chain fields and advances the head. The head is then the last lock a transaction takes
and it is held only while the transaction commits.

The append-only trigger lets through, besides erasing personal data, only that chaining: the
chain fields going from empty to a value, nothing else changed, from inside the chaining
trigger, running as the table's owner (never an UPDATE a role runs itself, not even from a
trigger of its own). Existing events stay as they are.
"""

from django.db import migrations, models

from apps.audit.domain.chain import GENESIS_HASH

PENDING_TABLE = """
CREATE UNLOGGED TABLE audit_auditchainpending (
    event_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    before text NOT NULL,
    middle text NOT NULL,
    after text NOT NULL,
    PRIMARY KEY (event_id, created_at)
);
"""

CHAIN_AT_COMMIT = """
CREATE FUNCTION tp_audit_chain_event() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    chain_month date := date_trunc('month', NEW.created_at AT TIME ZONE 'UTC')::date;
    pending record;
    head record;
    next_hash text;
BEGIN
    DELETE FROM audit_auditchainpending WHERE event_id = NEW.id AND created_at = NEW.created_at
        RETURNING before, middle, after INTO pending;
    IF NOT FOUND THEN
        RETURN NULL;  -- written without its canonical form (not by audit_record): verification names it
    END IF;
    SELECT seq, hash INTO head FROM audit_auditchainhead WHERE month = chain_month FOR UPDATE;
    IF NOT FOUND THEN  -- the month's first event
        INSERT INTO audit_auditchainhead (month, seq, hash, updated_at) VALUES (chain_month, 0, '{genesis}', now())
            ON CONFLICT (month) DO NOTHING;
        SELECT seq, hash INTO head FROM audit_auditchainhead WHERE month = chain_month FOR UPDATE;
    END IF;
    next_hash := encode(sha256(convert_to(pending.before || head.hash || pending.middle || (head.seq + 1)::text || pending.after, 'UTF8')), 'hex');
    UPDATE audit_auditevent SET seq = head.seq + 1, prev_hash = head.hash, hash = next_hash
        WHERE id = NEW.id AND created_at = NEW.created_at;
    UPDATE audit_auditchainhead SET seq = head.seq + 1, hash = next_hash, updated_at = now() WHERE month = chain_month;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER audit_chain_at_commit AFTER INSERT ON audit_auditevent
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.hash IS NULL) EXECUTE FUNCTION tp_audit_chain_event();
""".replace("{genesis}", GENESIS_HASH)

UNCHAIN = """
DROP TRIGGER IF EXISTS audit_chain_at_commit ON audit_auditevent;
DROP FUNCTION IF EXISTS tp_audit_chain_event();
"""

_SAME_EVENT = """(NEW.id, NEW.created_at, NEW.actor_id, NEW.owner_id, NEW.actor_kind, NEW.actor_ref, NEW.actor_name,
             NEW.action, NEW.target_type, NEW.target_id, NEW.summary, NEW.changes, NEW.personal_digest,
             NEW.request_id{chain_new})
        IS NOT DISTINCT FROM
            (OLD.id, OLD.created_at, OLD.actor_id, OLD.owner_id, OLD.actor_kind, OLD.actor_ref, OLD.actor_name,
             OLD.action, OLD.target_type, OLD.target_id, OLD.summary, OLD.changes, OLD.personal_digest,
             OLD.request_id{chain_old})"""

REFUSE_CHANGES_BUT_CHAINING = """
CREATE OR REPLACE FUNCTION tp_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL AND NEW.personal_salt IS NULL
        AND {same_with_chain}
    THEN
        RETURN NEW;  -- erasing personal data, nothing else
    END IF;
    IF TG_OP = 'UPDATE'
        -- from inside tp_audit_chain_event() (running as its owner), never a statement of a role's own
        AND pg_trigger_depth() > 1
        AND (SELECT proowner FROM pg_proc WHERE oid = 'tp_audit_chain_event()'::regprocedure) = (SELECT oid FROM pg_roles WHERE rolname = current_user)
        AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
        AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
        AND (NEW.ip_address, NEW.user_agent, NEW.personal_salt) IS NOT DISTINCT FROM (OLD.ip_address, OLD.user_agent, OLD.personal_salt)
        AND {same_without_chain}
    THEN
        RETURN NEW;  -- chaining the event at commit, once
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
""".replace("{same_with_chain}", _SAME_EVENT.format(chain_new=", NEW.seq, NEW.prev_hash, NEW.hash", chain_old=", OLD.seq, OLD.prev_hash, OLD.hash")).replace(
    "{same_without_chain}", _SAME_EVENT.format(chain_new="", chain_old="")
)

REFUSE_CHANGES_AS_BEFORE = """
CREATE OR REPLACE FUNCTION tp_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL AND NEW.personal_salt IS NULL
        AND {same_with_chain}
    THEN
        RETURN NEW;  -- erasing personal data, nothing else
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
""".replace("{same_with_chain}", _SAME_EVENT.format(chain_new=", NEW.seq, NEW.prev_hash, NEW.hash", chain_old=", OLD.seq, OLD.prev_hash, OLD.hash"))


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_hash_chain")]

    operations = [
        migrations.AlterField(model_name="auditevent", name="seq", field=models.BigIntegerField(blank=True, null=True)),
        migrations.AlterField(model_name="auditevent", name="prev_hash", field=models.CharField(blank=True, max_length=64, null=True)),
        migrations.AlterField(model_name="auditevent", name="hash", field=models.CharField(blank=True, max_length=64, null=True)),
        migrations.RunSQL(PENDING_TABLE, "DROP TABLE IF EXISTS audit_auditchainpending;"),
        migrations.RunSQL(REFUSE_CHANGES_BUT_CHAINING, REFUSE_CHANGES_AS_BEFORE),
        migrations.RunSQL(CHAIN_AT_COMMIT, UNCHAIN),
    ]
