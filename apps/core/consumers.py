"""The WebSocket every page keeps open: the user's own event stream."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from apps.core.broadcast import user_group_name
from apps.core.metrics import websocket_connections

UNAUTHENTICATED_CLOSE_CODE = 4401


class UserEventsConsumer(AsyncWebsocketConsumer):
    group_names: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED_CLOSE_CODE)
            return
        self.group_names = [user_group_name(user.pk)]
        for group in self.group_names:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        websocket_connections.labels(kind="events").inc()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group_names", None):
            websocket_connections.labels(kind="events").dec()
        for group in getattr(self, "group_names", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients only listen; anything they send is ignored."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Pushes touch no database: skip Channels' per-message connection clean-up hop.
        if message.get("type") == "user.html":
            await self.send(text_data=message["html"])
            return
        await super().dispatch(message)

    async def user_html(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])
