from __future__ import annotations

from celery import shared_task

from apps.exchanges.selectors import exchange_get
from apps.exchanges.services import symbols_sync


@shared_task(name="exchanges.symbols_sync", autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=600, retry_jitter=True, max_retries=5)
def symbols_sync_task(exchange_code: str) -> dict[str, int]:
    return symbols_sync(exchange=exchange_get(code=exchange_code))
