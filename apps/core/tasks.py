from __future__ import annotations

import logging

from celery import shared_task

from apps.core.partitions import maintain_all_partitions

logger = logging.getLogger(__name__)


@shared_task(name="core.maintain_partitions", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def maintain_partitions_task() -> dict[str, dict[str, list[str]]]:
    report = maintain_all_partitions()
    logger.info("partitions maintained", extra={"report": report})
    return report


@shared_task(name="core.ping")
def ping_task() -> str:
    return "pong"
