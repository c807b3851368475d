from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from apps.core.schedules import sync_periodic_tasks

        post_migrate.connect(sync_periodic_tasks, sender=self, dispatch_uid="core.sync_periodic_tasks")
