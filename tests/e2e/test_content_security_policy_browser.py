"""The Content-Security-Policy in a real Chromium: the pages with charts, live pushes, the admin and
the API docs work under it, with no violation reported (the `page` fixture fails the test on any
console error, and the browser reports each refused script or style as one).

The web server runs in another process, so the test commits its data.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, StaffUserFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/")


def test_trader_pages_run_under_the_policy(page: Page, live_server_url: str) -> None:
    _sign_in(page, live_server_url, UserFactory())
    policy = page.request.get(f"{live_server_url}/").headers["content-security-policy"]
    assert "script-src 'self'" in policy

    for path in ("/", "/orders/", "/positions/", "/bots/", "/backtests/", "/connections/", "/accounts/settings/"):
        response = page.goto(f"{live_server_url}{path}")
        assert response is not None and response.status == 200, path
        expect(page.locator("#ws-status")).to_have_text("connected")


def test_the_admin_and_the_api_docs_run_under_the_policy(page: Page, live_server_url: str) -> None:
    _sign_in(page, live_server_url, StaffUserFactory(is_superuser=True))

    page.goto(f"{live_server_url}/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto(f"{live_server_url}/admin/accounts/user/")
    expect(page.locator("#result_list")).to_be_visible()

    page.goto(f"{live_server_url}/api/docs/")
    expect(page.get_by_text("Trading Platform API").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
