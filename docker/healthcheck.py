"""Container health checks: `python docker/healthcheck.py ROLE` exits 0 when that process is alive and working.

A web or ws process that answers at all is alive, even with 503 (a database outage is the
database's health, not a reason to restart the web server); the worker must answer a ping;
the stream must have written a fresh heartbeat; Flower must answer its /healthcheck.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3):  # noqa: S310 - fixed http URLs of this container
            return True
    except urllib.error.HTTPError:
        return True  # it answered: alive
    except OSError:
        return False


def _django() -> None:
    import django

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    django.setup()


def _worker_answers_a_ping() -> bool:
    _django()
    from trading_platform.celery import app

    hostname = f"celery@{os.uname().nodename}"
    return bool(app.control.ping(destination=[hostname], timeout=3))


def _stream_heartbeat_is_fresh() -> bool:
    _django()
    from apps.market.heartbeat import STREAM_STALE_SECONDS, heartbeat_read

    beat = heartbeat_read()
    return beat is not None and time.time() - beat.at <= STREAM_STALE_SECONDS


def _beat_is_running() -> bool:
    with open("/proc/1/cmdline", "rb") as cmdline:
        return b"beat" in cmdline.read()


CHECKS = {
    "web": lambda: _answers("http://127.0.0.1:8000/health/"),
    "ws": lambda: _answers("http://127.0.0.1:8001/health/"),
    "flower": lambda: _answers("http://127.0.0.1:5555/healthcheck"),
    "worker": _worker_answers_a_ping,
    "beat": _beat_is_running,
    "stream": _stream_heartbeat_is_fresh,
}

if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in CHECKS:
        sys.exit(f"usage: healthcheck.py {'|'.join(CHECKS)}")
    sys.exit(0 if CHECKS[role]() else 1)
