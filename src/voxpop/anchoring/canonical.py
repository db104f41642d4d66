"""Canonical text: the one string that every anchor's offsets count in.

An article reaches voxpop as HTML or as plain text; readers select passages in a browser.
Both sides must agree on a single text, so both reduce what they see to the same
*canonical text*:

* block boundaries become one ``\\n`` (in plain text, every line break is one);
* every other run of white space, no-break spaces included, becomes one space, and white
  space at the start and end of the text and around a ``\\n`` is dropped;
* the text is in Unicode NFC;
* typographic variants are folded: curly single quotes to ``'``, curly double quotes to
  ``"``, hyphens, dashes and the minus sign to ``-``;
* invisible characters (soft hyphen, zero-width space, word joiner, byte-order mark) and
  control characters are removed.

Offsets into the canonical text are Unicode code points. Every canonical character keeps
the span of raw text it came from (``Canonical.raw_span``), so a position can be taken
back to the raw HTML or plain text.

This module handles plain text and the common machinery; ``html`` feeds HTML into it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Builder", "Canonical", "canonical_text", "fold"]

# One code point to one code point, so folding never moves an offset.
_FOLD = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark
        "\u201a": "'",  # single low-9 quotation mark
        "\u201b": "'",  # single high-reversed-9 quotation mark
        "\u201c": '"',  # left double quotation mark
        "\u201d": '"',  # right double quotation mark
        "\u201e": '"',  # double low-9 quotation mark
        "\u201f": '"',  # double high-reversed-9 quotation mark
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2015": "-",  # horizontal bar
        "\u2212": "-",  # minus sign
    }
)

# Removed outright: invisible formatting and C0/C1 controls that are not white space.
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff]+")

# Runs of white space that are not already a single space: those are rewritten.
_SPACE = re.compile(r"\s{2,}|[^\S ]|\A |\s\Z")

# Line breaks in plain text (everything ``str.splitlines`` splits on).
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

# In HTML, line breaks in text are ordinary white space.
_HTML_SPACE = str.maketrans(dict.fromkeys(_LINE_BREAKS, " "))


@dataclass(frozen=True, slots=True, eq=False)
class Canonical:
    """A canonical text with, for every character, the span of raw input it came from.

    ``starts[i]`` and ``ends[i]`` bound the raw text that produced ``text[i]``: one raw
    character, an HTML entity, a run of white space or the tag that closed a block.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.text)

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw span covering canonical ``[start, end)`` (``start < end``)."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) outside a text of {len(self.text)}")
        return self.starts[start], self.ends[end - 1]

    def from_raw(self, raw: int) -> int:
        """The canonical offset of the first character that starts at or after ``raw``."""
        return bisect_left(self.starts, raw)


class Builder:
    """Collects characters with their raw spans, then canonicalises them in one pass."""

    __slots__ = ("_chars", "_ends", "_html", "_starts")

    def __init__(self, *, html: bool) -> None:
        self._html = html
        self._chars: list[str] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    def text(self, data: str, raw_start: int) -> None:
        """Append ``data``, found verbatim in the raw input at ``raw_start``."""
        if self._html:
            data = data.translate(_HTML_SPACE)
        self._chars.append(data)
        self._starts.extend(range(raw_start, raw_start + len(data)))
        self._ends.extend(range(raw_start + 1, raw_start + len(data) + 1))

    def char(self, value: str, raw_start: int, raw_end: int) -> None:
        """Append ``value`` (an entity's expansion, a ``<br>``) made from a raw span."""
        if self._html:
            value = value.translate(_HTML_SPACE)
        self._chars.append(value)
        self._starts.extend([raw_start] * len(value))
        self._ends.extend([raw_end] * len(value))

    def block(self, raw_start: int, raw_end: int) -> None:
        """Append a block boundary, the tag at ``[raw_start, raw_end)``."""
        self._chars.append("\n")
        self._starts.append(raw_start)
        self._ends.append(raw_end)

    def finish(self) -> Canonical:
        """Normalise, fold and collapse white space; return the canonical text."""
        text = "".join(self._chars)
        starts, ends = self._starts, self._ends
        if not unicodedata.is_normalized("NFC", text):
            text, starts, ends = _nfc(text, starts, ends)
        text = text.translate(_FOLD)
        text, starts, ends = _rewrite(text, starts, ends, _INVISIBLE, lambda _m: "")
        size = len(text)

        def space(match: re.Match[str]) -> str:
            if match.start() == 0 or match.end() == size:
                return ""
            return "\n" if _LINE_BREAKS.intersection(match.group()) else " "

        text, starts, ends = _rewrite(text, starts, ends, _SPACE, space)
        return Canonical(text, tuple(starts), tuple(ends))


def canonical_text(raw: str) -> Canonical:
    """The canonical form of plain text: every line break ends a paragraph."""
    builder = Builder(html=False)
    builder.text(raw, 0)
    return builder.finish()


def fold(value: str) -> str:
    """Canonicalise a short plain string (a quote, a question) without keeping offsets."""
    return canonical_text(value).text


def _rewrite(
    text: str,
    starts: Sequence[int],
    ends: Sequence[int],
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], str],
) -> tuple[str, list[int], list[int]]:
    """Replace every match of ``pattern``; a replacement spans its whole match."""
    parts: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    done = 0
    for match in pattern.finditer(text):
        begin, stop = match.span()
        value = replace(match)
        if value == match.group():
            continue
        parts.append(text[done:begin])
        new_starts.extend(starts[done:begin])
        new_ends.extend(ends[done:begin])
        parts.append(value)
        new_starts.extend([starts[begin]] * len(value))
        new_ends.extend([ends[stop - 1]] * len(value))
        done = stop
    if done == 0:
        return text, list(starts), list(ends)
    parts.append(text[done:])
    new_starts.extend(starts[done:])
    new_ends.extend(ends[done:])
    return "".join(parts), new_starts, new_ends


def _nfc(text: str, starts: Sequence[int], ends: Sequence[int]) -> tuple[str, list[int], list[int]]:
    """NFC-normalise line by line; changed characters map to the raw span they replace."""
    parts: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    offset = 0
    for line in text.split("\n"):
        normal = unicodedata.normalize("NFC", line)
        line_starts = starts[offset : offset + len(line)]
        line_ends = ends[offset : offset + len(line)]
        if normal == line:
            new_starts.extend(line_starts)
            new_ends.extend(line_ends)
        else:
            matcher = difflib.SequenceMatcher(None, line, normal, autojunk=False)
            for op, i1, i2, j1, j2 in matcher.get_opcodes():
                if op == "equal":
                    new_starts.extend(line_starts[i1:i2])
                    new_ends.extend(line_ends[i1:i2])
                elif j2 > j1:
                    # Composed characters: each covers the whole changed raw stretch.
                    low = line_starts[i1] if i2 > i1 else _at(line_starts, line_ends, i1)
                    high = line_ends[i2 - 1] if i2 > i1 else low
                    new_starts.extend([low] * (j2 - j1))
                    new_ends.extend([high] * (j2 - j1))
        parts.append(normal)
        offset += len(line)
        if offset < len(text):  # the "\n" that split this line from the next
            parts.append("\n")
            new_starts.append(starts[offset])
            new_ends.append(ends[offset])
            offset += 1
    return "".join(parts), new_starts, new_ends


def _at(starts: Sequence[int], ends: Sequence[int], index: int) -> int:
    """The raw offset just before ``index`` (used for pure insertions)."""
    if index < len(starts):
        return starts[index]
    return ends[-1] if ends else 0
