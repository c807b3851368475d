"""The row helpers write and read exactly what the ORM writes and reads."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connections, models, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.rows import row_save, row_update, rows_add, rows_insert, rows_select
from apps.orders.models import Fill
from apps.orders.tests.factories import BalanceFactory, FillFactory, PositionFactory
from apps.portfolio.models import Balance, Position
from tests.testapp.models import Note


def _values(instance: models.Model) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields if field.column}


@pytest.mark.django_db
def test_a_selected_row_equals_the_orms_reading_of_it() -> None:
    position = PositionFactory(quantity=Decimal("-0.123456789012345678"), stop_loss=Decimal("70000.5"), take_profit=None)

    (selected,) = rows_select(Position, where={"account_id": position.account_id, "symbol_id": position.symbol_id})

    assert _values(selected) == _values(Position.objects.get(pk=position.pk))
    assert selected.quantity == Decimal("-0.123456789012345678")
    assert not selected._state.adding


@pytest.mark.django_db
def test_json_and_ip_columns_come_back_as_python_values() -> None:
    event = AuditEvent.objects.create(action="x.y", summary="s", changes={"price": ["1", "2"], "nested": {"a": [1]}}, ip_address="10.0.0.7")

    (selected,) = rows_select(AuditEvent, where={"id": event.id})

    assert selected.changes == {"price": ["1", "2"], "nested": {"a": [1]}}
    assert selected.ip_address == "10.0.0.7"
    assert _values(selected) == _values(AuditEvent.objects.get(id=event.id))


@pytest.mark.django_db
def test_inserted_rows_read_back_through_the_orm_unchanged() -> None:
    template = FillFactory()
    fills = [
        Fill(
            order=template.order,
            account_id=template.account_id,
            symbol_id=template.symbol_id,
            side="SELL",
            price=Decimal("61000.25"),
            quantity=Decimal(f"0.00{n + 1}"),
            fee=Decimal("0.000000000000000001"),
            fee_currency="USDT",
            liquidity="MAKER",
        )
        for n in range(3)
    ]

    rows_insert(fills)

    for fill in fills:
        assert not fill._state.adding
        assert _values(Fill.objects.get(id=fill.id)) == _values(fill)


@pytest.mark.django_db
def test_an_update_writes_only_the_named_fields_and_the_update_time() -> None:
    balance = BalanceFactory(free=Decimal("100"), locked=Decimal("5"))
    before = Balance.objects.get(pk=balance.pk).updated_at
    balance.free = Decimal("99.5")
    balance.asset = "NOT-WRITTEN"

    assert row_update(balance, ["free"]) == 1

    stored = Balance.objects.get(pk=balance.pk)
    assert (stored.free, stored.locked, stored.asset) == (Decimal("99.5"), Decimal("5"), "USDT")
    assert stored.updated_at > before


@pytest.mark.django_db
def test_save_inserts_a_new_row_then_rewrites_it_and_refuses_a_vanished_one() -> None:
    existing = PositionFactory()
    position = Position(account=existing.account, symbol=existing.symbol, quantity=Decimal("1"), entry_price=Decimal("10"))
    Position.objects.filter(pk=existing.pk).delete()

    row_save(position)
    position.quantity = Decimal("-2")
    position.opened_at = timezone.now() - timedelta(hours=1)
    row_save(position)

    assert _values(Position.objects.get(pk=position.pk)) == _values(position)
    Position.objects.filter(pk=position.pk).delete()
    with pytest.raises(Position.DoesNotExist):
        row_save(position)


@pytest.mark.django_db
def test_adding_to_a_column_is_exact_and_counts_the_rows() -> None:
    balance = BalanceFactory(free=Decimal("0.1"))

    assert rows_add(Balance, "free", Decimal("0.200000000000000001"), where={"account_id": balance.account_id, "asset": "USDT"}) == 1
    assert rows_add(Balance, "free", Decimal("1"), where={"account_id": balance.account_id, "asset": "NONE"}) == 0

    assert Balance.objects.get(pk=balance.pk).free == Decimal("0.300000000000000001")


@pytest.mark.django_db(transaction=True)
def test_a_locked_row_cannot_be_locked_by_another_transaction() -> None:
    balance = BalanceFactory()
    outcome: list[str] = []

    def try_lock_elsewhere() -> None:
        try:
            with transaction.atomic():
                Balance.objects.select_for_update(nowait=True).get(pk=balance.pk)
            outcome.append("locked")
        except DatabaseError:
            outcome.append("refused")
        finally:
            connections.close_all()

    with transaction.atomic():
        rows_select(Balance, where={"id": balance.pk}, lock=True)
        other = threading.Thread(target=try_lock_elsewhere)
        other.start()
        other.join()

    assert outcome == ["refused"]


@pytest.mark.django_db
def test_soft_deleted_models_are_refused() -> None:
    with pytest.raises(TypeError, match="soft-deleted"):
        rows_select(Note, where={"text": "x"})
