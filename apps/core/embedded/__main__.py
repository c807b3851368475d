"""python -m apps.core.embedded {start|stop|status|run|exec -- CMD...}"""

from __future__ import annotations

import sys

from .errors import EmbeddedServiceError
from .launcher import MANUAL_LEASE, describe_status, exec_with_services, run_platform, start_services, stop_services

USAGE = "usage: python -m apps.core.embedded {start|stop|status|run|exec -- COMMAND...}"


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    action, rest = argv[0], argv[1:]
    try:
        if action == "start":
            start_services(holder=MANUAL_LEASE)
            print(describe_status())
            return 0
        if action == "stop":
            stopped = stop_services()
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return 0
        if action == "status":
            print(describe_status())
            return 0
        if action == "run":
            return run_platform()
        if action == "exec":
            command = rest[1:] if rest[:1] == ["--"] else rest
            if not command:
                print(USAGE, file=sys.stderr)
                return 2
            return exec_with_services(command)
    except EmbeddedServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
