"""python -m benchmarks [NAME ...]: run the benchmarks (all, or those named) and print figures."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time


def _benchmark_modules() -> list[str]:
    package_dir = os.path.dirname(__file__)
    return sorted(info.name for info in pkgutil.iter_modules([package_dir]) if info.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trading_platform.settings.test")
    import django

    django.setup()
    available = _benchmark_modules()
    wanted = [f"bench_{name.removeprefix('bench_')}" for name in argv] or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available) or 'none'}", file=sys.stderr)
        return 2
    if not wanted:
        print("no benchmarks are defined yet")
        return 0
    for name in wanted:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"benchmarks.{name}").main()
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
