"""`make chaos`: a platform under paper-order load and running bots, with random SIGKILLs; prints the figures.

    python -m tests.faults.chaos [--kills 100] [--seed N] [--bots 3]

Each kill picks one of the web process, the worker's main process or a pool child, beat,
`stream_market`, PostgreSQL or Redis at random, waits until it is back, and goes on. Not part of
the suite (it runs for a quarter of an hour or more); the fault test runs one kill of each.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from tests.faults.harness import KILL_TARGETS, ROOT, Api, OrderLoad, Platform, read_figures, start_bots


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--bots", type=int, default=3)
    options = parser.parse_args(argv)
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        print("make chaos kills the embedded PostgreSQL and Redis; unset DATABASE_URL / REDIS_URL", file=sys.stderr)
        return 2
    seed = options.seed if options.seed is not None else random.randrange(1_000_000)
    chooser = random.Random(seed)
    platform = Platform(ROOT / ".local" / "faults" / f"chaos-{os.getpid()}")
    platform.remove()
    started = time.monotonic()
    print(f"chaos: {options.kills} kills, seed {seed}; platform log {platform.log_path}", flush=True)
    platform.start()
    try:
        if not platform.wait_healthy(timeout=240):
            print("the platform did not come up", file=sys.stderr)
            return 1
        api = Api(platform)
        api.sign_in()
        account = api.paper_account()
        bot_ids = start_bots(api, account, count=options.bots)
        load = OrderLoad(api, account, per_second=3.0)
        load.start()
        recoveries = []
        try:
            for n in range(options.kills):
                target = chooser.choice(KILL_TARGETS)
                recovery = platform.kill(target)
                recoveries.append(recovery)
                print(f"kill {n + 1:3d}/{options.kills}: {target:<12} back in {recovery.seconds:5.1f} s{'' if recovery.ok else '  (over 30 s)'}", flush=True)
                time.sleep(chooser.uniform(0.5, 3.0))
        finally:
            load.stop()
        platform.wait_healthy(timeout=60)
        settled_before = time.time() - 5
        deadline = time.monotonic() + 120
        while True:
            figures = read_figures(platform, load, bot_ids, settled_before=settled_before)
            if (figures.stuck == 0 and figures.bars_missed == 0) or time.monotonic() > deadline:
                break
            time.sleep(3)
        figures.kills, figures.recoveries = len(recoveries), recoveries
        print("\n".join(figures.lines()))
        print(f"over 30 s: {sum(not r.ok for r in recoveries)}; ran {time.monotonic() - started:.0f} s")
        for line in figures.bots_not_running + figures.ledger_mismatches:
            print(f"  {line}")
        clean = figures.lost == figures.duplicated == figures.stuck == figures.bars_missed == figures.bars_doubled == 0
        return 0 if clean and not figures.bots_not_running and not figures.ledger_mismatches and all(r.ok for r in recoveries) else 1
    finally:
        platform.stop()
        platform.remove()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
