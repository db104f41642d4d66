"""Evidence from how a comment was sent, and its final spam probability.

``assess`` looks at what the classifier cannot see (the honeypot field, how long the form
was open, repetition of the same author's or address's recent comments) and at a few
shapes of the body, and returns ``Evidence``: points in log-odds (natural log) with stable
reason codes. ``combine`` adds those points to the classifier's log-odds and gives the
final probability with the reasons:

    final = sigmoid(logit(bayes_score) + sum of points)     honeypot: 1.0

An untrained classifier (score 0.5, log-odds 0) leaves the decision to the evidence.

Reason codes (stable, for moderators' screens and logs): ``honeypot``, ``too_fast``,
``links``, ``repeated``, ``char_run``, ``shouting``, ``classifier``.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# --- thresholds and weights (points are log-odds: +2.2 turns 0.5 into 0.9) ---

# A human needs more than this many seconds between the form being shown and sent; bots
# post at once. Strong evidence, not proof (a short "+1" typed fast, a form reused).
TOO_FAST_SECONDS: Final = 3.0
TOO_FAST_POINTS: Final = 3.0
# This many links or more in one comment: link spam. Evidence, since a reader may cite.
MANY_LINKS: Final = 3
LINKS_POINTS: Final = 2.0
# Near-same as one of the author's/address's recent comments: token Jaccard similarity at
# or above this (identical bodies are 1.0). Bodies with fewer than REPEAT_MIN_WORDS words
# must match exactly ("thanks!" twice is not a campaign, but the same short body is).
REPEAT_JACCARD: Final = 0.9
REPEAT_MIN_WORDS: Final = 5
REPEATED_POINTS: Final = 2.5
# Only the newest this many recent bodies are compared, each cut at this many characters.
REPEAT_MAX_BODIES: Final = 50
REPEAT_MAX_CHARS: Final = 10_000
# The same non-space character this many times in a row ("!!!!!!!!!!"): weak evidence.
CHAR_RUN: Final = 10
CHAR_RUN_POINTS: Final = 0.7
# Shouting: at least SHOUT_MIN_LETTERS letters, at least SHOUT_SHARE of them capitals.
SHOUT_MIN_LETTERS: Final = 20
SHOUT_SHARE: Final = 0.7
SHOUTING_POINTS: Final = 0.7
# combine() lists ``classifier`` among the reasons from this classifier score up.
CLASSIFIER_REASON: Final = 0.9
# combine() keeps the classifier's score within [this, 1 - this] before taking its logit.
SCORE_CLAMP: Final = 1e-9

_WORD = re.compile(r"[^\W_]+")
_RUN = re.compile(rf"(\S)\1{{{CHAR_RUN - 1},}}")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Signals:
    """What ``assess`` found, one field per check."""

    honeypot: bool = False
    too_fast: bool = False
    links: int = 0
    repeated: bool = False
    char_run: bool = False
    shouting: bool = False


@dataclass(frozen=True, slots=True)
class Evidence:
    """``points``: log-odds to add to the classifier's; ``certain``: spam whatever the
    classifier says (the honeypot); ``reasons``: stable codes, in a fixed order."""

    points: float
    reasons: tuple[str, ...]
    certain: bool
    signals: Signals


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:REPEAT_MAX_CHARS]).casefold()
    return _SPACE.sub(" ", text).strip()


def _words(normal: str) -> frozenset[str]:
    return frozenset(_WORD.findall(normal))


@functools.lru_cache(maxsize=256)
def _shape(text: str) -> tuple[str, frozenset[str]]:
    """A text's normal form and its words. Kept for the latest texts: the same recent
    bodies of an address are compared with each of its new comments, and a new comment is
    a recent body of the next one."""
    normal = _normal(text)
    return normal, _words(normal)


def _same(shape: tuple[str, frozenset[str]], other: str) -> bool:
    normal, words = shape
    other_normal, other_words = _shape(other)
    if other_normal == normal:
        return True
    if len(words) < REPEAT_MIN_WORDS:
        return False
    union = len(words | other_words)
    return bool(union) and len(words & other_words) / union >= REPEAT_JACCARD


def is_repeat(body: str, recent_bodies: Sequence[str]) -> bool:
    """Whether ``body`` is the same or nearly the same as one of ``recent_bodies``."""
    shape = _shape(body)
    if not shape[0]:
        return False
    return any(_same(shape, other) for other in recent_bodies[:REPEAT_MAX_BODIES])


def repeats(body: str, bodies: Sequence[str], enough: int) -> list[str]:
    """The ``bodies`` that ``body`` repeats (each as ``is_repeat(body, [it])`` finds), in
    order; the search stops once ``enough`` of them are found."""
    shape = _shape(body)
    found: list[str] = []
    if not shape[0]:
        return found
    for other in bodies:
        if _same(shape, other):
            found.append(other)
            if len(found) >= enough:
                break
    return found


_ASCII_LOWER = bytes(range(ord("a"), ord("z") + 1))


def _shouting(body: str) -> bool:
    text = body[:REPEAT_MAX_CHARS]
    if len(text) < SHOUT_MIN_LETTERS:
        return False
    # Quick no: shouting leaves at most (1 - SHOUT_SHARE) of the letters in lower case, and
    # ordinary text has far more lower-case ASCII letters than that share of its length.
    raw = text.encode("utf-8", "surrogatepass")
    lower_ascii = len(raw) - len(raw.translate(None, _ASCII_LOWER))
    if lower_ascii > (1.0 - SHOUT_SHARE) * len(text):
        return False
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= SHOUT_MIN_LETTERS and sum(map(str.isupper, letters)) >= (
        SHOUT_SHARE * len(letters)
    )


def assess(
    body: str,
    *,
    honeypot: str | None,
    elapsed_seconds: float | None,
    links: int,
    recent_bodies: Sequence[str] = (),
    too_fast_seconds: float = TOO_FAST_SECONDS,
) -> Evidence:
    """Evidence about one comment.

    ``honeypot``: the value of the hidden form field (None or "" when empty or absent);
    ``elapsed_seconds``: from showing the form to the submission (None when unknown; a
    negative value, a clock skew, counts as unknown); ``links``: the number of links in the
    rendered body; ``recent_bodies``: the same author's or address's recent comments.
    """
    trap = bool(honeypot and honeypot.strip())
    fast = elapsed_seconds is not None and 0.0 <= elapsed_seconds < too_fast_seconds
    many = links >= MANY_LINKS
    repeated = bool(recent_bodies) and is_repeat(body, recent_bodies)
    run = _RUN.search(body[:REPEAT_MAX_CHARS]) is not None
    shouting = _shouting(body)
    signals = Signals(trap, fast, max(links, 0), repeated, run, shouting)

    points = 0.0
    reasons: list[str] = []
    for present, code, weight in (
        (trap, "honeypot", 0.0),
        (fast, "too_fast", TOO_FAST_POINTS),
        (many, "links", LINKS_POINTS),
        (repeated, "repeated", REPEATED_POINTS),
        (run, "char_run", CHAR_RUN_POINTS),
        (shouting, "shouting", SHOUTING_POINTS),
    ):
        if present:
            points += weight
            reasons.append(code)
    return Evidence(points, tuple(reasons), certain=trap, signals=signals)


def combine(bayes_score: float, evidence: Evidence) -> tuple[float, list[str]]:
    """The final spam probability and its reason codes.

    ``bayes_score``: the classifier's probability (0.5 when it is untrained).
    """
    reasons = list(evidence.reasons)
    if bayes_score >= CLASSIFIER_REASON:
        reasons.append("classifier")
    if evidence.certain:
        return 1.0, reasons
    p = min(max(bayes_score, SCORE_CLAMP), 1.0 - SCORE_CLAMP)
    logit = math.log(p / (1.0 - p)) + evidence.points
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit)), reasons
    e = math.exp(logit)
    return e / (1.0 + e), reasons
