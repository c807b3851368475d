"""Events are chained when their transaction commits: the chain's head is the last lock a writer
takes, so writing an event never makes a transaction wait for, or deadlock with, another writer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction

from apps.accounts.tests.factories import UserFactory
from apps.audit.models import AuditChainHead, AuditEvent
from apps.audit.services import audit_record, chain_month
from apps.audit.tests.chaining import stored
from apps.audit.verification import audit_chain_verify

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 15  # seconds: far longer than PostgreSQL's deadlock_timeout (1 s)


def _in_thread(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _lock(user_id: object) -> None:
    get_user_model().objects.select_for_update().get(pk=user_id)


def test_an_event_is_chained_when_its_transaction_commits() -> None:
    trader = UserFactory()

    with transaction.atomic():
        event = audit_record(actor=trader, action="settings.changed", summary="pending")
        pending = stored(event)

    assert (pending.seq, pending.prev_hash, pending.hash) == (None, None, None)
    chained = stored(event)
    head = AuditChainHead.objects.get(month=chain_month(event.created_at))
    assert chained.seq == head.seq and chained.hash == head.hash and chained.prev_hash
    assert all(result.ok for result in audit_chain_verify())


def test_an_open_transaction_that_wrote_an_event_does_not_hold_up_other_writers() -> None:
    trader = UserFactory()
    errors: list[BaseException] = []
    first_wrote, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with transaction.atomic():
            audit_record(actor=trader, action="settings.changed", summary="first, committed last")
            first_wrote.set()
            assert second_done.wait(WAIT), "the second writer waited for the first one's transaction"

    def second() -> None:
        assert first_wrote.wait(WAIT)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '5s'")
            audit_record(actor=trader, action="settings.changed", summary="second, committed first")
        second_done.set()

    threads = [_in_thread(first, errors), _in_thread(second, errors)]
    for thread in threads:
        thread.join()

    assert errors == []
    chain = list(AuditEvent.objects.filter(owner=trader).order_by("seq").values_list("summary", flat=True))
    assert chain == ["second, committed first", "first, committed last"], "the chain is in commit order"
    assert all(result.ok for result in audit_chain_verify())


def test_two_writers_that_each_lock_a_row_the_other_holds_do_not_deadlock() -> None:
    """T1 writes an event, then locks B; T2 has locked B, then writes an event. Chaining at the
    event's write made T2 wait for T1's head lock while T1 waited for B: a deadlock."""
    trader, row_b = UserFactory(), UserFactory()
    errors: list[BaseException] = []
    t1_wrote, t2_locked_b = threading.Event(), threading.Event()

    def t1() -> None:
        with transaction.atomic():
            audit_record(actor=trader, action="bot.decision", summary="T1 event")
            t1_wrote.set()
            assert t2_locked_b.wait(WAIT)
            _lock(row_b.pk)  # waits until T2 commits

    def t2() -> None:
        assert t1_wrote.wait(WAIT)
        with transaction.atomic():
            _lock(row_b.pk)
            t2_locked_b.set()
            time.sleep(0.5)  # T1 is now waiting for B
            audit_record(actor=trader, action="bot.decision", summary="T2 event")

    threads = [_in_thread(t1, errors), _in_thread(t2, errors)]
    for thread in threads:
        thread.join(WAIT * 2)

    assert errors == [], [str(error) for error in errors]
    events = AuditEvent.objects.filter(owner=trader, action="bot.decision")
    assert sorted(events.values_list("summary", flat=True)) == ["T1 event", "T2 event"]
    assert all(event.hash for event in events)
    assert all(result.ok for result in audit_chain_verify())
