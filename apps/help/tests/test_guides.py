"""Reading and rendering the guides: titles, summaries, the table of contents, links between guides."""

from __future__ import annotations

import pytest

from apps.help.guides import GUIDE_SLUGS, GuideNotFound, guide_get, guide_list, guide_path, guide_render


def test_every_listed_guide_exists_in_the_docs_folder_and_has_a_title_and_summary() -> None:
    for slug in GUIDE_SLUGS:
        assert guide_path(slug).is_file(), slug
    guides = guide_list()

    assert [guide.slug for guide in guides] == list(GUIDE_SLUGS)
    assert all(guide.title and guide.summary for guide in guides)
    assert guides[0].title == "Getting started"


def test_every_markdown_file_in_the_docs_folder_is_served() -> None:
    files = {path.stem for path in guide_path("faq").parent.glob("*.md")}

    assert files == set(GUIDE_SLUGS)


def test_a_guide_name_that_does_not_exist_is_not_found() -> None:
    with pytest.raises(GuideNotFound) as raised:
        guide_get(slug="no-such-guide")

    assert raised.value.status_code == 404
    assert raised.value.extra == {"slug": "no-such-guide"}


def test_headings_get_anchors_and_the_second_and_third_levels_make_the_table_of_contents() -> None:
    guide = guide_render(slug="sample", source="# Title\n\nIntro.\n\n## First step\n\n### A detail\n\n#### Too deep\n\n## First step\n")

    assert [(h.level, h.text, h.anchor) for h in guide.headings] == [
        (2, "First step", "first-step"),
        (3, "A detail", "a-detail"),
        (2, "First step", "first-step-2"),
    ]
    assert '<h2 id="first-step">' in guide.html and '<h2 id="first-step-2">' in guide.html


def test_the_title_is_the_first_heading_and_the_summary_the_paragraph_under_it() -> None:
    guide = guide_render(slug="sample", source="# Placing `orders`\n\nHow to place an *order*.\n\nMore text.\n")

    assert guide.title == "Placing orders"
    assert guide.summary == "How to place an order."


def test_links_to_other_guides_point_to_their_help_pages_and_other_links_stay() -> None:
    source = "# T\n\nSee [the API](api.md#errors), [risk](risk-management.md), [orders](/orders/) and [ccxt](https://github.com/ccxt/ccxt).\n"

    html = guide_render(slug="sample", source=source).html

    assert 'href="/help/api/#errors"' in html
    assert 'href="/help/risk-management/"' in html
    assert 'href="/orders/"' in html
    assert 'href="https://github.com/ccxt/ccxt"' in html


def test_raw_html_in_a_guide_is_shown_as_text_never_run() -> None:
    html = guide_render(slug="sample", source='# T\n\n<script>alert(1)</script>\n\n<p style="color:red">x</p>\n').html

    assert "<script>" not in html and 'style="' not in html
    assert "&lt;script&gt;" in html and "&lt;p style=&quot;color:red&quot;&gt;" in html


def test_code_blocks_keep_their_language_and_tables_render() -> None:
    html = guide_render(slug="sample", source="# T\n\n```sh\nmake run\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n").html

    assert '<pre><code class="language-sh">make run\n</code></pre>' in html
    assert "<table>" in html and "<td>1</td>" in html
