"""Market WebSockets: one per page, joined to the exchange's or the symbol's group.

The database is read once, in connect (to check the exchange and symbol); each push is
forwarded as it comes.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.core.consumers import UNAUTHENTICATED_CLOSE_CODE
from apps.core.metrics import websocket_connections
from apps.exchanges.models import Exchange, Symbol
from apps.market.groups import exchange_group, symbol_group

NOT_FOUND_CLOSE_CODE = 4404


@database_sync_to_async
def _group_for(exchange_code: str, slug: str | None) -> str | None:
    exchange = Exchange.objects.filter(code=exchange_code.upper(), enabled=True).first()
    if exchange is None:
        return None
    if slug is None:
        return exchange_group(exchange.code)
    symbol = Symbol.objects.filter(exchange=exchange, slug__iexact=slug).only("slug").first()
    if symbol is None:
        return None
    return symbol_group(exchange.code, symbol.slug)


class MarketConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED_CLOSE_CODE)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        self.group = await _group_for(kwargs["exchange_code"], kwargs.get("slug"))
        if self.group is None:
            await self.close(code=NOT_FOUND_CLOSE_CODE)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        websocket_connections.labels(kind="market").inc()

    async def disconnect(self, code: int) -> None:
        if self.group:
            websocket_connections.labels(kind="market").dec()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Market sockets only listen."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections (a hop to a thread) before every
        # handler; pushes touch no database, and at 20 pushes/s to hundreds of sockets
        # that hop is most of the cost.
        if message.get("type") == "market.update":
            await self.send(text_data=message["payload"])
            return
        await super().dispatch(message)

    async def market_update(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["payload"])
