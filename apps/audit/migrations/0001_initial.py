"""AuditEvent as a table range-partitioned by month on created_at (hand-written SQL)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import apps.core.domain.ids

CREATE_TABLE = """
CREATE TABLE audit_auditevent (
    id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    actor_id uuid NULL,
    owner_id uuid NULL,
    action varchar(64) NOT NULL,
    target_type varchar(64) NOT NULL,
    target_id varchar(64) NOT NULL,
    summary varchar(255) NOT NULL,
    changes jsonb NOT NULL,
    ip_address inet NULL,
    request_id varchar(64) NOT NULL,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX audit_owner_created_idx ON audit_auditevent (owner_id, created_at DESC);
CREATE INDEX audit_action_created_idx ON audit_auditevent (action, created_at DESC);
"""


def create_initial_partitions(apps, schema_editor):
    from apps.core.partitions import PartitionPolicy, ensure_partitions

    ensure_partitions(PartitionPolicy("audit_auditevent", "month", ahead=3, retention=None), behind=1)


class Migration(migrations.Migration):
    initial = True

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.RunSQL(
            sql=CREATE_TABLE,
            reverse_sql="DROP TABLE audit_auditevent CASCADE;",
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey("id", "created_at", blank=True, editable=False, primary_key=True, serialize=False),
                        ),
                        ("id", models.UUIDField(default=apps.core.domain.ids.uuid7, editable=False)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("action", models.CharField(max_length=64)),
                        ("target_type", models.CharField(blank=True, max_length=64)),
                        ("target_id", models.CharField(blank=True, max_length=64)),
                        ("summary", models.CharField(max_length=255)),
                        ("changes", models.JSONField(blank=True, default=dict)),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                db_constraint=False,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                blank=True,
                                db_constraint=False,
                                help_text="Whose data the event is about; the audit page shows a user their own events.",
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(fields=["owner", "-created_at"], name="audit_owner_created_idx"),
                            models.Index(fields=["action", "-created_at"], name="audit_action_created_idx"),
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(create_initial_partitions, migrations.RunPython.noop),
    ]
