"""Fills record liquidations: `liquidity` is MAKER, TAKER or LIQUIDATION (a check constraint keeps it so).

The fills table is partitioned and hand-written (0001), so the column is changed in SQL; the
change reaches every partition.
"""

from django.db import migrations, models

WIDEN = """
ALTER TABLE orders_fill ALTER COLUMN liquidity TYPE varchar(11);
ALTER TABLE orders_fill ADD CONSTRAINT orders_fill_liquidity_valid CHECK (liquidity IN ('MAKER', 'TAKER', 'LIQUIDATION'));
"""
NARROW = """
ALTER TABLE orders_fill DROP CONSTRAINT orders_fill_liquidity_valid;
ALTER TABLE orders_fill ALTER COLUMN liquidity TYPE varchar(5);
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_row_level_security")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(WIDEN, NARROW)],
            state_operations=[
                migrations.AlterField(
                    model_name="fill",
                    name="liquidity",
                    field=models.CharField(choices=[("MAKER", "Maker"), ("TAKER", "Taker"), ("LIQUIDATION", "Liquidation")], max_length=11),
                ),
            ],
        ),
    ]
