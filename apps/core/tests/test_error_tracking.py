"""Error tracking: an unhandled error reaches a Sentry-protocol server, without secrets or personal data."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apps.core.error_tracking import MASK, scrub_event

ROOT = Path(__file__).resolve().parents[3]

BOOM_URLS = """
from django.http import HttpRequest, HttpResponse
from django.urls import path


def boom(request: HttpRequest) -> HttpResponse:
    api_secret = "-".join(["exchange", "secret", "4242"])  # a runtime value, not source text
    raise RuntimeError("the venue answered nonsense")


urlpatterns = [path("boom/", boom)]
"""

SCRIPT = """
import io
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import django
django.setup()
from django.conf import settings
settings.MIDDLEWARE = []
settings.ROOT_URLCONF = "boom_urls"
settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
from django.core.handlers.wsgi import WSGIHandler
import sentry_sdk

body = urlencode({"password": "hunter2-password", "api_secret": "body-secret-99"}).encode()
environ = {
    "REQUEST_METHOD": "POST",
    "PATH_INFO": "/boom/",
    "QUERY_STRING": "token=query-token-77&symbol=BTC",
    "CONTENT_TYPE": "application/x-www-form-urlencoded",
    "CONTENT_LENGTH": str(len(body)),
    "wsgi.input": io.BytesIO(body),
    "HTTP_AUTHORIZATION": "Api-Key live-key-1234",
    "HTTP_COOKIE": "sessionid=cookie-session-55",
    "HTTP_USER_AGENT": "pytest-agent",
    "REMOTE_ADDR": "203.0.113.77",
}
setup_testing_defaults(environ)
statuses = []
WSGIHandler()(environ, lambda status, headers, exc_info=None: statuses.append(status))
assert statuses and statuses[0].startswith("500"), statuses
sentry_sdk.flush(timeout=10)
print("sent", sentry_sdk.get_client().is_active())
"""


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def sentry_server() -> Iterator[tuple[str, list[bytes]]]:
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42", _Collector.received
    finally:
        server.shutdown()


def _run_script(tmp_path: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "boom_urls.py").write_text(textwrap.dedent(BOOM_URLS))
    env = {**os.environ, "SENTRY_DSN": dsn, "DJANGO_SETTINGS_MODULE": "trading_platform.settings.test", "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    return subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _events(envelopes: list[bytes]) -> list[dict]:
    events = []
    for envelope in envelopes:
        lines = envelope.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


def test_an_unhandled_error_is_reported_without_secrets_or_personal_data(sentry_server, tmp_path) -> None:
    dsn, received = sentry_server

    run = _run_script(tmp_path, dsn)

    assert run.returncode == 0, run.stderr[-2000:]
    events = _events(received)
    assert len(events) == 1
    event = events[0]
    assert event["exception"]["values"][-1]["value"] == "the venue answered nonsense"
    assert event["request"]["method"] == "POST" and event["request"]["url"].endswith("/boom/")
    assert event["request"]["headers"]["Authorization"] == MASK
    assert "symbol=BTC" in event["request"]["query_string"] and "query-token-77" not in event["request"]["query_string"]
    sent = json.dumps(event)
    for secret in ("exchange-secret-4242", "hunter2-password", "body-secret-99", "live-key-1234", "cookie-session-55", "203.0.113.77"):
        assert secret not in sent, f"{secret} left the platform"
    assert all("vars" not in frame for frame in event["exception"]["values"][-1]["stacktrace"]["frames"])


def test_without_a_dsn_nothing_is_started(tmp_path) -> None:
    run = _run_script(tmp_path, "")

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "sent False"


def test_the_last_pass_keeps_the_user_id_only_and_masks_credential_headers() -> None:
    event = {
        "user": {"id": "7", "email": "trader@example.com", "ip_address": "198.51.100.1"},
        "request": {
            "headers": {"X-Api-Key": "k", "Accept": "text/html"},
            "cookies": {"sessionid": "s"},
            "data": {"password": "p"},
            "query_string": "otp=123456&page=2",
        },
    }

    scrubbed = scrub_event(event)

    assert scrubbed["user"] == {"id": "7"}
    assert scrubbed["request"] == {"headers": {"X-Api-Key": MASK, "Accept": "text/html"}, "query_string": "otp=%5BFiltered%5D&page=2"}
