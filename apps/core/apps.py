from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def grant_row_roles(using: str = "default", **_: Any) -> None:
    """After migrating: the application and system roles may read and write every table (rows
    filtered by row-level security), run the partition functions, and nothing more."""
    from django.db import connections

    from apps.core.db_roles import GRANT_STATEMENTS

    with connections[using].cursor() as cursor:
        cursor.execute(GRANT_STATEMENTS)


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from apps.core import rls
        from apps.core.schedules import sync_periodic_tasks
        from apps.core.task_metrics import connect_task_metrics

        post_migrate.connect(sync_periodic_tasks, sender=self, dispatch_uid="core.sync_periodic_tasks")
        post_migrate.connect(grant_row_roles, sender=self, dispatch_uid="core.grant_row_roles")
        connection_created.connect(rls.install, dispatch_uid="core.row_security")
        connect_task_metrics()
