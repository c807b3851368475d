"""Live orders kept in sync from each venue's user-data stream; REST reconciliation covers the gaps.

`stream_market` follows the user-data stream of every live account whose API connection is
verified and whose venue has one (the exchange's `ws_user_data` capability):
- each order update is applied at once through the code reconciliation uses
  (`record_venue_order`): fills into the ledger, cancels and expiries with their holds released,
  an audit event for every status change and a live push to the owner's pages. An open order
  we lack (placed in the venue's own app) is adopted, as reconciliation adopts it; a
  liquidation order (the venue closing a position by force) is recorded as a liquidation;
- whenever a stream opens (and after every break), the account is reconciled over REST
  before its updates are applied, so nothing that happened while it was closed is missed;
- a stream that fails is reopened with backoff; meanwhile the every-minute reconciliation
  (beat) keeps the account in sync over REST, the fallback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Q

from apps.core.domain.backoff import backoff_delay
from apps.exchanges.domain.types import VenueOrder
from apps.exchanges.gateways.registry import gateway_for
from apps.orders.models import Order
from apps.orders.services.liquidation import live_liquidation_record
from apps.orders.services.live import FINAL_STATUSES, account_credentials, live_account_reconcile, order_adopt, record_venue_order
from apps.portfolio.enums import AccountMode
from apps.portfolio.models import TradingAccount

logger = logging.getLogger(__name__)

ACCOUNTS_REFRESH_SECONDS = 60.0  # how often the set of followed accounts is looked at again
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


def user_data_accounts(exchange_codes: list[str] | None = None) -> list[tuple[Any, str]]:
    """(account id, exchange code) of every live account with a verified connection on a venue with a user-data stream."""
    accounts = TradingAccount.objects.filter(
        mode=AccountMode.LIVE, api_connection__isnull=False, api_connection__deleted_at__isnull=True, exchange__enabled=True
    ).select_related("exchange", "api_connection")
    if exchange_codes:
        accounts = accounts.filter(exchange__code__in=exchange_codes)
    return [
        (account.pk, account.exchange.code)
        for account in accounts
        if account.api_connection is not None and account.api_connection.is_verified and account.exchange.capabilities.get("ws_user_data")
    ]


def live_order_streamed(*, account_id: Any, venue: VenueOrder) -> str:
    """Apply one order update from the account's stream: "updated", "unchanged", "adopted", "liquidated" or "ignored"."""
    account = TradingAccount.objects.select_related("exchange", "owner", "api_connection").get(pk=account_id)
    match = Q(venue_order_id=venue.venue_order_id)
    if venue.client_order_id:
        match |= Q(client_order_id=venue.client_order_id)
    order_id = Order.objects.filter(account=account).filter(match).values_list("pk", flat=True).first()
    if order_id is None:
        if venue.is_liquidation:  # the venue closed a position by force
            return "liquidated" if live_liquidation_record(account=account, venue=venue) is not None else "unchanged"
        if venue.status in FINAL_STATUSES:
            return "ignored"  # ended before we knew of it: the balance reconciliation brings its effect in
        return "adopted" if order_adopt(account, venue) else "ignored"
    _, changes = record_venue_order(order_id, venue)
    return "updated" if changes else "unchanged"


def _reconcile_account(account_id: Any) -> dict[str, int]:
    account = TradingAccount.objects.select_related("exchange", "owner", "api_connection").get(pk=account_id)
    return live_account_reconcile(account=account)


def _account_credentials(account_id: Any) -> Any:
    return account_credentials(TradingAccount.objects.select_related("api_connection").get(pk=account_id))


@dataclass
class UserDataFollower:
    """One account's stream: open, reconcile over REST, apply every update; on a break, again after a backoff."""

    account_id: Any
    exchange_code: str
    backoff_base: float = BACKOFF_BASE_SECONDS
    opened: int = 0  # times the stream opened and the REST catch-up after it finished
    applied: int = 0  # updates that changed or adopted an order
    reopened: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                await self._follow_once()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reopen later; REST reconciliation runs meanwhile
                attempt += 1
                self.reopened += 1
                delay = backoff_delay(attempt, base=self.backoff_base, cap=BACKOFF_CAP_SECONDS)
                logger.warning("user-data stream of account %s (%s) broke: %s; reopening in %.1f s", self.account_id, self.exchange_code, exc, delay)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass

    async def _follow_once(self) -> None:
        gateway = gateway_for(self.exchange_code, await sync_to_async(_account_credentials)(self.account_id))
        try:
            async for batch in gateway.watch_orders():
                if not batch:  # open: catch up over REST on what happened while it was closed
                    counts = await sync_to_async(_reconcile_account)(self.account_id)
                    logger.info("user-data stream of account %s open; reconciled: %s", self.account_id, counts)
                    self.opened += 1
                    continue
                for venue in batch:
                    outcome = await sync_to_async(live_order_streamed)(account_id=self.account_id, venue=venue)
                    self.applied += outcome in ("updated", "adopted", "liquidated")
            raise ConnectionError("the user-data stream ended")
        finally:
            await gateway.close()


@dataclass
class UserDataStreams:
    """Every followed account's `UserDataFollower`, started and stopped as accounts come and go."""

    exchange_codes: list[str] | None = None  # as `stream_market --exchange`: only these venues' accounts
    refresh_seconds: float = ACCOUNTS_REFRESH_SECONDS
    backoff_base: float = BACKOFF_BASE_SECONDS
    followers: dict[Any, UserDataFollower] = field(default_factory=dict)
    _tasks: dict[Any, asyncio.Task[None]] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.refresh(stop)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.refresh_seconds)
                except TimeoutError:
                    pass
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def refresh(self, stop: asyncio.Event) -> None:
        wanted = dict(await sync_to_async(user_data_accounts)(self.exchange_codes))
        for account_id in list(self._tasks):
            if account_id not in wanted:
                self._tasks.pop(account_id).cancel()
                self.followers.pop(account_id, None)
                logger.info("no longer following the user-data stream of account %s", account_id)
        for account_id, code in wanted.items():
            if account_id not in self._tasks:
                follower = UserDataFollower(account_id, code, backoff_base=self.backoff_base)
                self.followers[account_id] = follower
                self._tasks[account_id] = asyncio.create_task(follower.run(stop))
                logger.info("following the user-data stream of account %s on %s", account_id, code)
