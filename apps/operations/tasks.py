from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from apps.operations.backups import backup_create, backups_prune

logger = logging.getLogger(__name__)


@shared_task(name="operations.scheduled_backup", autoretry_for=(Exception,), retry_backoff=60, max_retries=3)
def scheduled_backup_task() -> dict[str, object]:
    """Take a backup and keep the newest BACKUP_KEEP."""
    backup = backup_create()
    removed = backups_prune(keep=settings.BACKUP_KEEP)
    logger.info("backup written", extra={"file": backup.dump.name, "rows": backup.manifest.rows, "removed": [dump.name for dump in removed]})
    return {"file": str(backup.dump), "tables": backup.manifest.tables, "rows": backup.manifest.rows, "removed": len(removed)}
