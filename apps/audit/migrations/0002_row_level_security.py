"""Row-level security, enabled and forced, on the tables of a user's rows (see apps/core/rls.py)."""

from django.db import migrations

from apps.core.rls import RowLevelSecurity, owned_by


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("core", "0001_row_security_functions")]

    operations = [
        RowLevelSecurity("audit_auditevent", owned_by("owner_id"), anyone_may_insert=True),
    ]
