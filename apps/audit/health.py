"""The audit trail's line on /health/: the last verification of its hash chains."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.core.health import ComponentStatus

STALE_AFTER = timedelta(days=2)


def check_audit_chain() -> ComponentStatus:
    from apps.audit.verification import audit_verification_latest

    try:
        latest = audit_verification_latest()
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
        return ComponentStatus("audit", False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    if latest is None:
        return ComponentStatus("audit", True, "not verified yet")
    when = f"{latest.started_at:%Y-%m-%d %H:%M} UTC"
    if not latest.ok:
        return ComponentStatus("audit", False, f"{when}: {latest.message}")
    if timezone.now() - latest.started_at > STALE_AFTER:
        return ComponentStatus("audit", False, f"last verified {when}, more than {STALE_AFTER.days} days ago")
    return ComponentStatus("audit", True, f"{when}: {latest.message}")
