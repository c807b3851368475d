"""Audit events form one hash chain per month; a trigger refuses UPDATE and DELETE.

(The platform's roles are granted no TRUNCATE; the owner drops expired partitions whole.)

Existing events are chained in the order they were written (time, then id) before the
trigger is created. The one UPDATE the trigger lets through erases an event's personal data
(client address, user agent and the salt of their digest) and changes nothing else.
"""

import secrets
from datetime import UTC

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import apps.core.domain.ids

REFUSE_CHANGES = """
CREATE OR REPLACE FUNCTION tp_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL AND NEW.personal_salt IS NULL
        AND (NEW.id, NEW.created_at, NEW.actor_id, NEW.owner_id, NEW.actor_kind, NEW.actor_ref, NEW.actor_name,
             NEW.action, NEW.target_type, NEW.target_id, NEW.summary, NEW.changes, NEW.personal_digest,
             NEW.request_id, NEW.seq, NEW.prev_hash, NEW.hash)
        IS NOT DISTINCT FROM
            (OLD.id, OLD.created_at, OLD.actor_id, OLD.owner_id, OLD.actor_kind, OLD.actor_ref, OLD.actor_name,
             OLD.action, OLD.target_type, OLD.target_id, OLD.summary, OLD.changes, OLD.personal_digest,
             OLD.request_id, OLD.seq, OLD.prev_hash, OLD.hash)
    THEN
        RETURN NEW;  -- erasing personal data, nothing else
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditevent FOR EACH ROW EXECUTE FUNCTION tp_audit_refuse_change();
"""

ALLOW_CHANGES = """
DROP TRIGGER IF EXISTS audit_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS tp_audit_refuse_change();
"""


def chain_existing_events(apps, schema_editor):
    from apps.audit.domain.chain import GENESIS_HASH, ChainedFields, canonical_time, event_hash, json_safe, personal_digest
    from apps.core.partitions import period_start

    connection = schema_editor.connection
    heads: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, created_at, actor_id, owner_id, action, target_type, target_id, summary, changes::text, host(ip_address), request_id"
            " FROM audit_auditevent ORDER BY created_at, id"
        )
        rows = cursor.fetchall()
        import json

        for event_id, created_at, actor_id, owner_id, action, target_type, target_id, summary, changes, ip, request_id in rows:
            month = period_start(created_at.astimezone(UTC), "month").date()
            seq, prev_hash = heads.get(month, (0, GENESIS_HASH))
            salt = secrets.token_hex(16) if ip else None
            digest = personal_digest(salt, ip, None)
            fields = ChainedFields(
                id=str(event_id),
                created_at=canonical_time(created_at),
                seq=seq + 1,
                actor_id=str(actor_id) if actor_id else None,
                owner_id=str(owner_id) if owner_id else None,
                actor_kind="user" if actor_id else "system",
                actor_ref="",
                actor_name="",
                action=action,
                target_type=target_type,
                target_id=target_id,
                summary=summary,
                changes=json_safe(json.loads(changes)),
                request_id=request_id,
                personal_digest=digest,
            )
            new_hash = event_hash(fields, prev_hash)
            cursor.execute(
                "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s, actor_kind = %s, personal_salt = %s,"
                " personal_digest = %s, changes = %s::jsonb WHERE id = %s AND created_at = %s",
                [seq + 1, prev_hash, new_hash, fields.actor_kind, salt, digest, json.dumps(fields.changes), event_id, created_at],
            )
            heads[month] = (seq + 1, new_hash)
        for month, (seq, last_hash) in heads.items():
            cursor.execute(
                "INSERT INTO audit_auditchainhead (month, seq, hash, updated_at) VALUES (%s, %s, %s, now())"
                " ON CONFLICT (month) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
                [month, seq, last_hash],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_row_level_security"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("month", models.DateField(primary_key=True, serialize=False)),
                ("seq", models.BigIntegerField(default=0)),
                ("hash", models.CharField(blank=True, max_length=64)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("dropped_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name="AuditVerification",
            fields=[
                ("id", models.UUIDField(default=apps.core.domain.ids.uuid7, editable=False, primary_key=True, serialize=False)),
                ("started_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("month", models.CharField(blank=True, help_text="YYYY-MM, or blank for every month.", max_length=7)),
                ("ok", models.BooleanField(default=False)),
                ("events_checked", models.BigIntegerField(default=0)),
                ("months_checked", models.IntegerField(default=0)),
                ("broken_event_id", models.CharField(blank=True, max_length=64)),
                ("message", models.CharField(blank=True, max_length=500)),
            ],
            options={
                "ordering": ["-started_at"],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_kind",
            field=models.CharField(choices=[("user", "User"), ("api_key", "API key"), ("bot", "Bot"), ("system", "System")], default="user", max_length=16),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_name",
            field=models.CharField(blank=True, max_length=128),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_ref",
            field=models.CharField(blank=True, help_text="Which API key, bot or system process acted.", max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="personal_digest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="personal_salt",
            field=models.CharField(blank=True, max_length=32, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="user_agent",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="Whose data the event is about; the audit page shows a user their own events.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="request_id",
            field=models.CharField(blank=True, help_text="Correlation id: the request or task that caused the event.", max_length=64),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["seq"], name="audit_seq_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["request_id"], name="audit_request_idx"),
        ),
        migrations.RunPython(chain_existing_events, migrations.RunPython.noop),
        migrations.RunSQL(REFUSE_CHANGES, ALLOW_CHANGES),
    ]
