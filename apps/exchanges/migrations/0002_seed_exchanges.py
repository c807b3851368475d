"""The four venues the platform knows, enabled, with built-in capabilities."""

from django.db import migrations

VENUES = [("BINANCE", "Binance"), ("BYBIT", "Bybit"), ("OKX", "OKX"), ("SIM", "Simulated exchange")]


def create_exchanges(apps, schema_editor):
    from apps.core.domain.ids import uuid7

    exchange_model = apps.get_model("exchanges", "Exchange")
    for code, name in VENUES:
        exchange_model.objects.get_or_create(code=code, defaults={"name": name, "id": uuid7()})


class Migration(migrations.Migration):
    dependencies = [("exchanges", "0001_initial")]

    operations = [migrations.RunPython(create_exchanges, migrations.RunPython.noop)]
