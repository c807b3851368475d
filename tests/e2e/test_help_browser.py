"""Help in a real Chromium: the index from the navigation, a guide with its table of contents,
and no console error or failed request on either page.

The web server runs in another process, so the test commits its data.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.e2e.helpers import record_problems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_help_index_and_a_guide_open_from_the_navigation_without_errors(page: Page, live_server_url: str) -> None:
    user = UserFactory()
    problems = record_problems(page)
    page.goto(f"{live_server_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server_url}/")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Help").click()

    expect(page).to_have_url(f"{live_server_url}/help/")
    expect(page.get_by_role("heading", name="Help", exact=True)).to_be_visible()
    index = page.get_by_test_id("help-index")
    expect(index.get_by_role("link")).to_have_count(9)

    index.get_by_role("link", name="Backtesting and optimisation, honestly").click()

    expect(page).to_have_url(f"{live_server_url}/help/backtesting/")
    guide = page.get_by_test_id("guide")
    expect(guide.get_by_role("heading", name="Backtesting and optimisation, honestly", level=1)).to_be_visible()
    contents = page.get_by_role("navigation", name="Contents")
    contents.get_by_role("link", name="Look-ahead is refused").click()
    expect(page).to_have_url(f"{live_server_url}/help/backtesting/#look-ahead-is-refused")
    expect(guide.get_by_role("heading", name="Look-ahead is refused")).to_be_in_viewport()
    code = guide.locator("pre code.language-sh").first
    expect(code).to_contain_text("manage.py ingest_candles")
    assert code.evaluate("element => getComputedStyle(element.parentElement).overflowX") == "auto"  # help.css is applied
    expect(page.locator("#ws-status")).to_have_text("connected")

    guide.get_by_role("link", name="API guide").click()
    expect(page).to_have_url(f"{live_server_url}/help/api/#backtests-and-optimisations")

    assert problems == []
