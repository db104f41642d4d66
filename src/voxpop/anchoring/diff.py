"""The difference between two revisions of a canonical text, as an offset map.

``Diff(old, new)`` matches paragraphs (split on ``\n``) first, then characters:

1. paragraphs are matched whole, by content: first in order (the longest common
   subsequence of paragraphs), then out of order, so a paragraph that moved is found
   wherever it went;
2. the paragraphs left over between two matched ones are paired by similarity, in order
   (edited, or one contains most of the other: a sentence added or cut), and each pair is
   aligned character by character (``align.carried``);
3. a paragraph left over that is nearly the same, in text and in length (``MOVED_MIN``),
   as exactly one left over elsewhere moved and was edited: aligned likewise.

Anything else left over was deleted, or inserted.

The result is a list of ``Block``: ``old[b.old : b.old + b.size]`` *is*
``new[b.new : b.new + b.size]``, the same characters carried over. A character of the new
text outside every block was inserted by the edit; one of the old text outside every
block was deleted. ``forward`` follows a span of the old text into the new one and
``backward`` tells where a span of the new text came from (its provenance).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from rapidfuzz.distance import Levenshtein

from .align import carried

__all__ = ["CONTAINED_MIN", "MOVED_MIN", "PAIR_MIN", "Block", "Diff"]

PAIR_MIN = 0.6
"""Least similarity (normalised Levenshtein) for two paragraphs to count as one edited."""
MOVED_MIN = 0.85
"""Least similarity, and length ratio, for a paragraph that moved and changed."""
_MOVED_LENGTH = 40
CONTAINED_MIN = 0.7
"""Or: least share of the shorter paragraph found in the longer (a sentence added or cut)."""
_SHINGLE = 8

_FULL_PAIRING = 2_500  # gaps up to this many paragraph pairs are paired exhaustively
_BAND = 12  # otherwise only pairs this close to the diagonal are considered
_DP_LIMIT = 250_000  # above this, pairs are chosen greedily instead of by dynamic programming


@dataclass(frozen=True, slots=True)
class Block:
    """``size`` characters carried over from ``old`` offset ``old`` to ``new`` offset ``new``."""

    old: int
    new: int
    size: int


@dataclass(slots=True)
class _Paragraphs:
    texts: list[str]
    starts: list[int]

    @classmethod
    def split(cls, text: str) -> _Paragraphs:
        texts = text.split("\n")
        starts, at = [], 0
        for paragraph in texts:
            starts.append(at)
            at += len(paragraph) + 1
        return cls(texts, starts)

    def end(self, index: int) -> int:
        return self.starts[index] + len(self.texts[index])

    def last(self, index: int) -> bool:
        return index == len(self.texts) - 1


class Diff:
    """The offset map from ``old`` to ``new``; see the module docstring."""

    __slots__ = ("_by_new", "_new_starts", "_old_starts", "blocks", "identical", "new", "old")

    def __init__(self, old: str, new: str) -> None:
        self.old = old
        self.new = new
        self.identical = old == new
        if self.identical:
            found = [Block(0, 0, len(old))] if old else []
        else:
            found = _merge(_blocks(old, new))
        self.blocks: tuple[Block, ...] = tuple(found)
        self._old_starts = [b.old for b in self.blocks]
        self._by_new = sorted(self.blocks, key=lambda b: b.new)
        self._new_starts = [b.new for b in self._by_new]

    def containing(self, start: int, end: int) -> Block | None:
        """The block that carries all of old ``[start, end)`` over unchanged, if any."""
        index = bisect_right(self._old_starts, start) - 1
        if index >= 0:
            block = self.blocks[index]
            if block.old + block.size >= end:
                return block
        return None

    def forward(self, start: int, end: int) -> Iterator[Block]:
        """The pieces of old ``[start, end)`` that survive, in old order."""
        return _clip(self.blocks, self._old_starts, start, end, new=False)

    def backward(self, start: int, end: int) -> Iterator[Block]:
        """The pieces of new ``[start, end)`` that existed in the old text, in new order."""
        return _clip(self._by_new, self._new_starts, start, end, new=True)

    def to_new(self, offset: int) -> int:
        """Where old ``offset`` would be in the new text (nearest surviving neighbour)."""
        index = bisect_right(self._old_starts, offset) - 1
        if index < 0:
            return 0
        block = self.blocks[index]
        return block.new + min(offset - block.old, block.size)

    def inserted(self) -> list[tuple[int, int]]:
        """The spans of the new text that did not exist in the old one."""
        spans, at = [], 0
        for block in self._by_new:
            if block.new > at:
                spans.append((at, block.new))
            at = max(at, block.new + block.size)
        if at < len(self.new):
            spans.append((at, len(self.new)))
        return spans


def _clip(
    blocks: Sequence[Block], starts: Sequence[int], start: int, end: int, *, new: bool
) -> Iterator[Block]:
    index = max(bisect_right(starts, start) - 1, 0)
    while index < len(blocks):
        block = blocks[index]
        at = block.new if new else block.old
        if at >= end:
            return
        low, high = max(start, at), min(end, at + block.size)
        if low < high:
            shift = low - at
            yield Block(block.old + shift, block.new + shift, high - low)
        index += 1


def _blocks(old: str, new: str) -> list[Block]:
    a, b = _Paragraphs.split(old), _Paragraphs.split(new)
    blocks: list[Block] = []

    def carry(i: int, j: int, count: int) -> None:
        """Paragraphs a[i : i+count] are b[j : j+count], with the breaks between them."""
        size = a.end(i + count - 1) - a.starts[i]
        if not a.last(i + count - 1) and not b.last(j + count - 1):
            size += 1
        blocks.append(Block(a.starts[i], b.starts[j], size))

    matcher = SequenceMatcher(None, a.texts, b.texts, autojunk=False)
    gaps: list[tuple[list[int], list[int]]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            carry(i1, j1, i2 - i1)
        else:
            gaps.append((list(range(i1, i2)), list(range(j1, j2))))

    # Moved paragraphs: identical text, out of order.
    left: dict[str, list[int]] = defaultdict(list)
    for olds, _ in gaps:
        for i in olds:
            if a.texts[i]:
                left[a.texts[i]].append(i)
    moved_old: set[int] = set()
    moved_new: set[int] = set()
    for _, news in gaps:
        for j in news:
            candidates = left.get(b.texts[j])
            if candidates:
                i = candidates.pop(0)
                carry(i, j, 1)
                moved_old.add(i)
                moved_new.add(j)

    def align(i: int, j: int) -> None:
        """Paragraph a[i] was edited into b[j]: carry over what the alignment keeps."""
        x, y = a.texts[i], b.texts[j]
        if not a.last(i) and not b.last(j):
            x, y = x + "\n", y + "\n"
        blocks.extend(Block(a.starts[i] + p, b.starts[j] + q, n) for p, q, n in carried(x, y))

    # Edited paragraphs: paired by similarity inside each gap, then aligned by character.
    unpaired_old: list[int] = []
    unpaired_new: list[int] = []
    for olds, news in gaps:
        rest_old = [i for i in olds if i not in moved_old]
        rest_new = [j for j in news if j not in moved_new]
        pairs = _pair([a.texts[i] for i in rest_old], [b.texts[j] for j in rest_new])
        for i, j in pairs:
            align(rest_old[i], rest_new[j])
        unpaired_old += [x for n, x in enumerate(rest_old) if n not in {i for i, _ in pairs}]
        unpaired_new += [y for n, y in enumerate(rest_new) if n not in {j for _, j in pairs}]

    # Paragraphs that moved and were edited lightly: nearly the same text and length.
    for i, j in _moved(unpaired_old, unpaired_new, a.texts, b.texts):
        align(i, j)
    return blocks


def _moved(
    olds: Sequence[int], news: Sequence[int], a: Sequence[str], b: Sequence[str]
) -> list[tuple[int, int]]:
    """Mutually best, unrivalled pairs of at least MOVED_MIN similarity and similar length."""
    if not olds or not news or len(olds) * len(news) > _FULL_PAIRING:
        return []
    score: dict[tuple[int, int], float] = {}
    for i in olds:
        for j in news:
            x, y = a[i], b[j]
            if min(len(x), len(y)) < _MOVED_LENGTH or min(len(x), len(y)) < MOVED_MIN * max(
                len(x), len(y)
            ):
                continue
            similarity = Levenshtein.normalized_similarity(x, y, score_cutoff=MOVED_MIN)
            if similarity >= MOVED_MIN:
                score[i, j] = similarity
    pairs = []
    for (i, j), value in score.items():
        rivals = [v for (p, q), v in score.items() if (p == i) != (q == j)]
        if all(v < value - 0.05 for v in rivals):
            pairs.append((i, j))
    return pairs


def _pair(olds: Sequence[str], news: Sequence[str]) -> list[tuple[int, int]]:
    """Pair old and new paragraphs in order, maximising total similarity above PAIR_MIN."""
    n, m = len(olds), len(news)
    if not n or not m:
        return []
    shingles: dict[str, set[str]] = {}
    if n == m and all(_similarity(x, y, shingles) for x, y in zip(olds, news, strict=True)):
        return [(i, i) for i in range(n)]  # every paragraph edited in place
    full = n * m <= _FULL_PAIRING
    score: dict[tuple[int, int], float] = {}
    for i in range(n):
        if full:
            columns = range(m)
        else:
            centre = i * m // n
            columns = range(
                max(0, centre - _BAND - abs(n - m)), min(m, centre + _BAND + abs(n - m) + 1)
            )
        for j in columns:
            similarity = _similarity(olds[i], news[j], shingles)
            if similarity:
                score[i, j] = similarity
    if not score:
        return []
    if n * m > _DP_LIMIT:  # huge rewrites: greedy, in order
        greedy: list[tuple[int, int]] = []
        for i, j in sorted(score):
            if not greedy or (i > greedy[-1][0] and j > greedy[-1][1]):
                greedy.append((i, j))
        return greedy
    # Longest-path over the grid: best[i][j] is the best total using olds[:i], news[:j].
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, above = best[i], best[i - 1]
        for j in range(1, m + 1):
            value = max(above[j], row[j - 1])
            pair = score.get((i - 1, j - 1))
            if pair is not None and above[j - 1] + pair > value:
                value = above[j - 1] + pair
            row[j] = value
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i and j:
        pair = score.get((i - 1, j - 1))
        if pair is not None and best[i][j] == best[i - 1][j - 1] + pair:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    pairs.reverse()
    return pairs


def _similarity(x: str, y: str, shingles: dict[str, set[str]]) -> float:
    """How surely ``y`` is ``x`` edited: 0, or a score from PAIR_MIN to 1.

    Normalised Levenshtein similarity if at least PAIR_MIN; else, for a paragraph that
    gained or lost a sentence, the share of the shorter one's 8-character shingles found in
    the longer one, if at least CONTAINED_MIN (scaled into [PAIR_MIN, 1]).
    """
    if min(len(x), len(y)) >= PAIR_MIN * max(len(x), len(y)):
        similarity = Levenshtein.normalized_similarity(x, y, score_cutoff=PAIR_MIN)
        if similarity >= PAIR_MIN:
            return similarity
    if min(len(x), len(y)) < _SHINGLE * 3 or min(len(x), len(y)) > 0.85 * max(len(x), len(y)):
        return 0.0  # too short to tell, or too alike in length to have gained a sentence
    sx, sy = _shingles(x, shingles), _shingles(y, shingles)
    contained = len(sx & sy) / min(len(sx), len(sy))
    if contained < CONTAINED_MIN:
        return 0.0
    return PAIR_MIN + (1 - PAIR_MIN) * (contained - CONTAINED_MIN) / (1 - CONTAINED_MIN)


def _shingles(text: str, cache: dict[str, set[str]]) -> set[str]:
    found = cache.get(text)
    if found is None:
        found = cache[text] = {text[i : i + _SHINGLE] for i in range(len(text) - _SHINGLE + 1)}
    return found


def _merge(blocks: list[Block]) -> list[Block]:
    """Sort by old offset and join blocks that continue one another in both texts."""
    merged: list[Block] = []
    for block in sorted(blocks, key=lambda b: b.old):
        if block.size <= 0:
            continue
        if merged:
            last = merged[-1]
            if last.old + last.size == block.old and last.new + last.size == block.new:
                merged[-1] = Block(last.old, last.new, last.size + block.size)
                continue
        merged.append(block)
    return merged
