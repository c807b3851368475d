from datetime import timedelta

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from apps.core.partitions import PartitionPolicy, register_policy

        register_policy(PartitionPolicy(table="orders_fill", interval="month", ahead=2, retention=None))
        _ = timedelta
