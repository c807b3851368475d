"""Every page, guide and API operation a guide points at exists.

Links to local pages must resolve with Django's URL resolver, links to other guides must name a
guide (and an anchor it has), and every `/api/v1/...` path a guide mentions (in links, code spans
and code blocks) must be an operation of the OpenAPI schema, with the HTTP method where one is given.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import Resolver404, resolve
from drf_spectacular.generators import SchemaGenerator

from apps.help.guides import GUIDE_SLUGS, guide_get, guide_link_target, guide_path
from apps.help.references import ApiMention, api_mentions, guide_references


@cache
def _operations() -> dict[re.Pattern[str], frozenset[str]]:
    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    operations = {}
    for path, item in schema["paths"].items():
        pattern = re.compile("".join(r"[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", path)))
        operations[pattern] = frozenset(method.upper() for method in item if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"))
    return operations


def _methods_of(path: str) -> frozenset[str] | None:
    for pattern, methods in _operations().items():
        if pattern.fullmatch(path):
            return methods
    return None


def _api_problem(mention: ApiMention) -> str | None:
    methods = _methods_of(mention.path)
    if methods is None:
        return f"{mention.path} is not an API operation (in: {mention.context})"
    if mention.method is not None and mention.method not in methods:
        return f"{mention.method} {mention.path} is not an operation; the schema has {', '.join(sorted(methods))} (in: {mention.context})"
    return None


def _page_problem(path: str) -> str | None:
    try:
        resolve(path)
    except Resolver404:
        return f"{path} is not a page of the platform"
    return None


def _link_problem(slug: str, href: str) -> str | None:
    target = guide_link_target(href)
    if target is not None:
        other, fragment = target
        if other not in GUIDE_SLUGS:
            return f"{href} names no guide"
        if fragment and fragment not in {h.anchor for h in _all_anchors(other)}:
            return f"{href}: the guide {other} has no heading #{fragment}"
        return None
    parts = urlsplit(href)
    if href.startswith("#"):
        return None if parts.fragment in {h.anchor for h in _all_anchors(slug)} else f"{href}: no such heading in this guide"
    if parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost") and parts.port == 8000:
        return _page_problem(parts.path or "/")
    if parts.scheme or parts.netloc:
        return None  # another site
    if parts.path.startswith("/api/v1/"):
        return None  # checked against the schema with the other API mentions
    return _page_problem(parts.path)


def _all_anchors(slug: str) -> list[Any]:
    from apps.help.guides import heading_anchors, markdown_parser

    return heading_anchors(markdown_parser().parse(guide_path(slug).read_text(encoding="utf-8")))


@pytest.mark.parametrize("slug", GUIDE_SLUGS)
def test_every_link_of_the_guide_leads_to_a_page_or_guide_that_exists(slug: str) -> None:
    references = guide_references(guide_path(slug).read_text(encoding="utf-8"))

    problems = [problem for href in references.links if (problem := _link_problem(slug, href))]
    problems += [problem for path in references.local_paths if (problem := _page_problem(path))]

    assert references.links, "a guide with no link at all is suspicious: the parser found none"
    assert problems == []


@pytest.mark.parametrize("slug", GUIDE_SLUGS)
def test_every_api_path_the_guide_mentions_is_an_operation_of_the_schema(slug: str) -> None:
    references = guide_references(guide_path(slug).read_text(encoding="utf-8"))

    problems = [problem for mention in references.api_mentions if (problem := _api_problem(mention))]

    assert problems == []


def test_the_api_guide_is_checked_against_many_operations() -> None:
    mentions = guide_references(guide_path("api").read_text(encoding="utf-8")).api_mentions

    assert len({(m.method, m.path) for m in mentions}) >= 30
    assert guide_get(slug="api").title == "The REST API"


def test_a_path_or_method_the_schema_does_not_have_is_reported() -> None:
    assert _api_problem(ApiMention("/api/v1/orders/", "POST", "")) is None
    assert _api_problem(ApiMention("/api/v1/orders/$ORDER_ID/cancel/", "POST", "")) is None
    assert _api_problem(ApiMention("/api/v1/orders/{id}/cancel/", "GET", "")) is not None
    assert _api_problem(ApiMention("/api/v1/order/", None, "")) is not None
    assert _page_problem("/risk/") is None
    assert _page_problem("/no-such-page/") is not None
    assert _link_problem("faq", "api.md#errors") is None
    assert _link_problem("faq", "api.md#no-such-heading") is not None
    assert _link_problem("faq", "missing.md") is not None


def test_methods_are_read_from_prose_curl_and_python() -> None:
    def methods(line: str) -> list[tuple[str | None, str]]:
        return [(m.method, m.path) for m in api_mentions(line)]

    assert methods("DELETE /api/v1/api-keys/{id}/") == [("DELETE", "/api/v1/api-keys/{id}/")]
    assert methods("curl -X PATCH $BASE/api/v1/risk-limits/ -d '{\"max_leverage\": 5}'") == [("PATCH", "/api/v1/risk-limits/")]
    assert methods("curl $BASE/api/v1/fills/?symbol=BTC/USDT -H x") == [("GET", "/api/v1/fills/")]
    assert methods("curl $BASE/api/v1/auth/token/ -d '{}'") == [("POST", "/api/v1/auth/token/")]
    assert methods("session.post(f\"{BASE}/api/v1/orders/{placed['id']}/cancel/\")") == [("POST", "/api/v1/orders/{placed['id']}/cancel/")]
    assert methods("the list at /api/v1/bots/") == [(None, "/api/v1/bots/")]
