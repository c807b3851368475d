from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "apps.bots"
    label = "bots"
    verbose_name = "Bots"

    def ready(self) -> None:
        from apps.bots.tasks import TickDispatcher, enqueue_for_closed_candles
        from apps.core.partitions import PartitionPolicy, register_policy
        from apps.core.schedules import Schedule, register_schedule
        from apps.market.hooks import register_closed_candles_listener, register_tick_dispatcher

        # The market stream hands trades to tick strategies and closed candles to bar strategies.
        register_tick_dispatcher(TickDispatcher)
        register_closed_candles_listener(enqueue_for_closed_candles)

        register_policy(PartitionPolicy(table="bots_botperformancesnapshot", interval="month", ahead=2, retention=None))
        register_schedule(Schedule("Run bots on closed candles (fallback)", "bots.run_due_bots", every_seconds=60, queue="bots"))
