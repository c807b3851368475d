from datetime import timedelta

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from apps.core.partitions import PartitionPolicy, register_policy

        register_policy(PartitionPolicy(table="audit_auditevent", interval="month", ahead=3, retention=timedelta(days=730)))
        from apps.audit import signals  # noqa: F401  (connects login/logout handlers)
