from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """What an operator runs: backups and their restore."""

    name = "apps.operations"
    label = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.schedules import Schedule, register_schedule

        if settings.BACKUP_EVERY_HOURS > 0:
            register_schedule(Schedule("Back up the database", "operations.scheduled_backup", every_seconds=settings.BACKUP_EVERY_HOURS * 3600))
