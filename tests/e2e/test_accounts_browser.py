"""Sign-in, live connection, API keys and the phone layout, in a real Chromium.

The web server runs in another process, so every test commits its data.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

# Chromium logs a form answered with 400 (its errors shown) as a console error.
FORM_ERROR = "the server responded with a status of 400 (Bad Request)"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page: Page, base_url: str, user: User, password: str = DEFAULT_PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_signing_in_lands_on_the_dashboard_with_a_live_connection(page: Page, live_server_url: str) -> None:
    user = UserFactory(display_name="Ada")

    _sign_in(page, live_server_url, user)

    expect(page).to_have_url(f"{live_server_url}/")
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    expect(page.locator("#ws-status")).to_have_text("connected")


@pytest.mark.browser_expects(FORM_ERROR)  # the form answered with its errors
def test_a_wrong_password_shows_the_error_on_the_form(page: Page, live_server_url: str) -> None:
    user = UserFactory()

    _sign_in(page, live_server_url, user, password="not-the-password")

    expect(page.get_by_role("alert")).to_have_text("Email or password is wrong.")
    expect(page).to_have_url(f"{live_server_url}/accounts/login/")
    expect(page.locator("#ws-status")).to_have_count(0)


def test_a_new_api_key_is_shown_once_and_gone_after_a_reload(page: Page, live_server_url: str) -> None:
    user = UserFactory()
    _sign_in(page, live_server_url, user)
    expect(page).to_have_url(f"{live_server_url}/")

    page.goto(f"{live_server_url}/accounts/settings/")
    page.get_by_label("Key name").fill("grid bot")
    page.get_by_role("button", name="Create key").click()

    shown = page.get_by_test_id("new-api-key-value")
    expect(shown).to_have_text(re.compile(r"^tpk_[0-9a-f]{12}\.[A-Za-z0-9_-]+$"))
    plaintext = shown.inner_text()
    expect(page.locator("#api-keys tbody")).to_contain_text("grid bot")
    expect(page).to_have_url(f"{live_server_url}/accounts/settings/")  # swapped in place by htmx

    page.reload()

    expect(page.locator("#api-keys tbody")).to_contain_text("grid bot")
    expect(page.get_by_test_id("new-api-key-value")).to_have_count(0)
    assert plaintext not in page.content()


def test_the_dashboard_fits_a_phone_and_offers_the_menu(page: Page, live_server_url: str) -> None:
    user = UserFactory()
    page.set_viewport_size({"width": 390, "height": 844})
    _sign_in(page, live_server_url, user)
    expect(page).to_have_url(f"{live_server_url}/")

    menu = page.locator("summary", has_text="Menu")
    expect(menu).to_be_visible()
    expect(page.get_by_role("navigation", name="Sections")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1

    menu.click()
    expect(page.get_by_role("button", name=f"Sign out {user.email}")).to_be_visible()
