"""Offsets in code points (voxpop, Python) and in UTF-16 code units (browsers, JavaScript).

A character outside the Basic Multilingual Plane (most emoji, some CJK) is one code point
but two UTF-16 units. ``Utf16`` precomputes where those characters are, so converting
many offsets in the same text costs a binary search each.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

__all__ = ["Utf16", "from_utf16", "to_utf16", "utf16_length"]

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class Utf16:
    """Converts offsets into one text between code points and UTF-16 units."""

    __slots__ = ("_astral", "_astral_units", "_length", "_units")

    def __init__(self, text: str) -> None:
        self._astral = [m.start() for m in _ASTRAL.finditer(text)]
        # The UTF-16 offset at which each astral character starts.
        self._astral_units = [index + n for n, index in enumerate(self._astral)]
        self._length = len(text)
        self._units = len(text) + len(self._astral)

    @property
    def units(self) -> int:
        """The length of the text in UTF-16 units."""
        return self._units

    def to_utf16(self, offset: int) -> int:
        """The UTF-16 offset of code point offset ``offset`` (``0 <= offset <= len``)."""
        if not 0 <= offset <= self._length:
            raise ValueError(f"offset {offset} outside a text of {self._length} code points")
        return offset + bisect_left(self._astral, offset)

    def from_utf16(self, offset: int) -> int:
        """The code point offset of UTF-16 offset ``offset``.

        Raises ``ValueError`` if ``offset`` is out of range or falls between the two
        halves of a surrogate pair.
        """
        if not 0 <= offset <= self._units:
            raise ValueError(f"offset {offset} outside a text of {self._units} UTF-16 units")
        before = bisect_right(self._astral_units, offset - 1)
        if before and self._astral_units[before - 1] == offset - 1:
            raise ValueError(f"UTF-16 offset {offset} splits a surrogate pair")
        return offset - before


def utf16_length(text: str) -> int:
    """The length of ``text`` in UTF-16 code units."""
    return len(text) + len(_ASTRAL.findall(text))


def to_utf16(text: str, offset: int) -> int:
    """Convert one code point offset into ``text`` to UTF-16 units."""
    return Utf16(text).to_utf16(offset)


def from_utf16(text: str, offset: int) -> int:
    """Convert one UTF-16 offset into ``text`` to code points."""
    return Utf16(text).from_utf16(offset)
