"""Tamper evidence: each month's events form one hash chain that `audit_verify` re-computes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from apps.accounts.tests.factories import UserFactory
from apps.audit.domain.chain import GENESIS_HASH
from apps.audit.models import AuditChainHead, AuditEvent, AuditVerification
from apps.audit.services import audit_record, chain_month
from apps.audit.tests.tampering import append_only_trigger_disabled
from apps.audit.verification import audit_chain_verify

pytestmark = pytest.mark.django_db


def _trail(count: int = 5) -> list[AuditEvent]:
    trader = UserFactory()
    return [audit_record(actor=trader, action="settings.changed", summary=f"change {n}", changes={"n": [n, n + 1]}) for n in range(count)]


def _verify() -> str:
    try:
        call_command("audit_verify", "--no-progress")
    except CommandError as exc:
        return str(exc)
    return "ok"


def test_each_event_carries_the_hash_of_the_one_before_it() -> None:
    events = _trail(3)
    month_start = AuditEvent.objects.filter(created_at__gte=datetime(events[0].created_at.year, events[0].created_at.month, 1, tzinfo=UTC))
    chain = list(month_start.order_by("seq"))

    assert chain[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(chain, chain[1:], strict=False))
    assert [event.seq for event in chain] == list(range(1, len(chain) + 1))
    head = AuditChainHead.objects.get(month=chain_month(events[-1].created_at))
    assert (head.seq, head.hash) == (chain[-1].seq, chain[-1].hash)


def test_an_untouched_trail_verifies_and_the_result_is_kept(capsys) -> None:
    _trail()

    call_command("audit_verify", "--no-progress")

    assert "verified" in capsys.readouterr().out
    latest = AuditVerification.objects.order_by("-started_at").first()
    assert latest is not None and latest.ok and latest.events_checked >= 5


def test_the_application_cannot_update_or_delete_an_event() -> None:
    event = _trail(1)[0]

    for statement in ("UPDATE audit_auditevent SET summary = 'nothing happened' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.id])

    assert AuditEvent.objects.get(id=event.id).summary == "change 0"


def test_editing_an_event_makes_verification_fail_naming_it() -> None:
    events = _trail()
    with append_only_trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET summary = 'nothing happened' WHERE id = %s", [events[2].id])

    message = _verify()

    assert str(events[2].id) in message and "edited" in message


def test_editing_the_changes_of_an_event_makes_verification_fail() -> None:
    events = _trail()
    with append_only_trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("""UPDATE audit_auditevent SET changes = '{"n": [1, 99]}' WHERE id = %s""", [events[1].id])

    assert str(events[1].id) in _verify()


def test_an_event_inserted_around_the_chain_makes_verification_fail_naming_it() -> None:
    _trail(2)
    trader = UserFactory()
    forged = AuditEvent.objects.create(actor=trader, owner=trader, action="settings.changed", summary="slipped in")

    message = _verify()

    assert str(forged.id) in message and "not in the chain" in message


def test_deleting_an_event_makes_verification_fail_at_the_next_one() -> None:
    events = _trail()
    with append_only_trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[2].id])

    message = _verify()

    assert str(events[3].id) in message and "missing" in message


def test_removing_the_last_events_makes_verification_fail() -> None:
    events = _trail()
    with append_only_trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = ANY(%s)", [[events[3].id, events[4].id]])

    message = _verify()

    assert "removed from the end" in message and str(events[2].id) in message
    assert not AuditVerification.objects.order_by("-started_at").first().ok


def test_changing_a_client_address_makes_verification_fail() -> None:
    from apps.core.request_context import current_ip_address

    token = current_ip_address.set("203.0.113.9")
    try:
        event = _trail(1)[0]
    finally:
        current_ip_address.reset(token)
    with append_only_trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET ip_address = '198.51.100.1' WHERE id = %s", [event.id])

    assert "client address" in _verify()


def test_a_month_argument_that_is_not_a_month_is_refused_in_one_line() -> None:
    with pytest.raises(CommandError, match="--month must be YYYY-MM"):
        call_command("audit_verify", "--month", "2026-13", "--no-progress")


def test_one_month_can_be_verified_on_its_own(capsys) -> None:
    event = _trail(2)[-1]

    call_command("audit_verify", "--month", f"{event.created_at:%Y-%m}", "--no-progress")

    assert "1 month(s)" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_leave_one_valid_chain() -> None:
    trader = UserFactory()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(25):
                with transaction.atomic():
                    audit_record(actor=trader, action="bot.decision", summary=f"writer {writer} event {n}")
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    results = audit_chain_verify()
    assert all(result.ok for result in results), [result.message for result in results if not result.ok]
    assert AuditEvent.objects.filter(action="bot.decision").count() == 200


@pytest.mark.django_db(transaction=True)
def test_events_written_while_verifying_are_not_mistaken_for_a_broken_chain() -> None:
    from apps.audit import verification

    trader = UserFactory()
    for n in range(3):
        audit_record(actor=trader, action="bot.decision", summary=f"before {n}")
    original = verification.verify_month

    def verify_while_someone_writes(month, head, progress=None):  # type: ignore[no-untyped-def]
        writer = threading.Thread(target=lambda: (audit_record(actor=trader, action="bot.decision", summary="meanwhile"), connections.close_all()))
        writer.start()
        writer.join()
        return original(month, head, progress)

    verification.verify_month = verify_while_someone_writes
    try:
        results = audit_chain_verify()
    finally:
        verification.verify_month = original

    assert all(result.ok for result in results), [result.message for result in results]
    assert AuditEvent.objects.filter(summary="meanwhile").exists()
