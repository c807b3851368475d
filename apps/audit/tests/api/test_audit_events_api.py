"""GET /api/v1/audit-events/ and /export/: the acting user's rows (staff: everyone's), filters, cursor pages, streamed exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.services import audit_record
from apps.audit.verification import audit_chain_verify

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/audit-events/"
EXPORT = "/api/v1/audit-events/export/"


@pytest.fixture
def alice():
    user = UserFactory(email="alice@example.com")
    audit_record(actor=user, action="api_key.created", summary="alice created key bot-1", target=user)
    audit_record(actor=user, action="order.submitted", summary="alice bought BTC", changes={"price": ["", "64000.5"]})
    return user


@pytest.fixture
def bob():
    user = UserFactory(email="bob@example.com")
    audit_record(actor=user, action="api_key.created", summary="bob created key secret-bot")
    return user


def _summaries(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["summary"] for row in response.json()["results"] if row["action"] != "auth.login"]


def test_a_trader_gets_only_their_own_events_newest_first(client, alice, bob) -> None:
    client.force_login(alice)

    assert _summaries(client.get(EVENTS)) == ["alice bought BTC", "alice created key bot-1"]


def test_staff_get_everyones_events_when_they_ask(client, alice, bob) -> None:
    client.force_login(UserFactory(is_staff=True))

    summaries = _summaries(client.get(EVENTS, {"scope": "all"}))

    assert "bob created key secret-bot" in summaries and "alice bought BTC" in summaries
    assert _summaries(client.get(EVENTS, {"owner": str(bob.pk)})) == ["bob created key secret-bot"]


def test_filters_by_group_target_text_and_actor(client, alice) -> None:
    client.force_login(alice)

    assert _summaries(client.get(EVENTS, {"group": "keys"})) == ["alice created key bot-1"]
    assert _summaries(client.get(EVENTS, {"target_type": "accounts.user", "target_id": str(alice.pk)})) == ["alice created key bot-1"]
    assert _summaries(client.get(EVENTS, {"q": "BOUGHT"})) == ["alice bought BTC"]
    assert len(_summaries(client.get(EVENTS, {"actor": "alice@"}))) == 2
    assert _summaries(client.get(EVENTS, {"actor": "bob@"})) == []
    assert _summaries(client.get(EVENTS, {"actor_kind": "bot"})) == []


def test_a_date_range_keeps_the_events_inside_it(client, alice) -> None:
    client.force_login(alice)
    now = datetime.now(UTC)

    assert len(_summaries(client.get(EVENTS, {"since": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}))) == 2
    assert _summaries(client.get(EVENTS, {"until": (now - timedelta(hours=1)).isoformat()})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group": "weather"}, "group"),
        ({"actor_kind": "robot"}, "actor_kind"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-04T10:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
        ({"scope": "some"}, "scope"),
        ({"owner": "not-a-uuid"}, "owner"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_parameter(client, alice, params, field) -> None:
    client.force_login(alice)

    for url in (EVENTS, EXPORT):
        response = client.get(url, {**params, "format": "csv"})
        assert response.status_code == 400, response.content
        assert field in response.json()["extra"]["fields"]


def test_a_trader_cannot_list_or_export_another_users_or_everyones_events(client, alice, bob) -> None:
    client.force_login(alice)

    for params in ({"owner": str(bob.pk)}, {"scope": "all"}):
        for url in (EVENTS, EXPORT):
            response = client.get(url, {**params, "format": "jsonl"})
            assert response.status_code == 403, response.content
            assert response.json()["code"] == "permission_denied"


def test_pages_follow_a_cursor(client, alice) -> None:
    for number in range(7):
        audit_record(actor=alice, action="bot.decision", summary=f"decision {number}")
    client.force_login(alice)

    first = client.get(EVENTS, {"group": "bots", "page_size": 5}).json()
    second = client.get(first["next"]).json()

    assert [row["summary"] for row in first["results"]] == [f"decision {n}" for n in range(6, 1, -1)]
    assert [row["summary"] for row in second["results"]] == ["decision 1", "decision 0"]
    assert second["next"] is None


def test_the_jsonl_export_streams_every_event_with_a_manifest_matching_the_chain(client, alice, bob) -> None:
    client.force_login(alice)

    response = client.get(EXPORT, {"format": "jsonl"})

    assert response.status_code == 200 and response.streaming
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    events, manifest = lines[:-1], lines[-1]["manifest"]
    assert [event["summary"] for event in events if event["action"] != "auth.login"] == ["alice created key bot-1", "alice bought BTC"]
    assert events[1]["changes"] == {"price": ["", "64000.5"]}
    assert manifest["count"] == len(events) == 3 and manifest["first_hash"] == events[0]["hash"] and manifest["last_hash"] == events[-1]["hash"]
    assert all(result.ok for result in audit_chain_verify())


def test_the_csv_export_has_a_header_rows_and_the_manifest_last(client, alice) -> None:
    client.force_login(alice)

    response = client.get(EXPORT, {"format": "csv", "group": "orders"})

    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    body, manifest_line = text.rstrip("\n").rsplit("\n", 1)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["summary"] for row in rows] == ["alice bought BTC"]
    assert json.loads(rows[0]["changes"]) == {"price": ["", "64000.5"]}
    manifest = json.loads(manifest_line.removeprefix("# "))["manifest"]
    assert manifest["filter"] == {"group": "orders"} and manifest["count"] == 1 and manifest["last_hash"] == rows[0]["hash"]


def test_an_export_in_an_unknown_format_is_a_400_naming_format(client, alice) -> None:
    client.force_login(alice)

    response = client.get(EXPORT, {"format": "xlsx"})

    assert response.status_code == 400 and "format" in response.json()["extra"]["fields"]


def test_an_export_of_more_rows_than_one_batch_keeps_chain_order(client, alice, monkeypatch) -> None:
    from apps.audit import export

    monkeypatch.setattr(export, "BATCH_ROWS", 3)
    for number in range(8):
        audit_record(actor=alice, action="bot.decision", summary=f"decision {number}")
    client.force_login(alice)

    lines = b"".join(client.get(EXPORT, {"format": "jsonl", "group": "bots"}).streaming_content).decode().splitlines()

    assert [json.loads(line)["summary"] for line in lines[:-1]] == [f"decision {n}" for n in range(8)]


def test_the_schema_documents_the_error_responses(client) -> None:
    schema = client.get("/api/schema/", {"format": "json"}).json()

    for path in (EVENTS, EXPORT):
        responses = schema["paths"][path]["get"]["responses"]
        assert {"400", "401", "403"} <= set(responses)
