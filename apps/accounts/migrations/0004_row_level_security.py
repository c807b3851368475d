"""Row-level security, enabled and forced, on the tables of a user's rows (see apps/core/rls.py)."""

from django.db import migrations

from apps.core.rls import RowLevelSecurity, owned_by


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_existing_api_keys_get_every_scope"), ("core", "0001_row_security_functions")]

    operations = [
        RowLevelSecurity("accounts_apikey", owned_by("user_id"), also_visible='"prefix" = (SELECT tp_api_key_prefix())'),
        RowLevelSecurity("accounts_user_groups", owned_by("user_id")),
        RowLevelSecurity("accounts_user_user_permissions", owned_by("user_id")),
        RowLevelSecurity("accounts_totpdevice", owned_by("user_id")),
        RowLevelSecurity("accounts_recoverycode", owned_by("user_id")),
    ]
