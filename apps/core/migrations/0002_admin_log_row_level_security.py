"""Row-level security on the admin site's log: each entry belongs to the staff user who made it."""

from django.db import migrations

from apps.core.rls import RowLevelSecurity, owned_by


class Migration(migrations.Migration):
    dependencies = [("admin", "0003_logentry_add_action_flag_choices"), ("core", "0001_row_security_functions")]

    operations = [
        RowLevelSecurity("django_admin_log", owned_by("user_id")),
    ]
