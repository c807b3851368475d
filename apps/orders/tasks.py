"""Live execution: sending, cancelling and reconciling orders with the venue.

The tasks take ids and are idempotent: a redelivered or duplicated message does nothing the
first did not (see `apps.orders.services.live`). Retries use exponential backoff with jitter,
computed by the service from `self.request.retries`.
"""

from __future__ import annotations

from celery import shared_task

from apps.core.rls import acting_for_owner_of
from apps.orders.services import live


@shared_task(name="orders.send_live_order", bind=True, acks_late=True, max_retries=8)
@acting_for_owner_of("orders.Order", "order_id", "account__owner_id")
def send_live_order_task(self, order_id: str) -> str:  # type: ignore[no-untyped-def]
    return live.live_order_send(order_id=order_id, retry=self.retry, attempt=self.request.retries)


@shared_task(name="orders.cancel_live_order", bind=True, acks_late=True, max_retries=8)
@acting_for_owner_of("orders.Order", "order_id", "account__owner_id")
def cancel_live_order_task(self, order_id: str) -> str:  # type: ignore[no-untyped-def]
    return live.live_order_cancel(order_id=order_id, retry=self.retry, attempt=self.request.retries)


@shared_task(name="orders.reconcile_live_accounts", acks_late=True)
def reconcile_live_accounts_task() -> dict[str, int]:
    return live.live_accounts_reconcile()
