"""Row-level security, enabled and forced, on the tables of a user's rows (see apps/core/rls.py)."""

from django.db import migrations

from apps.core.rls import RowLevelSecurity, owned_by, owned_through


class Migration(migrations.Migration):
    dependencies = [("backtesting", "0003_results_unscored_last"), ("core", "0001_row_security_functions")]

    operations = [
        RowLevelSecurity("backtesting_backtest", owned_by("owner_id")),
        RowLevelSecurity("backtesting_optimisation", owned_by("owner_id")),
        RowLevelSecurity("backtesting_optimisationresult", owned_through("optimisation_id", "backtesting_optimisation")),
    ]
