"""Re-anchoring feedback after an edit (diff first, verify second), and locating without history.

``reanchor(old, new, notes)`` diffs the two revisions once, then for every note:

1. **Fast path** (``Method.UNCHANGED``): the passage and ``CONTEXT`` characters either
   side were carried over unchanged by one block of the diff; map the offsets.
2. **Followed** (``Method.DIFF``): at least half of the passage's characters survive
   together; the new passage is their span, widened over characters that replaced lost
   ones at its edges (and over new letters, to a word boundary where it had one), if it
   still resembles the *original* quote: ``q >= Gates.q_min``,
   or a single edit (typo, transposition) in a quote of three or more characters.
3. Otherwise the passage was deleted or rewritten: **orphaned**. It does not jump to text
   that the same revision inserted elsewhere: by the diff that text is new, a copy, and
   a moved paragraph would have been matched whole.
4. **Re-check** (``Method.EXACT`` / ``FUZZY``): a note already orphaned (or ambiguous) on
   the old revision searches the text this revision inserted: text can come back.
   **Provenance** drops every candidate of which half or more existed before the edit,
   which was there when the note was orphaned and so is a different passage; the rest
   must pass every gate of ``search.choose``, context included (no exception for a long
   exact quote: without its context it is a copy), and must match better than anything
   in the old text (else it is a copy of a passage already judged different).

``locate(text, selectors)`` (``Locator`` for many) finds a passage in a text with no
history, such as a page's text posted by the widget: the quote verified at its position;
else, given the ``base`` revision the selectors are valid for, followed through a diff of
the two texts (steps 1 and 2); else the gated search over the whole text. It never
returns a passage that is not the quote or close to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz.distance import OSA

from .diff import Block, Diff
from .search import GATES, Candidate, Gates, Haystack, choose, gather
from .selectors import CONTEXT, Selectors, TextQuote, make

__all__ = ["Locator", "Method", "Note", "Result", "State", "locate", "reanchor"]


class State(StrEnum):
    """Where a note stands on a revision."""

    ANCHORED = "anchored"
    """Found; the passage reads exactly as the original quote."""
    MODIFIED = "modified"
    """Found, but the passage's text changed since the reader quoted it."""
    ORPHANED = "orphaned"
    """The passage is gone (or changed beyond recognition)."""
    AMBIGUOUS = "ambiguous"
    """Several passages fit equally well; none is chosen."""


class Method(StrEnum):
    """How a note was found (``NONE`` when it was not)."""

    UNCHANGED = "unchanged"
    DIFF = "diff"
    POSITION = "position"
    EXACT = "exact"
    FUZZY = "fuzzy"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Note:
    """A note to re-anchor: as the reader made it, and as valid for the old revision.

    ``current`` is None for a note that is orphaned or ambiguous on the old revision.
    """

    original: Selectors
    current: Selectors | None


@dataclass(frozen=True, slots=True)
class Result:
    """A note's state on the new revision and, when found, its selectors there."""

    state: State
    selectors: Selectors | None
    method: Method
    score: float | None = None

    @property
    def found(self) -> bool:
        return self.selectors is not None


def _state(text: str, reference: TextQuote | None) -> State:
    if reference is None or text == reference.exact:
        return State.ANCHORED
    return State.MODIFIED


def _lost(score: float | None = None, *, ambiguous: bool = False) -> Result:
    return Result(State.AMBIGUOUS if ambiguous else State.ORPHANED, None, Method.NONE, score)


def _from_candidate(text: str, found: Candidate, reference: TextQuote) -> Result:
    method = Method.EXACT if found.quote == 1.0 else Method.FUZZY
    passage = text[found.start : found.end]
    return Result(
        _state(passage, reference), make(text, found.start, found.end), method, found.score
    )


def reanchor(old: str, new: str, notes: Sequence[Note], *, gates: Gates = GATES) -> list[Result]:
    """The result for each note (same order) after ``old`` became ``new``; one diff in all."""
    return _Reanchor(Diff(old, new), gates).run(notes)


