from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "apps.bots"
    label = "bots"
    verbose_name = "Bots"

    def ready(self) -> None:
        from apps.core.partitions import PartitionPolicy, register_policy
        from apps.core.schedules import Schedule, register_schedule

        register_policy(PartitionPolicy(table="bots_botperformancesnapshot", interval="month", ahead=2, retention=None))
        register_schedule(Schedule("Run bots on closed candles (fallback)", "bots.run_due_bots", every_seconds=60, queue="bots"))
