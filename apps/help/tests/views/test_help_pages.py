"""The Help pages: the index, one page per guide, 404 for a name that is not a guide, signed-in users only."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.tests.factories import UserFactory
from apps.help.guides import GUIDE_SLUGS

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Client) -> Client:
    client.force_login(UserFactory())
    return client


def test_the_index_lists_every_guide_in_reading_order(signed_in: Client) -> None:
    response = signed_in.get("/help/")
    html = response.content.decode()

    assert response.status_code == 200
    positions = [html.index(f'href="/help/{slug}/"') for slug in GUIDE_SLUGS]
    assert positions == sorted(positions)
    assert "Run the platform on your own machine" in html  # the getting-started summary


def test_help_is_in_the_main_navigation_and_marked_current(signed_in: Client) -> None:
    html = signed_in.get("/help/").content.decode()

    assert 'href="/help/" aria-current="page"' in html
    assert 'href="/help/"' in signed_in.get("/risk/").content.decode()


def test_a_guide_page_shows_the_guide_with_its_table_of_contents_and_styles(signed_in: Client) -> None:
    html = signed_in.get("/help/backtesting/").content.decode()

    assert "<h1" in html and "Backtesting and optimisation, honestly" in html
    assert '<a href="#look-ahead-is-refused">Look-ahead is refused</a>' in html
    assert '<h2 id="look-ahead-is-refused">' in html
    assert '<pre><code class="language-sh">' in html
    assert "/static/css/help.css" in html
    assert "<style" not in html and " style=" not in html
    assert 'href="/help/backtesting/" aria-current="page"' in html


def test_links_between_guides_lead_to_help_pages(signed_in: Client) -> None:
    html = signed_in.get("/help/getting-started/").content.decode()

    assert 'href="/help/first-bot/"' in html
    assert 'href="/help/api/#trading-accounts"' in html


def test_a_guide_name_that_does_not_exist_is_a_404_page(signed_in: Client) -> None:
    response = signed_in.get("/help/no-such-guide/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "There is no guide named &#x27;no-such-guide&#x27;." in html
    assert 'href="/help/getting-started/"' in html


def test_a_guide_name_that_is_not_a_slug_is_a_404(signed_in: Client) -> None:
    assert signed_in.get("/help/../settings/").status_code in (404, 302)  # normalised by the client or refused
    assert signed_in.get("/help/api.md/").status_code == 404


@pytest.mark.parametrize("path", ["/help/", "/help/getting-started/"])
def test_signed_out_visitors_are_sent_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_only_get_is_allowed(signed_in: Client) -> None:
    assert signed_in.post("/help/faq/").status_code == 405