class _Reanchor:
    def __init__(self, diff: Diff, gates: Gates) -> None:
        self.diff = diff
        self.gates = gates
        self._hay: Haystack | None = None
        self._old_hay: Haystack | None = None
        self._inserted: list[tuple[int, int]] | None = None

    @property
    def hay(self) -> Haystack:
        if self._hay is None:
            self._hay = Haystack(self.diff.new)
        return self._hay

    def run(self, notes: Sequence[Note]) -> list[Result]:
        return [self.one(note) for note in notes]

    def one(self, note: Note) -> Result:
        reference = note.original.quote or (note.current.quote if note.current else None)
        span = _span(self.diff.old, note.current) if note.current else None
        if span is None:
            return self.search(reference)
        return self.through(span, reference) or _lost()

    def through(self, span: tuple[int, int], reference: TextQuote | None) -> Result | None:
        """The passage ``span`` of the old text, followed through the diff; None if gone."""
        old, new = self.diff.old, self.diff.new
        start, end = span
        block = self.diff.containing(max(0, start - CONTEXT), min(len(old), end + CONTEXT))
        if block is not None:
            at = block.new + start - block.old
            passage = new[at : at + end - start]
            selectors = make(new, at, at + end - start)
            return Result(_state(passage, reference), selectors, Method.UNCHANGED, 1.0)
        if reference is None:  # a bare position can only follow unchanged text
            return None
        survivors = list(self.diff.forward(start, end))
        pieces = _cluster(survivors, end - start)
        if 2 * sum(p.size for p in pieces) < end - start:
            return None  # deleted or rewritten: text new elsewhere is not this passage
        return self.follow(pieces, survivors, start, end, reference)

    def follow(
        self,
        pieces: list[Block],
        survivors: list[Block],
        start: int,
        end: int,
        reference: TextQuote,
    ) -> Result:
        """The surviving characters, widened over replacements at the passage's edges."""
        new = self.diff.new
        low = min(p.new for p in pieces)
        high = max(p.new + p.size for p in pieces)
        # Characters lost at the passage's very edges (not merely left in another cluster).
        lost_before = pieces[0].old - start if pieces[0] is survivors[0] else 0
        lost_after = end - pieces[-1].old - pieces[-1].size if pieces[-1] is survivors[-1] else 0
        if lost_before:
            floor = max(
                [b.new + b.size for b in self.diff.backward(max(0, low - lost_before), low)],
                default=0,
            )
            low = max(low - lost_before, floor)
        if lost_after:
            ceiling = min(
                [b.new for b in self.diff.backward(high, high + lost_after)], default=len(new)
            )
            high = min(high + lost_after, ceiling)
        low, high = self._whole_words(start, end, low, high)
        passage = new[low:high]
        q = OSA.normalized_similarity(reference.exact, passage)
        typo = len(reference.exact) >= 3 and OSA.distance(reference.exact, passage) <= 1
        if (q < self.gates.q_min and not typo) or not passage.strip():
            return _lost(q)
        return Result(_state(passage, reference), make(new, low, high), Method.DIFF, q)

    def _whole_words(self, start: int, end: int, low: int, high: int) -> tuple[int, int]:
        """A passage that began (ended) on a word boundary does so again, over new letters."""
        old, new = self.diff.old, self.diff.new

        def inserted(at: int) -> bool:
            return new[at].isalnum() and next(self.diff.backward(at, at + 1), None) is None

        if start == 0 or not old[start - 1].isalnum():
            while low > 0 and inserted(low - 1):
                low -= 1
        if end == len(old) or not old[end].isalnum():
            while high < len(new) and inserted(high):
                high += 1
        return low, high

    def search(self, reference: TextQuote | None) -> Result:
        """An orphan's search of the inserted text; mostly older candidates are dropped."""
        if reference is None:
            return _lost()
        windows = self._windows(len(reference.exact))
        if not windows:
            return _lost()
        candidates = [
            c
            for c in gather(self.hay, reference, hint=None, windows=windows, gates=self.gates)
            if not self._older(c)
        ]
        choice = choose(candidates, len(reference.exact), unique_exact=False, gates=self.gates)
        if choice.found is None:
            return _lost(ambiguous=choice.ambiguous)
        if self._already_there(reference, choice.found):
            return _lost()
        return _from_candidate(self.diff.new, choice.found, reference)

    def _already_there(self, reference: TextQuote, found: Candidate) -> bool:
        """Did the old text match as well? Then ``found`` copies a passage rejected before."""
        if self._old_hay is None:
            self._old_hay = Haystack(self.diff.old)
        rivals = gather(self._old_hay, reference, hint=None, windows=None, gates=self.gates)
        return any(
            c.quote >= self.gates.q_min and c.score > found.score - self.gates.margin
            for c in rivals
        )

    def _older(self, candidate: Candidate) -> bool:
        """Did half or more of the candidate exist before the edit (as another passage)?"""
        older = sum(piece.size for piece in self.diff.backward(candidate.start, candidate.end))
        return 2 * older >= candidate.end - candidate.start

    def _windows(self, size: int) -> list[tuple[int, int]]:
        if self._inserted is None:
            self._inserted = self.diff.inserted()
        pad = size + max(1, int(size * self.gates.fuzzy)) + 2 * CONTEXT
        windows: list[tuple[int, int]] = []
        for low, high in self._inserted:
            low, high = max(0, low - pad), min(len(self.diff.new), high + pad)
            if windows and low <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(windows[-1][1], high))
            else:
                windows.append((low, high))
        return windows


