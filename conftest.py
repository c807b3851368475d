"""Session-wide fixtures: a real Celery worker, a real ASGI server, a real browser.

Processes started here run against the test database, so tests that use them must
commit their data (`transactional_db`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _child_env(database_name: str, role: str) -> dict[str, str]:
    """A child process on the test database as the given role (`app` or `system`), as in production.

    With an external server, `DATABASE_APP_URL` / `DATABASE_SYSTEM_URL` name the role's login."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "trading_platform.settings.test"
    env["DATABASE_NAME"] = database_name
    env["DATABASE_ROLE"] = role
    role_url = os.environ.get(f"DATABASE_{role.upper()}_URL")
    if role_url:
        env["DATABASE_URL"] = role_url
    env["PYTHONPATH"] = str(ROOT)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(_child_metrics_directory())
    return env


def _child_metrics_directory() -> Path:
    """Where the session's child processes (worker, web server) record metrics, as under `make run`."""
    folder = ROOT / ".local" / f"test-metrics-{os.getpid()}"
    if not folder.exists():
        folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _remove_child_metrics() -> Iterator[None]:
    yield
    shutil.rmtree(ROOT / ".local" / f"test-metrics-{os.getpid()}", ignore_errors=True)


def _test_database_name() -> str:
    from django.db import connection

    return str(connection.settings_dict["NAME"])


def _celery_worker(*, hostname: str, queues: str, concurrency: int, log_name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` (thread pool) on `queues`, against the test database, as the system role; stopped after."""
    log = open(ROOT / ".local" / log_name, "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "trading_platform",
            "worker",
            "--queues",
            queues,
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--hostname",
            hostname,
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=_child_env(_test_database_name(), "system"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from trading_platform.celery import app

    node = hostname.replace("%h", socket.gethostname())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the test Celery worker exited early; see {log.name}")
        if app.control.ping(destination=[node], timeout=0.5):
            break
    else:
        worker.kill()
        raise RuntimeError("the test Celery worker did not answer a ping within 60 s")
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: None, django_db_blocker: object) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` on every queue, against the test database, as the system role (as `make run` runs it)."""
    yield from _celery_worker(
        hostname=f"test-worker-{os.getpid()}@%h", queues="default,market,bots,backtests,alerts", concurrency=4, log_name="test-celery-worker.log"
    )


@pytest.fixture(scope="session")
def bots_worker_process(celery_worker_process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """A second worker, on the `bots` queue only, beside `celery_worker_process` (the scale-out layout's bots worker)."""
    yield from _celery_worker(hostname=f"test-bots-worker-{os.getpid()}@%h", queues="bots", concurrency=2, log_name="test-celery-bots-worker.log")


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log_name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a test web process exited early; see .local/{log_name}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"a test web process did not listen on {port} within {timeout:.0f} s; see .local/{log_name}")


def _web_layout(public_port: int) -> list[tuple[str, list[str], dict[str, str], int]]:
    """The processes `make run` serves one URL with (Procfile: web, ws, proxy), on free ports.

    Without caddy on PATH (a venv installed before it joined requirements/dev.txt), uvicorn
    alone serves pages and WebSockets on the public port, as `make run` did before."""
    app_env = _child_env(_test_database_name(), "app")
    uvicorn = [sys.executable, "-m", "uvicorn", "trading_platform.asgi:application", "--host", "127.0.0.1", "--ws", "websockets-sansio"]
    uvicorn += ["--ws-per-message-deflate", "false", "--lifespan", "off", "--log-level", "warning"]
    caddy = shutil.which("caddy")
    if caddy is None:
        return [("test-uvicorn.log", [*uvicorn, "--port", str(public_port)], {**app_env, "DATABASE_POOL": "true"}, public_port)]
    http_port, ws_port = _free_port(), _free_port()
    behind_proxy = {**app_env, "TRUSTED_PROXY_COUNT": "1"}
    gunicorn = [sys.executable, "-m", "gunicorn", "trading_platform.wsgi:application", "--bind", f"127.0.0.1:{http_port}", "--workers", "2"]
    caddy_env = {**app_env, "WEB_PORT": str(public_port), "WEB_HTTP_PORT": str(http_port), "WS_PORT": str(ws_port)}
    caddy_env |= {"XDG_DATA_HOME": str(ROOT / ".local" / "caddy"), "XDG_CONFIG_HOME": str(ROOT / ".local" / "caddy")}
    return [
        ("test-gunicorn.log", [*gunicorn, "--log-level", "warning"], behind_proxy, http_port),
        ("test-uvicorn.log", [*uvicorn, "--port", str(ws_port)], {**behind_proxy, "DATABASE_POOL": "true"}, ws_port),
        ("test-caddy.log", [caddy, "run", "--config", "apps/core/embedded/Caddyfile", "--adapter", "caddyfile"], caddy_env, public_port),
    ]


@pytest.fixture(scope="session")
def live_server_url(django_db_setup: None) -> Iterator[str]:
    """The platform on one URL as `make run` serves it: Caddy sending /ws/ to uvicorn and the rest to gunicorn, as the application role."""
    port = _free_port()
    started: list[tuple[subprocess.Popen[bytes], Any]] = []
    try:
        for log_name, command, env, listens_on in _web_layout(port):
            log = open(ROOT / ".local" / log_name, "wb")  # noqa: SIM115
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            started.append((process, log))
            _wait_for_port(process, listens_on, log_name)
        yield f"http://127.0.0.1:{port}"
    finally:
        for process, log in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM_PATH).exists():
        pytest.skip("browser tests need Chromium: apt-get install -y chromium (or set CHROMIUM_PATH)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser page; the test fails on any console error (a CSP violation or a resource
    answered with an error status among them), page error or failed request on the pages it
    visits, except those its `browser_expects` marker names."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = _record_browser_problems(page)
    yield page
    context.close()
    marker = request.node.get_closest_marker("browser_expects")
    expected = tuple(marker.args) if marker else ()
    unexpected = [problem for problem in problems if not any(text in problem for text in expected)]
    if unexpected:
        pytest.fail("the browser reported:\n" + "\n".join(unexpected), pytrace=False)


def _record_browser_problems(page: Any) -> list[str]:
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text} at {message.location.get('url', '')}")

    def on_failed(failed: Any) -> None:
        # A request the browser itself dropped because the page moved on is not a failure of the site.
        if "ERR_ABORTED" not in str(failed.failure):
            problems.append(f"failed request: {failed.method} {failed.url} ({failed.failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", on_failed)
    return problems


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Throttle counters live in Redis; every test starts with none."""
    yield
    from django.core.cache import cache

    cache.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in this thread
    for the rest of the session, and code under test that calls asyncio.run cannot run after it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
