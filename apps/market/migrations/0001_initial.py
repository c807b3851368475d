"""Candles and order book snapshots as time-partitioned tables (hand-written SQL).

market_candle is LIST-partitioned by timeframe; each timeframe table is RANGE-partitioned
by open time so that retention can differ per timeframe. No DEFAULT partitions: the
partition maintenance task (and ingestion, for backfills) creates the ranges needed.
Prices are plain NUMERIC: exact, and stored with the digits the venue gave.
"""

import django.db.models.deletion
from django.db import migrations, models

TIMEFRAMES = ["1m", "5m", "15m", "1h", "4h", "1d"]

CREATE_CANDLES = """
CREATE TABLE market_candle (
    symbol_id uuid NOT NULL,
    timeframe varchar(3) NOT NULL,
    open_time timestamptz NOT NULL,
    open numeric NOT NULL,
    high numeric NOT NULL,
    low numeric NOT NULL,
    close numeric NOT NULL,
    volume numeric NOT NULL,
    PRIMARY KEY (symbol_id, timeframe, open_time),
    CONSTRAINT market_candle_ohlc_sane CHECK (low <= high AND low <= open AND low <= close AND high >= open AND high >= close AND low > 0 AND volume >= 0)
) PARTITION BY LIST (timeframe);
""" + "".join(f"CREATE TABLE market_candle_{tf} PARTITION OF market_candle FOR VALUES IN ('{tf}') PARTITION BY RANGE (open_time);\n" for tf in TIMEFRAMES)

CREATE_SNAPSHOTS = """
CREATE TABLE market_orderbooksnapshot (
    symbol_id uuid NOT NULL,
    captured_at timestamptz NOT NULL,
    bids jsonb NOT NULL,
    asks jsonb NOT NULL,
    mid numeric NULL,
    PRIMARY KEY (symbol_id, captured_at)
) PARTITION BY RANGE (captured_at);
"""


def create_initial_partitions(apps, schema_editor):
    from apps.core.partitions import ensure_partitions, registered_policies

    for policy in registered_policies():
        if policy.table.startswith("market_"):
            ensure_partitions(policy)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("exchanges", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=CREATE_CANDLES + CREATE_SNAPSHOTS,
            reverse_sql="DROP TABLE market_candle CASCADE; DROP TABLE market_orderbooksnapshot CASCADE;",
            state_operations=[
                migrations.CreateModel(
                    name="Candle",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey("symbol_id", "timeframe", "open_time", blank=True, editable=False, primary_key=True, serialize=False),
                        ),
                        ("timeframe", models.CharField(max_length=3)),
                        ("open_time", models.DateTimeField()),
                        ("open", models.DecimalField(decimal_places=12, max_digits=30)),
                        ("high", models.DecimalField(decimal_places=12, max_digits=30)),
                        ("low", models.DecimalField(decimal_places=12, max_digits=30)),
                        ("close", models.DecimalField(decimal_places=12, max_digits=30)),
                        ("volume", models.DecimalField(decimal_places=12, max_digits=38)),
                        (
                            "symbol",
                            models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="exchanges.symbol"),
                        ),
                    ],
                    options={
                        "ordering": ["open_time"],
                        "managed": True,
                    },
                ),
                migrations.CreateModel(
                    name="OrderBookSnapshot",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey("symbol_id", "captured_at", blank=True, editable=False, primary_key=True, serialize=False),
                        ),
                        ("captured_at", models.DateTimeField()),
                        ("bids", models.JSONField(help_text="[[price, quantity], ...] best first, as strings")),
                        ("asks", models.JSONField(help_text="[[price, quantity], ...] best first, as strings")),
                        ("mid", models.DecimalField(decimal_places=12, max_digits=30, null=True)),
                        (
                            "symbol",
                            models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name="+", to="exchanges.symbol"),
                        ),
                    ],
                    options={
                        "ordering": ["-captured_at"],
                    },
                ),
            ],
        ),
        migrations.RunPython(create_initial_partitions, migrations.RunPython.noop),
    ]
