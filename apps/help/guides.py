"""The guides under `docs/`: found by name, rendered from Markdown (markdown-it-py) with a table of contents.

A guide is `docs/<slug>.md`; its first `# ` heading is its title and the paragraph under it its
summary. Links between guides are written as relative `other-guide.md#anchor` (so they also work
when the folder is read on its own) and point to the guide's Help page once rendered. Raw HTML
in a guide is not rendered: it is shown as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse
from django.utils.text import slugify
from markdown_it import MarkdownIt
from markdown_it.token import Token

from apps.core.errors import NotFoundError

# Reading order of the Help index; a guide file not listed here is not served.
GUIDE_SLUGS: tuple[str, ...] = (
    "getting-started",
    "first-bot",
    "strategies",
    "risk-management",
    "backtesting",
    "api",
    "deployment",
    "maintenance",
    "faq",
)
TOC_LEVELS = (2, 3)


class GuideNotFound(NotFoundError):
    default_code = "guide_not_found"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class Guide:
    slug: str
    title: str
    summary: str
    html: str
    headings: tuple[Heading, ...]


def guides_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs"


def guide_path(slug: str) -> Path:
    return guides_dir() / f"{slug}.md"


def markdown_parser() -> MarkdownIt:
    """CommonMark with tables; raw HTML is escaped, never passed through."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def guide_list() -> list[Guide]:
    return [guide_get(slug=slug) for slug in GUIDE_SLUGS]


def guide_get(*, slug: str) -> Guide:
    if slug not in GUIDE_SLUGS:
        raise GuideNotFound(f"There is no guide named {slug!r}.", extra={"slug": slug})
    path = guide_path(slug)
    try:
        modified = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise GuideNotFound(f"The guide {slug!r} is missing from {guides_dir()}.", extra={"slug": slug}) from None
    return _rendered(slug, str(path), modified)


@lru_cache(maxsize=64)
def _rendered(slug: str, path: str, modified_ns: int) -> Guide:
    """Keyed on the file's modification time, so an edited guide is rendered again."""
    return guide_render(slug=slug, source=Path(path).read_text(encoding="utf-8"))


def guide_render(*, slug: str, source: str) -> Guide:
    parser = markdown_parser()
    tokens = parser.parse(source)
    title, summary = _title_and_summary(tokens, fallback=slug)
    headings = _anchor_headings(tokens)
    _point_guide_links_to_help(tokens)
    html = parser.renderer.render(tokens, parser.options, {})
    return Guide(slug=slug, title=title, summary=summary, html=html, headings=tuple(headings))


def plain_text(inline: Token) -> str:
    """The text of an inline token without its markup (code spans keep their text)."""
    return "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline", "softbreak")).strip()


def heading_anchors(tokens: list[Token]) -> list[Heading]:
    """Every heading with the anchor it gets: its slug, numbered when it repeats."""
    found: list[Heading] = []
    used: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = plain_text(tokens[index + 1])
        base = slugify(text) or "section"
        used[base] = used.get(base, 0) + 1
        anchor = base if used[base] == 1 else f"{base}-{used[base]}"
        found.append(Heading(level=int(token.tag[1]), text=text, anchor=anchor))
    return found


def _anchor_headings(tokens: list[Token]) -> list[Heading]:
    headings = heading_anchors(tokens)
    opening = [token for token in tokens if token.type == "heading_open"]
    for token, heading in zip(opening, headings, strict=True):
        token.attrSet("id", heading.anchor)
    return [heading for heading in headings if heading.level in TOC_LEVELS]


def _title_and_summary(tokens: list[Token], *, fallback: str) -> tuple[str, str]:
    title, summary = fallback, ""
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1" and title == fallback:
            title = plain_text(tokens[index + 1])
        elif token.type == "paragraph_open" and title != fallback:
            summary = plain_text(tokens[index + 1])
            break
    return title, summary


def guide_link_target(href: str) -> tuple[str, str] | None:
    """(slug, fragment) when `href` is a relative link to another guide (`api.md#errors`), else None."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or parts.path.startswith("/") or not parts.path.endswith(".md"):
        return None
    return Path(parts.path).stem, parts.fragment


def _point_guide_links_to_help(tokens: list[Token]) -> None:
    for token in tokens:
        for child in token.children or []:
            if child.type != "link_open":
                continue
            target = guide_link_target(str(child.attrGet("href") or ""))
            if target is None:
                continue
            slug, fragment = target
            url = reverse("help:guide", kwargs={"slug": slug})
            child.attrSet("href", f"{url}#{fragment}" if fragment else url)
