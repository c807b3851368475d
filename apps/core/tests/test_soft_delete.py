import pytest

from tests.testapp.models import Note

pytestmark = pytest.mark.django_db


def test_soft_deleted_rows_are_hidden_from_the_default_manager_but_kept() -> None:
    kept = Note.objects.create(text="kept")
    gone = Note.objects.create(text="gone")

    gone.soft_delete()

    assert list(Note.objects.values_list("text", flat=True)) == ["kept"]
    assert Note.all_objects.filter(pk=gone.pk).exists()
    assert Note.all_objects.get(pk=gone.pk).is_deleted
    assert not Note.objects.get(pk=kept.pk).is_deleted


def test_restore_brings_a_row_back() -> None:
    note = Note.objects.create(text="back")
    note.soft_delete()
    note.restore()

    assert Note.objects.filter(pk=note.pk).exists()


def test_queryset_delete_is_soft_and_hard_delete_removes() -> None:
    Note.objects.create(text="a")
    Note.objects.create(text="b")

    Note.objects.all().delete()
    assert Note.objects.count() == 0
    assert Note.all_objects.count() == 2

    Note.all_objects.all().hard_delete()
    assert Note.all_objects.count() == 0


def test_primary_keys_are_uuid7_and_sort_by_creation() -> None:
    first = Note.objects.create(text="1")
    second = Note.objects.create(text="2")
    assert first.pk.version == 7
    assert list(Note.objects.order_by("pk").values_list("text", flat=True)) == ["1", "2"]
    assert second.created_at >= first.created_at
