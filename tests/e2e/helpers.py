"""What several browser tests share: running platform code beside Playwright, and recording
what the browser reports (HTTP error answers included) for a test that asserts on them."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connections
from playwright.sync_api import ConsoleMessage, Page, Request


def off_the_event_loop(call: Callable[[], Any]) -> Any:
    """Playwright's sync API keeps an event loop in this thread; code using async_to_sync runs in another."""

    def run() -> Any:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def record_problems(page: Page) -> list[str]:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def on_failed(request: Request) -> None:
        problems.append(f"failed request: {request.method} {request.url} ({request.failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", on_failed)
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}") if response.status >= 400 else None)
    return problems
