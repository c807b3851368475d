from datetime import timedelta
from typing import Any

from django.apps import AppConfig

RECONCILE_EVERY = timedelta(minutes=1)


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from apps.core.partitions import PartitionPolicy, register_policy
        from apps.core.schedules import Schedule, register_schedule
        from apps.market.hooks import register_paper_matching, register_user_data_streams
        from apps.orders.services.live_stream import UserDataStreams
        from apps.orders.services.paper import PaperMatcher, funding_settle

        # The market stream feeds paper orders and follows live accounts' user-data streams.
        register_paper_matching(matcher=PaperMatcher, funding_settle=funding_settle)
        register_user_data_streams(UserDataStreams)
        register_policy(PartitionPolicy(table="orders_fill", interval="month", ahead=2, retention=None))
        # Live accounts are reconciled with their venues every minute (beat) ...
        register_schedule(
            Schedule("Reconcile live accounts", "orders.reconcile_live_accounts", every_seconds=int(RECONCILE_EVERY.total_seconds()), queue="default")
        )
        # ... and as soon as a worker starts: after a deploy or a crash, orders a dead worker was
        # sending are settled at once instead of at the next beat.
        worker_ready.connect(reconcile_at_worker_start, dispatch_uid="orders.reconcile_at_worker_start")


def reconcile_at_worker_start(sender: Any = None, **_: Any) -> None:
    """celery's `worker_ready`: queue one reconciliation (several workers starting together are harmless:
    reconciliation takes a per-account lock and is idempotent)."""
    from apps.orders.tasks import reconcile_live_accounts_task

    reconcile_live_accounts_task.apply_async(queue="default")
