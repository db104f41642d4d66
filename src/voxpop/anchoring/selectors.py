"""W3C selectors for a passage of canonical text, and their validation.

An anchor on the wire is ``{"selector": [...]}`` holding a ``TextQuoteSelector``
(``exact``, ``prefix``, ``suffix``), a ``TextPositionSelector`` (``start``, ``end``,
code points of the canonical text), or both. ``parse`` accepts untrusted JSON and either
returns ``Selectors`` or raises ``AnchorError`` naming the offending field:

* the anchor is an object with exactly one key, ``selector``, a list of 1 to
  ``MAX_SELECTORS`` objects, each with a ``type`` and no keys beyond its type's;
* at most one selector of each type; other types (``RangeSelector``, ...) are refused;
* ``exact`` is a non-empty string of at most ``MAX_QUOTE`` code points, ``prefix`` and
  ``suffix`` (optional, default empty) at most ``MAX_CONTEXT``; no lone surrogates;
* ``start`` and ``end`` are integers (not booleans) with
  ``0 <= start < end <= MAX_OFFSET`` and ``end - start <= MAX_QUOTE``;
* with both selectors, ``end - start`` equals the length of ``exact``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTEXT",
    "MAX_CONTEXT",
    "MAX_OFFSET",
    "MAX_QUOTE",
    "MAX_SELECTORS",
    "AnchorError",
    "Selectors",
    "TextPosition",
    "TextQuote",
    "make",
    "parse",
    "to_json",
]

MAX_QUOTE = 2_000
"""Longest passage, in code points (a few paragraphs)."""
MAX_CONTEXT = 64
"""Longest accepted prefix or suffix, in code points."""
MAX_SELECTORS = 4
"""Most selectors in one anchor."""
MAX_OFFSET = 10_000_000
"""Largest accepted position: no article's canonical text is longer."""
CONTEXT = 32
"""Code points of prefix and suffix that ``make`` stores."""

QUOTE_TYPE = "TextQuoteSelector"
POSITION_TYPE = "TextPositionSelector"


class AnchorError(ValueError):
    """An anchor that cannot be accepted; ``field`` names where (``selector[0].end``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class TextQuote:
    """The passage's text and up to ``CONTEXT`` code points either side of it."""

    exact: str
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class TextPosition:
    """The passage as code point offsets ``[start, end)`` into the canonical text."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Selectors:
    """A passage described by a quote, a position, or (as voxpop stores them) both."""

    quote: TextQuote | None = None
    position: TextPosition | None = None

    def __post_init__(self) -> None:
        if self.quote is None and self.position is None:
            raise AnchorError("selector", "needs a TextQuoteSelector or a TextPositionSelector")


def make(text: str, start: int, end: int, context: int = CONTEXT) -> Selectors:
    """Both selectors for ``text[start:end]``, with ``context`` code points either side."""
    if not 0 <= start < end <= len(text):
        raise AnchorError("selector", f"[{start}, {end}) is not a passage of the text")
    if end - start > MAX_QUOTE:
        raise AnchorError("selector", f"a passage is at most {MAX_QUOTE} characters")
    quote = TextQuote(
        text[start:end], text[max(0, start - context) : start], text[end : end + context]
    )
    return Selectors(quote, TextPosition(start, end))


def to_json(selectors: Selectors) -> dict[str, list[dict[str, Any]]]:
    """The anchor object ``{"selector": [...]}``; ``parse(to_json(s)) == s``."""
    items: list[dict[str, Any]] = []
    if selectors.quote is not None:
        q = selectors.quote
        items.append({"type": QUOTE_TYPE, "exact": q.exact, "prefix": q.prefix, "suffix": q.suffix})
    if selectors.position is not None:
        p = selectors.position
        items.append({"type": POSITION_TYPE, "start": p.start, "end": p.end})
    return {"selector": items}


def parse(anchor: object) -> Selectors:
    """Validate an untrusted anchor object (decoded JSON); see the module's rules."""
    if not isinstance(anchor, dict):
        raise AnchorError("anchor", "must be an object")
    extra = set(anchor) - {"selector"}
    if extra:
        raise AnchorError(str(sorted(map(str, extra))[0]), "unknown key")
    items = anchor.get("selector")
    if not isinstance(items, list):
        raise AnchorError("selector", "must be a list of selectors")
    if not 1 <= len(items) <= MAX_SELECTORS:
        raise AnchorError("selector", f"must hold 1 to {MAX_SELECTORS} selectors")
    quote: TextQuote | None = None
    position: TextPosition | None = None
    for index, item in enumerate(items):
        where = f"selector[{index}]"
        if not isinstance(item, dict):
            raise AnchorError(where, "must be an object")
        kind = item.get("type")
        if kind == QUOTE_TYPE:
            if quote is not None:
                raise AnchorError(where, "a second TextQuoteSelector")
            quote = _quote(item, where)
        elif kind == POSITION_TYPE:
            if position is not None:
                raise AnchorError(where, "a second TextPositionSelector")
            position = _position(item, where)
        elif isinstance(kind, str):
            raise AnchorError(f"{where}.type", f"unsupported selector type {kind[:40]!r}")
        else:
            raise AnchorError(f"{where}.type", "must be a string")
    if quote is not None and position is not None and len(position) != len(quote.exact):
        raise AnchorError("selector", "the position's length differs from the quote's")
    return Selectors(quote, position)


def _keys(item: dict[Any, Any], allowed: set[str], where: str) -> None:
    extra = set(item) - allowed
    if extra:
        raise AnchorError(f"{where}.{sorted(map(str, extra))[0][:40]}", "unknown key")


def _string(item: dict[Any, Any], key: str, where: str, limit: int, *, required: bool) -> str:
    field = f"{where}.{key}"
    if key not in item:
        if required:
            raise AnchorError(field, "is required")
        return ""
    value = item[key]
    if not isinstance(value, str):
        raise AnchorError(field, "must be a string")
    if len(value) > limit:
        raise AnchorError(field, f"must be at most {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AnchorError(field, "is not valid Unicode (lone surrogate)") from None
    return value


def _quote(item: dict[Any, Any], where: str) -> TextQuote:
    _keys(item, {"type", "exact", "prefix", "suffix"}, where)
    exact = _string(item, "exact", where, MAX_QUOTE, required=True)
    if not exact:
        raise AnchorError(f"{where}.exact", "must not be empty")
    prefix = _string(item, "prefix", where, MAX_CONTEXT, required=False)
    suffix = _string(item, "suffix", where, MAX_CONTEXT, required=False)
    return TextQuote(exact, prefix, suffix)


def _offset(item: dict[Any, Any], key: str, where: str) -> int:
    field = f"{where}.{key}"
    if key not in item:
        raise AnchorError(field, "is required")
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnchorError(field, "must be an integer")
    if not 0 <= value <= MAX_OFFSET:
        raise AnchorError(field, f"must be between 0 and {MAX_OFFSET}")
    return int(value)


def _position(item: dict[Any, Any], where: str) -> TextPosition:
    _keys(item, {"type", "start", "end"}, where)
    start = _offset(item, "start", where)
    end = _offset(item, "end", where)
    if end <= start:
        raise AnchorError(f"{where}.end", "must be greater than start")
    if end - start > MAX_QUOTE:
        raise AnchorError(f"{where}.end", f"a passage is at most {MAX_QUOTE} characters")
    return TextPosition(start, end)
