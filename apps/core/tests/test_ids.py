import uuid

from apps.core.domain.ids import uuid7, uuid7_timestamp_ms


def test_uuid7_has_version_7_and_rfc_variant() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_uuid7_values_from_one_process_strictly_increase() -> None:
    values = [uuid7() for _ in range(5000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_uuid7_carries_the_creation_time_in_milliseconds() -> None:
    import time

    from apps.core.domain import ids

    # Ids never go backwards: after another test travelled in time, the process keeps counting
    # from the latest millisecond it saw. Start afresh to compare with the clock.
    ids._last_ms = 0
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_timestamp_ms(value) <= after + 1
