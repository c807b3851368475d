"""Row-level security, enabled and forced, on the tables of a user's rows (see apps/core/rls.py)."""

from django.db import migrations

from apps.core.rls import RowLevelSecurity, owned_by, owned_through


class Migration(migrations.Migration):
    dependencies = [("portfolio", "0002_account_fee_tier"), ("core", "0001_row_security_functions")]

    operations = [
        RowLevelSecurity("portfolio_tradingaccount", owned_by("owner_id")),
        RowLevelSecurity("portfolio_balance", owned_through("account_id", "portfolio_tradingaccount")),
        RowLevelSecurity("portfolio_position", owned_through("account_id", "portfolio_tradingaccount")),
    ]
