"""Two-factor authentication in a real Chromium: enrol, confirm, sign out, sign in with a code, then with a recovery code."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import ConsoleMessage, Locator, Page, Request, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

# Chromium logs a form page answered with 400 (a form error) as a console error.
FORM_ERROR_TEXT = "Failed to load resource: the server responded with a status of 400 (Bad Request)"
FORM_ERROR_LOG = f"console: {FORM_ERROR_TEXT}"
EXPECTED_FORM_ERRORS = 2  # the wrong code and the reused recovery code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.browser_expects(FORM_ERROR_TEXT)]


@pytest.fixture
def watched_page(page: Page) -> Iterator[Page]:
    """The page, failing the test on any console error or failed request other than the form errors it provokes."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console: {message.text}") if _is_error(message) else None)
    page.on("requestfailed", lambda request: problems.append(f"request failed: {_describe(request)}"))
    yield page
    assert problems == [FORM_ERROR_LOG] * EXPECTED_FORM_ERRORS


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"


def _describe(request: Request) -> str:
    return f"{request.method} {request.url} ({request.failure})"


def _wait_until_the_image_has_loaded(image: Locator, timeout: float = 10) -> None:
    """Polled from here: a predicate evaluated in the page would need eval, which the CSP refuses."""
    deadline = time.monotonic() + timeout
    while image.evaluate("element => element.naturalWidth") == 0:
        assert time.monotonic() < deadline, "the QR code image did not load"
        time.sleep(0.05)


def _password_step(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _sign_out(page: Page, user: User) -> None:
    page.locator("summary", has_text="Menu").click()
    page.get_by_role("button", name=f"Sign out {user.email}").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_enrol_confirm_and_sign_in_with_a_code_then_with_a_recovery_code(watched_page: Page, live_server_url: str) -> None:
    page = watched_page
    user = UserFactory(display_name="Ada")
    _password_step(page, live_server_url, user)
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()

    page.goto(f"{live_server_url}/accounts/settings/")
    page.get_by_role("button", name="Set up two-factor authentication").click()
    qr = page.get_by_test_id("two-factor-qr")
    expect(qr).to_be_visible()
    _wait_until_the_image_has_loaded(qr)
    secret = page.get_by_test_id("two-factor-secret").inner_text()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(totp.at(time.time() - 30))  # the previous step: the next two stay unused
    page.get_by_role("button", name="Turn on two-factor authentication").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="Back to settings").click()
    expect(page.locator("#two-factor")).to_contain_text("10 recovery codes left")
    _sign_out(page, user)

    _password_step(page, live_server_url, user)
    expect(page.get_by_role("heading", name="Two-factor code")).to_be_visible()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("The two-factor code is wrong or has expired")).to_be_visible()
    page.get_by_label("Code").fill(totp.now())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    _sign_out(page, user)

    _password_step(page, live_server_url, user)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    page.goto(f"{live_server_url}/accounts/settings/")
    expect(page.locator("#two-factor")).to_contain_text("9 recovery codes left")
    _sign_out(page, user)

    _password_step(page, live_server_url, user)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("This recovery code has already been used; each one works once.")).to_be_visible()
