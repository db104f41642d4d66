"""A Hypothesis-equivalent anchorer, written from the behaviour described in anchoring.md.

No history, no gates: the quote at its stored position if it is there; otherwise the
lowest-error matches of the quote (exact ones if any, else fuzzy ones with up to half the
quote's length in errors), each scored
``(50·quote + 20·prefix + 20·suffix + 2·position) / 92``, the best one taken whatever its
score. Orphaned only when nothing within half the quote's length matches.
"""

from __future__ import annotations

import re

import edlib  # type: ignore[import-not-found, unused-ignore]

from voxpop.anchoring import Selectors


def _symbols(query: str, target: str) -> tuple[str, str]:
    """edlib takes at most 256 symbols: characters absent from the query become one."""
    kept = sorted(set(query))[:255]
    other = next(chr(c) for c in range(1, 0x10FFFF) if chr(c) not in kept)
    absent = re.compile("[^" + "".join(re.escape(c) for c in kept) + "]")
    return absent.sub(other, query), absent.sub(other, target)


def _lowest(query: str, target: str, errors: int) -> tuple[int, list[tuple[int, int]]]:
    """(edit distance, spans) of the lowest-error infix matches, or (-1, [])."""
    if not query or not target:
        return -1, []
    q, t = _symbols(query, target)
    result = edlib.align(q, t, mode="HW", task="locations", k=errors)
    distance = result["editDistance"]
    if distance < 0:
        return -1, []
    return distance, [(s, e + 1) for s, e in result["locations"]]


def _match_score(stored: str, actual: str) -> float:
    if not stored or not actual:
        return 0.0
    distance, _ = _lowest(stored, actual, len(stored))
    return 1 - distance / len(stored) if distance >= 0 else 0.0


def anchor(text: str, selectors: Selectors) -> tuple[int, int] | None:
    """The span the baseline anchors ``selectors`` to in ``text``, or None."""
    quote, position = selectors.quote, selectors.position
    if quote is None:
        return None
    if position is not None and text[position.start : position.end] == quote.exact:
        return position.start, position.end
    size = len(quote.exact)
    distance, spans = _lowest(quote.exact, text, min(256, size // 2))
    if distance < 0:
        return None
    hint = position.start if position is not None else None
    best, best_score = None, -1.0
    for start, end in spans:
        prefix = (
            _match_score(quote.prefix, text[max(0, start - len(quote.prefix)) : start])
            if quote.prefix
            else 1.0
        )
        suffix = (
            _match_score(quote.suffix, text[end : end + len(quote.suffix)]) if quote.suffix else 1.0
        )
        closeness = 1.0 if hint is None else 1 - abs(start - hint) / max(len(text), 1)
        score = (50 * (1 - distance / size) + 20 * prefix + 20 * suffix + 2 * closeness) / 92
        if score > best_score:
            best, best_score = (start, end), score
    return best
