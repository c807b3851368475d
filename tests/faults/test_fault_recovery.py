"""Faults under load: each process of a running platform killed with SIGKILL, one at a time, and back.

A whole platform runs under `make run`'s launcher in a folder of its own (its own PostgreSQL,
Redis and ports), with paper orders placed through the API and paper bots trading every bar.
The web process, the worker's main process and one of its pool children, beat, `stream_market`,
PostgreSQL and Redis are each killed with SIGKILL and must be back within 30 s; afterwards no
confirmed order is lost or doubled, no resting order is left open past a trade through its
price, every bot is running with every bar processed once, and the balances equal the ledger.
About three minutes; `make chaos` runs 100 random kills.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.faults.harness import KILL_TARGETS, ROOT, Api, OrderLoad, Platform, Recovery, read_figures, start_bots

pytestmark = [pytest.mark.fault, pytest.mark.timeout(480)]


@pytest.fixture
def platform() -> Iterator[Platform]:
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        pytest.skip("kills the embedded PostgreSQL and Redis; with DATABASE_URL / REDIS_URL there are none")
    running = Platform(ROOT / ".local" / "faults" / f"run-{os.getpid()}")
    running.remove()
    running.start()
    yield running
    running.stop()
    (ROOT / ".local" / "fault-test.log").write_text(running.log())  # kept for a look after a failure
    running.remove()


def test_every_process_killed_under_load_comes_back_and_no_confirmed_order_is_lost(platform: Platform) -> None:
    assert platform.wait_healthy(timeout=180), f"the platform did not come up; see {platform.log_path}"
    api = Api(platform)
    api.sign_in()
    account = api.paper_account()
    bot_ids = start_bots(api, account, count=2)
    load = OrderLoad(api, account, per_second=3.0)
    load.start()
    time.sleep(5)

    recoveries: list[Recovery] = []
    try:
        for target in KILL_TARGETS:
            recoveries.append(platform.kill(target))
            time.sleep(2)
    finally:
        load.stop()

    # Let the matcher, the bots and the stream catch up with what happened during the faults.
    assert platform.wait_healthy(timeout=30)
    settled_before = time.time() - 5
    deadline = time.monotonic() + 90
    while True:
        figures = read_figures(platform, load, bot_ids, settled_before=settled_before)
        caught_up = figures.stuck == 0 and figures.bars_missed == 0 and figures.bars_processed >= len(bot_ids)
        if caught_up or time.monotonic() > deadline:
            break
        time.sleep(3)
    figures.kills, figures.recoveries = len(recoveries), recoveries
    print("\n" + "\n".join(figures.lines()))

    assert [r.target for r in recoveries if not r.ok] == [], [(r.target, round(r.seconds, 1)) for r in recoveries]
    # Orders flowed through the faults (3 a second are offered; a busy machine confirms fewer, never none).
    assert figures.confirmed > 30
    assert figures.lost == 0
    assert figures.duplicated == 0
    assert figures.stuck == 0
    assert figures.bots == 2 and figures.bots_not_running == []
    assert figures.bars_processed >= 2, "each bot traded a bar after the faults"
    assert figures.unanswered == 0
    assert figures.bars_missed == 0 and figures.bars_doubled == 0
    assert figures.ledger_mismatches == []
