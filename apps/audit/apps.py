from datetime import timedelta

from django.apps import AppConfig

DEFAULT_RETENTION_DAYS = 7 * 365 + 2


def audit_retention() -> timedelta:
    """How long audit events are kept: `AUDIT_RETENTION_DAYS` (7 years by default)."""
    from django.conf import settings

    return timedelta(days=int(getattr(settings, "AUDIT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)))


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from apps.audit.health import check_audit_chain
        from apps.core.health import register_check
        from apps.core.partitions import PartitionPolicy, register_policy
        from apps.core.schedules import Schedule, register_schedule

        register_check("audit", check_audit_chain)
        register_policy(PartitionPolicy(table="audit_auditevent", interval="month", ahead=3, retention=audit_retention()))
        register_schedule(Schedule("Verify the audit trail", "audit.verify_chain", every_seconds=24 * 3600))
        from apps.audit import signals  # noqa: F401  (connects login/logout and task handlers)
