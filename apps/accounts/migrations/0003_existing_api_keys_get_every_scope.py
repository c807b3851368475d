"""Keys made before scopes existed could do everything a key can: they keep read, trade and bots."""

from django.db import migrations

EVERY_SCOPE = ["read", "trade", "bots"]


def grant_every_scope(apps, schema_editor):  # type: ignore[no-untyped-def]
    ApiKey = apps.get_model("accounts", "ApiKey")
    ApiKey.objects.update(scopes=EVERY_SCOPE)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_two_factor_api_key_scopes_auth_epoch")]

    operations = [migrations.RunPython(grant_every_scope, migrations.RunPython.noop)]