def _span(text: str, selectors: Selectors) -> tuple[int, int] | None:
    """The note's span in ``text`` (the revision its current selectors are valid for)."""
    position, quote = selectors.position, selectors.quote
    if (
        position is not None
        and position.end <= len(text)
        and (quote is None or text[position.start : position.end] == quote.exact)
    ):
        return position.start, position.end
    if quote is not None:  # inconsistent data: find it again, as without history
        result = Locator(text).locate(selectors)
        if result.selectors is not None and result.selectors.position is not None:
            return result.selectors.position.start, result.selectors.position.end
    return None


def _cluster(pieces: list[Block], size: int) -> list[Block]:
    """The largest group of surviving pieces that still lie together, in order."""
    if not pieces:
        return []
    slack = max(8, size // 2)
    groups: list[list[Block]] = [[pieces[0]]]
    for piece in pieces[1:]:
        last = groups[-1][-1]
        gap = piece.new - (last.new + last.size)
        if -2 <= gap <= slack + (piece.old - last.old - last.size):  # -2: transpositions
            groups[-1].append(piece)
        else:
            groups.append([piece])
    return max(groups, key=lambda g: sum(p.size for p in g))


class Locator:
    """Locates passages in one text that has no history of its own (see ``locate``).

    With ``base``, the revision the selectors are valid for (the server's text of the
    article), the text is first diffed against it once, and passages are followed
    through that diff as in ``reanchor``; what the diff cannot place is searched for.
    """

    def __init__(self, text: str, *, base: str | None = None, gates: Gates = GATES) -> None:
        self.text = text
        self.gates = gates
        self._hay: Haystack | None = None
        self._base = base
        self._through: _Reanchor | None = None

    def locate(self, selectors: Selectors, *, original: Selectors | None = None) -> Result:
        """Find ``selectors`` in the text; ``original`` (if given) decides the state.

        The quote at the stored position wins outright; then (with a base) the diff;
        otherwise the gated search.
        """
        text, quote, position = self.text, selectors.quote, selectors.position
        reference = original.quote if original is not None and original.quote else quote
        if position is not None and position.end <= len(text):
            passage = text[position.start : position.end]
            if quote is None or passage == quote.exact:
                found = make(text, position.start, position.end)
                return Result(_state(passage, reference), found, Method.POSITION, 1.0)
        if self._base is not None:
            if self._through is None:
                self._through = _Reanchor(Diff(self._base, text), self.gates)
            span = _span(self._base, selectors)
            result = self._through.through(span, reference) if span else None
            if result is not None:
                return result
        if quote is None:
            return _lost()
        if self._hay is None:
            self._hay = Haystack(text)
        hint = position.start if position is not None else None
        candidates = gather(self._hay, quote, hint=hint, windows=None, gates=self.gates)
        choice = choose(candidates, len(quote.exact), unique_exact=True, gates=self.gates)
        if choice.found is None:
            return _lost(ambiguous=choice.ambiguous)
        return _from_candidate(text, choice.found, reference or quote)


def locate(
    text: str,
    selectors: Selectors,
    *,
    original: Selectors | None = None,
    base: str | None = None,
    gates: Gates = GATES,
) -> Result:
    """Find a passage in ``text``, which has no history (one call: see ``Locator``)."""
    return Locator(text, base=base, gates=gates).locate(selectors, original=original)
