"""Markdown subset → sanitised HTML, once at write time.

The renderer escapes raw HTML, then an allow-list sanitiser (nh3, ammonia) removes any tag,
attribute or URL scheme not listed below. Links get ``rel="nofollow ugc noopener"``.
Bump ``RENDERER`` when output changes; stored HTML of an older renderer is re-rendered.
"""

from __future__ import annotations

import re

import markdown_it
import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline.state_inline import StateInline
from markdown_it.rules_inline.text import _TerminatorChars

RENDERER = 1

TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr"}
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}

_md = MarkdownIt("commonmark", {"html": False, "breaks": True, "typographer": False})
_md.disable(["image", "heading", "lheading", "html_block", "html_inline"])

# markdown-it's own characters that may start markup (its ``text`` rule stops at them).
_PLAIN_RUN = re.compile("[^" + "".join(re.escape(c) for c in sorted(_TerminatorChars)) + "]+")


def _text(state: StateInline, silent: bool) -> bool:
    """markdown-it's ``text`` rule (a run of plain characters goes to the pending text)
    with one regular expression instead of a Python loop over the characters, where a
    comment's rendering spent a quarter of its time: the same tokens, the same HTML
    (compared on markdown-it-py 3.0's rule; another version keeps its own)."""
    run = _PLAIN_RUN.match(state.src, state.pos, state.posMax)
    if run is None:
        return False
    if not silent:
        state.pending += run.group()
    state.pos = run.end()
    return True


if markdown_it.__version__.startswith("3.0."):
    _md.inline.ruler.at("text", _text)

_ABSOLUTE = re.compile(r"^(https?://[^\s/?#]+|mailto:[^\s]+@)", re.IGNORECASE)


def _only_absolute_links(tag: str, attribute: str, value: str) -> str | None:
    """Keep a link only when it is an absolute http(s) or mailto URL: nothing relative or
    obfuscated (``java%09script:``) survives, whatever a browser might make of it."""
    if attribute == "href":
        return value if _ABSOLUTE.match(value) else None
    return value


_LINK = re.compile(r"https?://|mailto:", re.IGNORECASE)


def render(body: str) -> str:
    html = _md.render(body)
    cleaned: str = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel="nofollow ugc noopener",
        strip_comments=True,
        attribute_filter=_only_absolute_links,
    )
    return cleaned.strip()


def count_links(body: str) -> int:
    return len(_LINK.findall(body))
