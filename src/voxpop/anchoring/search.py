"""Finding a quote in a text without history: candidates, scores and the gates.

Candidates for a quote come from four searches, all restricted to the given windows:
exact occurrences; the quote inside bounded-error fuzzy matches of prefix + quote +
suffix (edlib, Myers' bit-vector algorithm, infix mode, ``k`` = ``Gates.fuzzy`` of the
length searched for); and, unless those found the passage in its context, fuzzy matches
of the quote alone across the text and near a hinted position. Fuzzy searches go in
chunks, each reporting its own best matches; the chunks beside the best candidate are
then searched again without it, so a near-twin next to it still counts as a rival.

Each candidate is scored against a reference quote: quote similarity ``q`` (normalised
edit distance, a transposition counting as one edit: "optimal string alignment"), prefix
and suffix similarity (Levenshtein; their mean is the context score ``ctx``) and
closeness to the hint, as ``score = (50·q + 40·ctx + 2·position) / 92``. ``choose``
accepts the best candidate only past explicit gates (``Gates``); otherwise the quote is
orphaned, or ambiguous when two candidates pass within ``Gates.margin`` of each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import edlib  # type: ignore[import-not-found, unused-ignore]
from rapidfuzz.distance import OSA, Levenshtein

from .selectors import TextQuote

__all__ = ["GATES", "Candidate", "Choice", "Gates", "Haystack", "choose", "gather"]


@dataclass(frozen=True, slots=True)
class Gates:
    """The thresholds a found passage must pass (the design's starting values)."""

    q_min: float = 0.80
    """Least similarity of the candidate's text to the quote."""
    ctx_min: float = 0.50
    """Least context score (mean similarity of prefix and suffix)."""
    score_min: float = 0.75
    """Least overall score."""
    margin: float = 0.04
    """Least lead of the best candidate's score over any other plausible candidate."""
    short: int = 8
    """Quotes shorter than this must be found exactly, with context on both sides."""
    long_exact: int = 32
    """Without history, a unique exact hit this long needs no context."""
    fuzzy: float = 0.20
    """Most edits, as a fraction of the quote's length, a fuzzy match may have."""


GATES = Gates()

_EXACT_LIMIT = 64  # exact occurrences examined per search; context search finds the rest
_MIN_CHUNK = 2048


@dataclass(frozen=True, slots=True)
class Candidate:
    """A span of the text that may be the quoted passage, with its scores."""

    start: int
    end: int
    quote: float
    prefix: float | None
    suffix: float | None
    context: float
    score: float


@dataclass(frozen=True, slots=True)
class Choice:
    """The outcome of ``choose``: the accepted candidate, or why there is none."""

    found: Candidate | None
    ambiguous: bool = False


class Haystack:
    """A text prepared for repeated edlib searches (one byte per character if possible)."""

    __slots__ = ("_codes", "_encoded", "_patterns", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        alphabet = sorted(set(text))
        self._codes: dict[str, int] | None = None
        self._encoded = b""
        self._patterns: dict[str, bytes] = {}
        if len(alphabet) <= 255:  # code 0 stands for every character absent from the text
            self._codes = {c: i + 1 for i, c in enumerate(alphabet)}
            table = {ord(c): i + 1 for i, c in enumerate(alphabet)}
            self._encoded = text.translate(table).encode("latin-1")

    def exact(self, quote: str, start: int, end: int) -> list[int]:
        """Start offsets of exact occurrences of ``quote`` in ``[start, end)``."""
        found: list[int] = []
        at = self.text.find(quote, start, end)
        while at >= 0 and len(found) < _EXACT_LIMIT:
            found.append(at)
            at = self.text.find(quote, at + 1, end)
        return found

    def fuzzy(self, query: str, start: int, end: int, k: int) -> list[tuple[int, int]]:
        """The best matches of ``query`` in ``[start, end)`` with at most ``k`` edits.

        The window is searched in overlapping chunks; each chunk reports the spans
        with its lowest edit distance.
        """
        size = len(query)
        chunk = _chunk(size, k)
        step = chunk - (size + k)
        found: list[tuple[int, int]] = []
        pattern: str | bytes = query
        if self._codes is not None:
            pattern = self._patterns.get(query) or self._encode(query)
        at = start
        while at < end:
            stop = min(end, at + chunk)
            if stop - at >= max(1, size - k):
                found.extend(self._align(pattern, query, at, stop, k))
            if stop == end:
                break
            at += step
        return found

    def _encode(self, query: str) -> bytes:
        assert self._codes is not None
        if len(self._patterns) > 64:
            self._patterns.clear()
        encoded = self._patterns[query] = bytes(self._codes.get(c, 0) for c in query)
        return encoded

    def _align(
        self, pattern: str | bytes, query: str, start: int, end: int, k: int
    ) -> list[tuple[int, int]]:
        if isinstance(pattern, bytes):
            target: str | bytes = self._encoded[start:end]
        else:  # more than 255 distinct characters: map those absent from the query to one
            pattern, target = _placeholder(query, self.text[start:end])
        result = edlib.align(pattern, target, mode="HW", task="locations", k=k)
        if result["editDistance"] < 0:
            return []
        return [(start + s, start + e + 1) for s, e in result["locations"] if s is not None]


def _chunk(size: int, k: int) -> int:
    return max(3 * (size + k), _MIN_CHUNK)


def _placeholder(query: str, target: str) -> tuple[str, str]:
    """Query and target over at most 256 symbols; the match stays exact if possible."""
    keep = sorted(set(query), key=query.count, reverse=True)[:255]
    other = next(chr(c) for c in range(0x10FFFF) if chr(c) not in keep)
    absent = re.compile("[^" + "".join(re.escape(c) for c in keep) + "]")
    return absent.sub(other, query), absent.sub(other, target)


def gather(
    hay: Haystack,
    quote: TextQuote,
    *,
    hint: int | None,
    windows: Sequence[tuple[int, int]] | None,
    gates: Gates = GATES,
) -> list[Candidate]:
    """Candidates for ``quote`` in ``hay``, searched only inside ``windows`` (or everywhere)."""
    text, exact = hay.text, quote.exact
    areas = [(0, len(text))] if windows is None else list(windows)
    spans: set[tuple[int, int]] = set()
    for low, high in areas:
        spans.update(_spans(hay, quote, low, high, None, gates, fuzzy=False))
    found = _score(text, quote, _best_per_region(text, exact, spans), hint)
    if not any(c.quote >= gates.q_min and c.context >= gates.ctx_min for c in found):
        # Nothing in context: the passage may have new neighbours, so search for it alone.
        for low, high in areas:
            spans.update(_spans(hay, quote, low, high, hint, gates, fuzzy=True))
        found = _score(text, quote, _best_per_region(text, exact, spans), hint)
    if found:
        # A chunk reports only its best matches: look again beside the best candidate,
        # so that a near-twin hidden by it can still count as a rival.
        best = max(found, key=lambda c: c.score)
        reach = _chunk(len(exact), max(1, int(len(exact) * gates.fuzzy)))
        for low, high in areas:
            for a, b in ((best.start - reach, best.start), (best.end, best.end + reach)):
                if max(low, a) < min(high, b):
                    spans.update(
                        _spans(hay, quote, max(low, a), min(high, b), None, gates, fuzzy=True)
                    )
        found = _score(text, quote, _best_per_region(text, exact, spans), hint)
    return found


def _spans(
    hay: Haystack,
    quote: TextQuote,
    low: int,
    high: int,
    hint: int | None,
    gates: Gates,
    *,
    fuzzy: bool,
) -> set[tuple[int, int]]:
    """Exact occurrences and matches in context; with ``fuzzy``, fuzzy matches alone too."""
    exact = quote.exact
    size = len(exact)
    k = max(1, int(size * gates.fuzzy))
    spans = {(at, at + size) for at in hay.exact(exact, low, high)}
    if quote.prefix or quote.suffix:
        spans.update(_in_context(hay, quote, low, high, gates))
    if fuzzy and size >= gates.short:
        spans.update(hay.fuzzy(exact, low, high, k))
        if hint is not None:
            near_low, near_high = max(low, hint - 2 * size - k), min(high, hint + 3 * size + k)
            if near_low < near_high:
                spans.update(hay.fuzzy(exact, near_low, near_high, k))
    return spans


def _in_context(
    hay: Haystack, quote: TextQuote, low: int, high: int, gates: Gates
) -> Iterable[tuple[int, int]]:
    full = quote.prefix + quote.exact + quote.suffix
    size, k_full = len(quote.exact), max(1, int(len(full) * gates.fuzzy))
    k = max(1, int(size * gates.fuzzy))
    for start, end in hay.fuzzy(full, low, high, k_full):
        inner_low = max(low, start + len(quote.prefix) - k_full)
        inner_high = min(high, end - len(quote.suffix) + k_full)
        if size < gates.short:
            yield from ((at, at + size) for at in hay.exact(quote.exact, inner_low, inner_high))
        elif inner_low < inner_high:
            yield from hay.fuzzy(quote.exact, inner_low, inner_high, k)


def _best_per_region(
    text: str, exact: str, spans: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Of overlapping spans keep the one most like the quote (then closest in length)."""
    best: list[tuple[int, int]] = []
    region_end = -1
    region: list[tuple[int, int]] = []

    def close() -> None:
        if region:
            best.append(
                max(
                    region,
                    key=lambda s: (
                        Levenshtein.normalized_similarity(exact, text[s[0] : s[1]]),
                        -abs(s[1] - s[0] - len(exact)),
                        -s[0],
                    ),
                )
            )

    for span in sorted(spans):
        if span[0] >= region_end:
            close()
            region = []
        region.append(span)
        region_end = max(region_end, span[1])
    close()
    return best


def _score(
    text: str, quote: TextQuote, spans: Sequence[tuple[int, int]], hint: int | None
) -> list[Candidate]:
    found = []
    length = max(len(text), 1)
    for start, end in spans:
        q = OSA.normalized_similarity(quote.exact, text[start:end])
        prefix = _side(quote.prefix, text[max(0, start - len(quote.prefix)) : start], start == 0)
        suffix = _side(quote.suffix, text[end : end + len(quote.suffix)], end == len(text))
        sides = [s for s in (prefix, suffix) if s is not None]
        context = sum(sides) / len(sides) if sides else 0.0
        position = 1.0 if hint is None else 1.0 - abs(start - hint) / length
        score = (50 * q + 40 * context + 2 * position) / 92
        found.append(Candidate(start, end, q, prefix, suffix, context, score))
    return found


def _side(stored: str, actual: str, at_edge: bool) -> float | None:
    """Similarity of a stored prefix or suffix; None when it says nothing."""
    if stored:
        return Levenshtein.normalized_similarity(stored, actual)
    return 1.0 if at_edge else None


def choose(
    candidates: Sequence[Candidate], size: int, *, unique_exact: bool, gates: Gates = GATES
) -> Choice:
    """Accept the best candidate for a quote of ``size`` code points, or none.

    Gates: ``q >= q_min``; ``ctx >= ctx_min`` and ``score >= score_min``; a quote shorter
    than ``short`` must match exactly with both prefix and suffix at ``ctx_min`` or
    better; the winner must lead every other plausible (``q >= q_min``) candidate by
    ``margin``. With ``unique_exact``, a quote of ``long_exact`` or more code points that
    has exactly one plausible candidate, an exact one, is accepted without context.
    """
    plausible = [c for c in candidates if c.quote >= gates.q_min]
    passing = [c for c in plausible if _passes(c, size, gates)]
    if not passing:
        if (
            unique_exact
            and size >= gates.long_exact
            and len(plausible) == 1
            and plausible[0].quote == 1.0
        ):
            return Choice(plausible[0])
        return Choice(None)
    best = max(passing, key=lambda c: c.score)
    rivals = [c.score for c in plausible if c.end <= best.start or c.start >= best.end]
    if rivals and best.score - max(rivals) < gates.margin:
        return Choice(None, ambiguous=True)
    return Choice(best)


def _passes(candidate: Candidate, size: int, gates: Gates) -> bool:
    if candidate.score < gates.score_min:
        return False
    if size < gates.short:
        return (
            candidate.quote == 1.0
            and candidate.prefix is not None
            and candidate.suffix is not None
            and min(candidate.prefix, candidate.suffix) >= gates.ctx_min
        )
    return candidate.context >= gates.ctx_min
