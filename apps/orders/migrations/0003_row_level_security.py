"""Row-level security, enabled and forced, on the tables of a user's rows (see apps/core/rls.py)."""

from django.db import migrations

from apps.core.rls import RowLevelSecurity, owned_through


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_order_bot"), ("core", "0001_row_security_functions")]

    operations = [
        RowLevelSecurity("orders_order", owned_through("account_id", "portfolio_tradingaccount")),
        RowLevelSecurity("orders_fill", owned_through("account_id", "portfolio_tradingaccount")),
    ]
