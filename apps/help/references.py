"""What a guide points at: links, local URLs and `/api/v1/...` paths (with their HTTP method when one is given).

The tests check every reference against the URL resolver, the other guides and the OpenAPI
schema, so a guide cannot send a reader to a page or an API operation that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.token import Token

from apps.help.guides import markdown_parser

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# A path runs until whitespace, a quote, a backtick or a closing bracket; `{...}` placeholders
# (f-strings such as {placed['id']}) are kept whole.
API_PATH = re.compile(r"/api/v1/(?:\{[^}\n]*\}|[^\s'\"`)<>,{}\]])*")
LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost):8000(/[^\s'\"`)<>\]]*)?")
_METHOD_BEFORE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)`?\s+`?(?:\$\{?BASE\}?|https?://[^/\s]+)?$")
_PYTHON_CALL_BEFORE = re.compile(r"\.(get|post|put|patch|delete)\(\s*f?[\"'](?:\{BASE\})?$")
_CURL_METHOD = re.compile(r"(?:-X|--request)\s+([A-Z]+)")
_CURL_DATA = re.compile(r"\s(?:-d|--data(?:-raw|-binary)?|--json|-F|--form)\s")


@dataclass(frozen=True)
class ApiMention:
    path: str  # without query string or fragment
    method: str | None  # None: the guide names no method
    context: str  # the line it was found on, for error messages


@dataclass(frozen=True)
class GuideReferences:
    links: tuple[str, ...]
    api_mentions: tuple[ApiMention, ...]
    local_paths: tuple[str, ...]  # pages (not API paths) of http://127.0.0.1:8000/... URLs written out in text or code


def guide_references(source: str) -> GuideReferences:
    links: list[str] = []
    snippets: list[str] = []
    for token in markdown_parser().parse(source):
        if token.type in ("fence", "code_block"):
            snippets.extend(_logical_lines(token.content))
        for child in token.children or []:
            _collect_inline(child, links, snippets)
    mentions = [mention for snippet in snippets for mention in api_mentions(snippet)]
    mentions += [ApiMention(_strip_query(href), None, href) for href in links if href.startswith("/api/v1/")]
    local = [match.group(1) or "/" for snippet in snippets for match in LOCAL_URL.finditer(snippet)]
    local = [_strip_query(path) or "/" for path in local if not path.startswith("/api/v1/")]  # API paths: checked as mentions
    return GuideReferences(links=tuple(links), api_mentions=tuple(mentions), local_paths=tuple(local))


def _collect_inline(child: Token, links: list[str], snippets: list[str]) -> None:
    if child.type == "link_open":
        links.append(str(child.attrGet("href") or ""))
    elif child.type in ("text", "code_inline"):
        snippets.append(child.content)


def _logical_lines(code: str) -> list[str]:
    """Lines of a code block with shell continuations (a trailing backslash) joined."""
    return code.replace("\\\n", " ").splitlines()


def api_mentions(line: str) -> list[ApiMention]:
    found = []
    for match in API_PATH.finditer(line):
        found.append(ApiMention(_strip_query(match.group(0)), _method_for(line, match.start()), line.strip()))
    return found


def _method_for(line: str, start: int) -> str | None:
    before = line[:start]
    explicit = _METHOD_BEFORE.search(before)
    if explicit:
        return explicit.group(1)
    call = _PYTHON_CALL_BEFORE.search(before)
    if call:
        return call.group(1).upper()
    if re.search(r"\bcurl\b", line):
        method = _CURL_METHOD.search(line)
        if method:
            return method.group(1)
        return "POST" if _CURL_DATA.search(f" {line} ") else "GET"
    return None


def _strip_query(path: str) -> str:
    return re.split(r"[?#]", path, maxsplit=1)[0].rstrip(".:;")
