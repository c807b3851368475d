"""A bot's pushed log lines show times in the owner's time zone, as its page does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.bots import runner
from apps.bots.models import BotLogEntry
from apps.bots.tests.factories import BotFactory
from apps.core import broadcast

pytestmark = pytest.mark.django_db


def test_a_pushed_log_line_is_in_the_owners_time_zone(trader, account, monkeypatch) -> None:
    trader.time_zone = "America/New_York"
    trader.save(update_fields=["time_zone"])
    broadcast._time_zones.clear()
    bot = BotFactory(owner=trader, account=account)
    entry = BotLogEntry.objects.create(bot=bot, message="entered long", created_at=datetime(2026, 7, 1, 2, 15, 9, tzinfo=UTC))
    sent: list[str] = []
    monkeypatch.setattr(broadcast, "user_is_listening", lambda owner_id: True)
    monkeypatch.setattr(broadcast, "send_html_to_user_now", lambda owner_id, html: sent.append(html))

    runner._push(bot.pk, trader.pk, [entry.pk])

    assert "06-30 22:15:09" in sent[0], "02:15 UTC on 1 July is 22:15 the evening before in New York (EDT)"
    assert "07-01 02:15:09" not in sent[0]
