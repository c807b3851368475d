"""A backtest's status reaches its owner's open pages, and only theirs."""

from __future__ import annotations

import pytest

from apps.backtesting import services
from apps.backtesting.models import RunStatus
from apps.backtesting.tests.factories import BacktestFactory
from apps.core import broadcast

pytestmark = pytest.mark.django_db


def test_the_owner_with_a_page_open_receives_the_finished_status(trader, monkeypatch) -> None:
    backtest = BacktestFactory(owner=trader, status=RunStatus.DONE)
    sent: list[tuple[object, str]] = []
    monkeypatch.setattr(broadcast, "user_is_listening", lambda user_id: True)
    monkeypatch.setattr(broadcast, "send_html_to_user_now", lambda user_id, html: sent.append((user_id, html)))

    services._push_status(backtest.pk)

    assert [user_id for user_id, _ in sent] == [trader.pk]
    assert f'id="backtest-status-{backtest.pk}"' in sent[0][1]
    assert 'data-status="done"' in sent[0][1]
    assert "hx-swap-oob" in sent[0][1]


def test_nothing_is_rendered_or_sent_when_the_owner_has_no_page_open(trader, monkeypatch) -> None:
    backtest = BacktestFactory(owner=trader, status=RunStatus.DONE)
    sent: list[str] = []
    monkeypatch.setattr(broadcast, "user_is_listening", lambda user_id: False)
    monkeypatch.setattr(broadcast, "send_html_to_user_now", lambda user_id, html: sent.append(html))

    services._push_status(backtest.pk)

    assert sent == []
