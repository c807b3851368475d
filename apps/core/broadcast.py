"""Push rendered HTML to a user's browsers, only after the surrounding transaction commits."""

from __future__ import annotations

import functools
import inspect
import time
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.core.metrics import websocket_pushes_total
from apps.core.redis_clients import quick_redis_client

USER_EVENT_TYPE = "user.html"
TIME_ZONE_CACHE_SECONDS = 30.0

P = ParamSpec("P")
R = TypeVar("R")

_time_zones: dict[str, tuple[float, zoneinfo.ZoneInfo | None]] = {}


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
    websocket_pushes_total.labels(kind="events").inc()


def send_html_to_user_on_commit(user_id: uuid.UUID | str, html: str) -> None:
    transaction.on_commit(lambda: send_html_to_user_now(user_id, html))


def user_time_zone(user_id: uuid.UUID | str) -> zoneinfo.ZoneInfo | None:
    """The user's chosen time zone (None: UTC), cached briefly: pushes render many partials per second."""
    key = str(user_id)
    cached = _time_zones.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < TIME_ZONE_CACHE_SECONDS:
        return cached[1]
    name = get_user_model().objects.filter(pk=user_id).values_list("time_zone", flat=True).first()
    try:
        zone = zoneinfo.ZoneInfo(name) if name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = None
    _time_zones[key] = (now, zone)
    return zone


def rendered_in_time_zone_of(user_argument: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Render what the decorated push function renders in the time zone of the user passed as
    `user_argument` (a user id), as the pages do for a request (UserTimezoneMiddleware)."""

    def decorate(push: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(push)

        @functools.wraps(push)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            user_id: Any = signature.bind(*args, **kwargs).arguments[user_argument]
            with timezone.override(user_time_zone(user_id)):
                return push(*args, **kwargs)

        return wrapper

    return decorate


def push_partial_to_user(user_id: uuid.UUID | str, template_name: str, context: dict[str, Any]) -> None:
    """Render one template partial in the user's time zone and send it to the user's open pages (none open: nothing)."""
    from django.template.loader import render_to_string

    if not user_is_listening(user_id):
        return
    with timezone.override(user_time_zone(user_id)):
        html = render_to_string(template_name, context)
    send_html_to_user_now(user_id, html)
