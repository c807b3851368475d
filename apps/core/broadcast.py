"""Push rendered HTML to a user's browsers, only after the surrounding transaction commits."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from apps.core.redis_clients import quick_redis_client

USER_EVENT_TYPE = "user.html"


def user_group_name(user_id: uuid.UUID | str) -> str:
    return f"user.{user_id}"


def user_is_listening(user_id: uuid.UUID | str) -> bool:
    """Whether any socket of the user is connected (anywhere): no listener, nothing to render.

    With the pub/sub channel layer a group is a Redis channel, so this is one NUMSUB.
    Any doubt (another layer, Redis trouble) answers yes.
    """
    from django.conf import settings

    layer_settings = settings.CHANNEL_LAYERS["default"]
    if layer_settings["BACKEND"] != "channels_redis.pubsub.RedisPubSubChannelLayer":
        return True
    try:
        client = quick_redis_client(settings.REDIS_CHANNELS_URL)
        prefix = layer_settings.get("CONFIG", {}).get("prefix", "asgi")
        channel = f"{prefix}__group__{user_group_name(user_id)}"  # channels-redis's name for a group's Redis channel
        return bool(client.pubsub_numsub(channel)[0][1])
    except Exception:  # noqa: BLE001
        return True


def send_html_to_user_now(user_id: uuid.UUID | str, html: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(user_group_name(user_id), {"type": USER_EVENT_TYPE, "html": html})


def send_html_to_user_on_commit(user_id: uuid.UUID | str, html: str) -> None:
    transaction.on_commit(lambda: send_html_to_user_now(user_id, html))
