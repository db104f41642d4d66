"""Canonical text from HTML, and the editor's questions marked in it.

Uses only the standard library's ``html.parser``. Rules, in the order a browser-side
implementation must follow them to produce the same text:

* the content of ``head``, ``script``, ``style``, ``template``, ``noscript``, ``svg``,
  ``math``, ``iframe``, ``object``, ``canvas``, ``select`` and ``textarea`` is dropped;
* the start and end of a block element (``BLOCKS``) and every ``<hr>`` is a block
  boundary, ``\\n``; ``<br>`` is a space; other tags (inline) are transparent;
* character references are decoded as a browser decodes them in text;
* then the rules of ``canonical`` apply (NFC, folding, white space).

An editor places a question on a passage with
``<mark data-voxpop-question="Is this fair?">passage</mark>``; ``questions`` returns
each such passage in canonical coordinates.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from dataclasses import dataclass
from html.parser import HTMLParser

from .canonical import Builder, Canonical

__all__ = ["BLOCKS", "Question", "canonical_html", "questions"]

BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details"}
    | {"dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li"}
    | {"main", "menu", "nav", "ol", "optgroup", "option", "p", "pre", "section", "summary"}
    | {"table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
)
_DROPPED = frozenset(
    {"head", "script", "style", "template", "noscript", "svg", "math", "iframe", "object"}
    | {"canvas", "select", "textarea"}
)
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)
_REFERENCE = re.compile(r"&(?:#[xX][0-9a-fA-F]+|#[0-9]+|[a-zA-Z][-.a-zA-Z0-9]*);?")
QUESTION_ATTRIBUTE = "data-voxpop-question"


@dataclass(frozen=True, slots=True)
class Question:
    """An editor's question on the canonical passage ``[start, end)``."""

    question: str
    start: int
    end: int


class _Parser(HTMLParser):
    def __init__(self, raw: str) -> None:
        super().__init__(convert_charrefs=False)
        self.raw = raw
        self.builder = Builder(html=True)
        self.dropped: dict[str, int] = {}
        self.line_starts = [0]
        self.line_starts.extend(m.end() for m in re.finditer("\n", raw))
        self.marks: list[tuple[str, int] | None] = []
        self.spans: list[tuple[str, int, int]] = []

    def at(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def skipping(self) -> bool:
        return any(self.dropped.values())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            if tag not in _VOID:
                self.dropped[tag] = self.dropped.get(tag, 0) + 1
            return
        if self.skipping():
            return
        at = self.at()
        text = self.get_starttag_text() or ""
        if tag in BLOCKS:
            self.builder.block(at, at + len(text))
        elif tag == "br":
            self.builder.char(" ", at, at + len(text))
        elif tag == "mark":
            question = dict(attrs).get(QUESTION_ATTRIBUTE)
            self.marks.append((question.strip(), at + len(text)) if question else None)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            if self.dropped.get(tag):
                self.dropped[tag] -= 1
            return
        if self.skipping():
            return
        at = self.at()
        if tag in BLOCKS:
            end = self.raw.find(">", at)
            self.builder.block(at, len(self.raw) if end < 0 else end + 1)
        elif tag == "mark" and self.marks:
            opened = self.marks.pop()
            if opened is not None and opened[0]:
                self.spans.append((opened[0], opened[1], at))

    def handle_data(self, data: str) -> None:
        if not self.skipping():
            self.builder.text(data, self.at())

    def _reference(self) -> None:
        if self.skipping():
            return
        at = self.at()
        match = _REFERENCE.match(self.raw, at)
        end = match.end() if match else at + 1
        self.builder.char(html.unescape(self.raw[at:end]), at, end)

    def handle_entityref(self, name: str) -> None:
        self._reference()

    def handle_charref(self, name: str) -> None:
        self._reference()


def _parse(raw: str) -> _Parser:
    parser = _Parser(raw)
    parser.feed(raw)
    parser.close()
    return parser


def canonical_html(raw: str) -> Canonical:
    """The canonical text of an HTML document or fragment."""
    return _parse(raw).builder.finish()


def questions(raw: str) -> tuple[Canonical, list[Question]]:
    """The canonical text of ``raw`` and the editor's questions marked in it.

    Each question's span is the canonical text of its ``<mark>`` element, trimmed of
    white space; marks with an empty question or no text are skipped.
    """
    parser = _parse(raw)
    canonical = parser.builder.finish()
    text = canonical.text
    found: list[Question] = []
    for question, raw_start, raw_end in parser.spans:
        start = bisect_left(canonical.starts, raw_start)
        end = bisect_left(canonical.starts, raw_end)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            found.append(Question(question, start, end))
    return canonical, found
