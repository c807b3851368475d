"""The Audit page: a user sees only their own trail; staff may ask for everyone's."""

from __future__ import annotations

import pytest

from apps.accounts.tests.factories import UserFactory
from apps.audit.selectors import audit_event_list
from apps.audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    user = UserFactory(email="alice@example.com")
    audit_record(actor=user, action="api_key.created", summary="alice created key bot-1")
    audit_record(actor=user, action="order.submitted", summary="alice bought BTC")
    return user


@pytest.fixture
def bob():
    user = UserFactory(email="bob@example.com")
    audit_record(actor=user, action="api_key.created", summary="bob created key secret-bot")
    return user


def _summaries(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_a_trader_sees_only_their_own_events(client, alice, bob) -> None:
    client.force_login(alice)

    page = _summaries(client.get("/audit/"))

    assert "alice created key bot-1" in page and "alice bought BTC" in page
    assert "bob created key secret-bot" not in page


def test_asking_for_everyones_events_without_being_staff_still_shows_only_ones_own(client, alice, bob) -> None:
    client.force_login(alice)

    page = _summaries(client.get("/audit/?scope=all"))

    assert "bob created key secret-bot" not in page
    assert set(audit_event_list(actor=alice, include_all_users=True).values_list("owner_id", flat=True)) == {alice.pk}


def test_staff_see_everyones_events_only_when_they_ask(client, alice, bob) -> None:
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    assert "bob created key secret-bot" not in _summaries(client.get("/audit/"))
    everyone = _summaries(client.get("/audit/?scope=all"))
    assert "bob created key secret-bot" in everyone and "alice bought BTC" in everyone
    assert "bob@example.com" in everyone, "the staff view names who acted"


def test_the_action_filter_keeps_the_events_whose_action_starts_with_it(client, alice) -> None:
    client.force_login(alice)

    page = _summaries(client.get("/audit/?action=api_key"))

    assert "alice created key bot-1" in page and "alice bought BTC" not in page


def test_an_htmx_filter_returns_only_the_table(client, alice) -> None:
    client.force_login(alice)

    fragment = _summaries(client.get("/audit/?action=order", headers={"HX-Request": "true"}))

    assert fragment.lstrip().startswith('<div id="event-table"') and "<html" not in fragment
    assert "alice bought BTC" in fragment


def test_the_trail_is_paged_fifty_events_at_a_time(client, alice) -> None:
    for number in range(60):
        audit_record(actor=alice, action="bot.decision", summary=f"decision {number:02d}")
    client.force_login(alice)

    first = _summaries(client.get("/audit/?action=bot."))
    second = _summaries(client.get("/audit/?action=bot.&page=2"))

    assert "decision 59" in first and "decision 00" not in first and "Page 1 of 2" in first
    assert "decision 00" in second and "decision 59" not in second


def test_signed_out_visitors_are_sent_to_sign_in(client, alice) -> None:
    response = client.get("/audit/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_filters_by_group_text_and_target(client, alice) -> None:
    audit_record(actor=alice, action="bot.created", summary="alice made a grid bot", target=alice)
    client.force_login(alice)

    assert "alice created key bot-1" in _summaries(client.get("/audit/?group=keys"))
    assert "alice bought BTC" not in _summaries(client.get("/audit/?group=keys"))
    assert "alice made a grid bot" in _summaries(client.get("/audit/?q=GRID"))
    page = _summaries(client.get(f"/audit/?target_type=accounts.user&target_id={alice.pk}"))
    assert "alice made a grid bot" in page and "alice bought BTC" not in page


def test_values_are_formatted_for_people_with_the_raw_json_one_click_away(client, alice) -> None:
    audit_record(
        actor=alice,
        action="order.filled",
        summary="filled",
        changes={"price": ["", "64000.119000000000000000"], "filled_at": [None, "2026-12-04T10:00:00+00:00"]},
    )
    alice.time_zone = "Europe/Paris"
    alice.save(update_fields=["time_zone"])
    client.force_login(alice)

    page = _summaries(client.get("/audit/?action=order.filled"))

    assert "64,000.119" in page and "0.119000000000000000" not in page.split("Raw JSON")[0]
    assert "2026-12-04 11:00:00" in page, "times in the reader's zone"
    assert "<details>" in page and "64000.119000000000000000" in page


def test_an_unknown_group_or_an_inverted_range_is_a_form_error_not_a_500(client, alice) -> None:
    client.force_login(alice)

    unknown = client.get("/audit/?group=weather")
    inverted = client.get("/audit/?since=2026-12-04T10:00&until=2026-12-01T00:00")

    assert unknown.status_code == 400 and "Unknown group" in unknown.content.decode()
    assert inverted.status_code == 400 and "inverted" in inverted.content.decode()


def test_staff_see_the_last_chain_verification(client, alice) -> None:
    from apps.audit.services import audit_verification_run

    audit_verification_run()
    client.force_login(UserFactory(is_staff=True))

    assert 'data-testid="audit-verification"' in _summaries(client.get("/audit/"))
    client.force_login(alice)
    assert 'data-testid="audit-verification"' not in _summaries(client.get("/audit/"))


def test_the_page_links_to_the_export_of_the_current_filter(client, alice) -> None:
    client.force_login(alice)

    page = _summaries(client.get("/audit/?group=orders&q=BTC"))

    assert "/api/v1/audit-events/export/?format=csv&amp;group=orders&amp;q=BTC" in page
    assert "/api/v1/audit-events/export/?format=jsonl&amp;group=orders&amp;q=BTC" in page
