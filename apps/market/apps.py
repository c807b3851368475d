from datetime import timedelta

from django.apps import AppConfig

# Interval of the time partitions per candle timeframe: small ones for the short-lived 1m data
# so retention drops it a day at a time, large ones for timeframes kept forever.
CANDLE_PARTITION_INTERVAL = {"1m": "day", "5m": "month", "15m": "month", "1h": "year", "4h": "year", "1d": "year"}


class MarketConfig(AppConfig):
    name = "apps.market"
    label = "market"
    verbose_name = "Market data"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.health import register_stream_check
        from apps.core.partitions import PartitionPolicy, register_policy
        from apps.core.schedules import Schedule, register_schedule
        from apps.market.health import check_stream

        register_stream_check(check_stream)

        for timeframe, interval in CANDLE_PARTITION_INTERVAL.items():
            days = settings.CANDLE_RETENTION_DAYS.get(timeframe)
            register_policy(
                PartitionPolicy(
                    table=f"market_candle_{timeframe}",
                    interval=interval,
                    ahead=2,
                    retention=timedelta(days=days) if days else None,
                )
            )
        register_policy(
            PartitionPolicy(
                table="market_orderbooksnapshot",
                interval="day",
                ahead=2,
                retention=timedelta(days=settings.ORDER_BOOK_SNAPSHOT_RETENTION_DAYS),
            )
        )
        register_schedule(Schedule("Backfill watched symbols", "market.backfill_watched_symbols", every_seconds=300, queue="market"))
