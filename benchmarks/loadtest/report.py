"""The load test's figures from Locust's CSV: requests/s, p50/p99 per request type, errors, and
the target (200 users: no errors, page p99 under 500 ms), with the machine's speed and load."""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

PAGE_P99_TARGET_MS = 500.0


def _loop_seconds() -> float:
    started = time.perf_counter()
    for _ in range(10_000_000):
        pass
    return time.perf_counter() - started


def report(stats_csv: Path, users: int) -> int:
    rows = list(csv.DictReader(stats_csv.open()))
    total = next((row for row in rows if row["Name"] == "Aggregated"), None)
    if total is None:
        print(f"no results in {stats_csv}", file=sys.stderr)
        return 2
    print(f"{'request':32} {'count':>8} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(
            f"{row['Type'] + ' ' + row['Name']:32.32} {row['Request Count']:>8} {row['Failure Count']:>7} {float(row['Requests/s']):8.1f} {row['50%']:>8} {row['99%']:>8}"
        )
    pages = [row for row in rows if row["Name"].startswith("page ")]
    page_p99 = max((float(row["99%"]) for row in pages), default=0.0)
    errors = int(total["Failure Count"])
    print(
        f"\n{users} simulated users: {float(total['Requests/s']):.1f} requests/s, {errors} errors, "
        f"page p99 {page_p99:.0f} ms (target: 0 errors, < {PAGE_P99_TARGET_MS:.0f} ms)"
    )
    print(f"10M-step Python loop: {_loop_seconds():.2f} s; load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0 if errors == 0 and page_p99 < PAGE_P99_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(report(Path(sys.argv[1]), int(sys.argv[2])))
