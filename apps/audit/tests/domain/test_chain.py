"""The canonical JSON the hash covers: one text for one event, whatever the order of its changes."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from apps.audit.domain.chain import ChainedFields, canonical_document, canonical_json, canonical_parts, event_hash, json_safe, personal_digest

_text = st.text(max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_fields = st.builds(
    ChainedFields,
    id=_text,
    created_at=_text,
    seq=st.integers(min_value=1, max_value=10**12),
    actor_id=st.none() | _text,
    owner_id=st.none() | _text,
    actor_kind=_text,
    actor_ref=_text,
    actor_name=_text,
    action=_text,
    target_type=_text,
    target_id=_text,
    summary=_text,
    changes=st.dictionaries(st.text(max_size=8), _json, max_size=4),
    request_id=_text,
    personal_digest=_text,
)


@given(_fields, _text)
def test_the_written_out_text_is_the_sorted_compact_json_of_the_event(fields: ChainedFields, prev_hash: str) -> None:
    reference = json.dumps(canonical_document(fields, prev_hash), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert canonical_json(fields, prev_hash) == reference


@given(_fields)
def test_the_order_of_the_changes_does_not_change_the_hash(fields: ChainedFields) -> None:
    reordered = fields._replace(changes=dict(reversed(list(fields.changes.items()))))

    assert event_hash(fields, "0" * 64) == event_hash(reordered, "0" * 64)


def test_any_change_to_a_field_or_the_previous_hash_changes_the_hash() -> None:
    fields = ChainedFields("e1", "2026-12-04T10:00:00.000000Z", 1, None, "u1", "user", "", "", "order.filled", "", "", "filled", {}, "", "")

    assert event_hash(fields, "a") != event_hash(fields, "b")
    assert event_hash(fields, "a") != event_hash(fields._replace(summary="Filled"), "a")


def test_exact_numbers_are_kept_as_text_that_reads_back_the_same() -> None:
    assert json_safe({"price": [Decimal("0.119000000000000000"), 1.5], "n": (1, 2)}) == {"price": ["0.119000000000000000", "1.5"], "n": [1, 2]}


def test_the_personal_digest_is_salted_and_empty_without_personal_data() -> None:
    assert personal_digest("salt-a", "203.0.113.9", None) != personal_digest("salt-b", "203.0.113.9", None)
    assert personal_digest(None, "203.0.113.9", None) == "" and personal_digest("salt", None, None) == ""


@given(_fields, st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_the_parts_the_database_hashes_around_the_head_make_the_same_text(fields: ChainedFields, prev_hash: str) -> None:
    before, middle, after = canonical_parts(fields)

    assert before + prev_hash + middle + str(fields.seq) + after == canonical_json(fields, prev_hash)
