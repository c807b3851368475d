"""Push rendered HTML to a user's browsers, only after the surrounding transaction commits."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

USER_EVENT_TYPE = "user.html"


def user_group_name(user_id: uuid.UUID | str) -> str:
    return f"user.{user_id}"


def send_html_to_user_now(user_id: uuid.UUID | str, html: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(user_group_name(user_id), {"type": USER_EVENT_TYPE, "html": html})


def send_html_to_user_on_commit(user_id: uuid.UUID | str, html: str) -> None:
    transaction.on_commit(lambda: send_html_to_user_now(user_id, html))
