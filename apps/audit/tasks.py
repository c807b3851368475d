from __future__ import annotations

import logging

from celery import shared_task

from apps.audit.services import audit_verification_run

logger = logging.getLogger(__name__)


@shared_task(name="audit.verify_chain")
def audit_verify_task() -> dict[str, object]:
    """Daily: re-compute every month's chain; the result shows on /health/ and the Audit page."""
    verification = audit_verification_run()
    if not verification.ok:
        logger.error("audit chain broken", extra={"detail": verification.message})
    return {"ok": verification.ok, "events": verification.events_checked, "message": verification.message}
