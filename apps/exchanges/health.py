"""The venues' statuses reported on /health/ (reported, not judged: the platform is healthy while a venue is down)."""

from __future__ import annotations

from apps.exchanges.models import Exchange


def venue_statuses() -> dict[str, dict[str, str]]:
    """Each enabled venue's last known status (operational, degraded, down) with its detail."""
    return {
        code: {"status": status, "detail": detail}
        for code, status, detail in Exchange.objects.filter(enabled=True).values_list("code", "status", "status_detail")
    }
