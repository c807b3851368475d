"""Row-level security, enabled and forced, on the tables of a user's rows (see apps/core/rls.py)."""

from django.db import migrations

from apps.core.rls import RowLevelSecurity, owned_by, owned_through


class Migration(migrations.Migration):
    dependencies = [("bots", "0001_initial"), ("core", "0001_row_security_functions")]

    operations = [
        RowLevelSecurity("bots_bot", owned_by("owner_id")),
        RowLevelSecurity("bots_botlogentry", owned_through("bot_id", "bots_bot")),
        RowLevelSecurity("bots_botperformancesnapshot", owned_through("bot_id", "bots_bot")),
    ]
