"""A statistical spam classifier whose counts live with the caller.

The caller keeps, per site, how many spam and how many ham comments it trained on and, per
feature, in how many spam and how many ham comments the feature occurred (a database table
``(site_id, token, spam, ham)`` in the server, ``Model`` here for tests and the benchmark).
To score a comment it passes the counts of that comment's features only, plus the two
document totals: a feature missing from ``Counts.tokens`` is one never seen.

Method (``METHOD_FISHER``, the default): Gary Robinson's per-feature probability with
Fisher's chi-square combining, as SpamBayes does it:

    p(w)  = (spam(w)/spam_docs) / (spam(w)/spam_docs + ham(w)/ham_docs)
    f(w)  = (S*X + n*p(w)) / (S + n)      n = spam(w) + ham(w), prior X = 0.5, strength S
    keep the MAX_CLUES features with |f(w) - 0.5| >= MIN_STRENGTH
    S_ = 1 - chi2Q(-2 sum ln(1 - f), 2k)     evidence for spam
    H_ = 1 - chi2Q(-2 sum ln f, 2k)          evidence for ham
    score = (1 + S_ - H_) / 2

Why this and not naive Bayes: it needs exactly what the server can fetch (the counts of
the comment's own features and the two totals, no vocabulary size and no per-class token
total), it ignores the class balance of the training set (a site that marked 50 spam and
5,000 ham is not biased to ham for every new word), and it is cautious: a comment whose
clues disagree scores near 0.5 instead of being pushed to 0 or 1, so thresholds at 0.9
and 0.99 mean something. On the benchmark data (bench/spam) it gave the higher precision
at every threshold from 0.5 up, and far fewer false positives at 0.5 than the Bernoulli
naive Bayes kept here for comparison (``METHOD_BERNOULLI``: Laplace-smoothed
P(feature | class) over the features present, with the class prior), whose
probabilities crowd at 0 and 1.

Below MIN_DOCS spam or MIN_DOCS ham documents the classifier has not seen enough of one
side to say anything: ``verdict`` answers 0.5 with ``trained=False``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

# Fewer spam or fewer ham training documents than this: no verdict (score 0.5).
MIN_DOCS: Final = 5
# Robinson's prior for an unseen or rare feature, and how many documents it is worth
# (SpamBayes' unknown_word_prob and unknown_word_strength).
PRIOR: Final = 0.5
PRIOR_STRENGTH: Final = 0.45
# Features whose f(w) is within this of 0.5 are not clues (SpamBayes' minimum_prob_strength).
MIN_STRENGTH: Final = 0.1
# At most this many clues, the strongest, take part (SpamBayes' max_discriminators).
MAX_CLUES: Final = 150
# f(w) is never 0 or 1 (PRIOR_STRENGTH > 0 keeps it at least 0.225 / (0.45 + n)); products
# of this many of them stay far above the smallest float before their logarithm is taken.
LOG_CHUNK: Final = 25

METHOD_FISHER: Final = "fisher"
METHOD_BERNOULLI: Final = "bernoulli"
Method = Literal["fisher", "bernoulli"]


@dataclass(frozen=True, slots=True)
class Counts:
    """Training counts: the two document totals and, per feature, (spam, ham) documents.

    ``tokens`` needs to hold only the features being scored; a feature that is absent
    counts as (0, 0).
    """

    spam_docs: int
    ham_docs: int
    tokens: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        return self.spam_docs >= MIN_DOCS and self.ham_docs >= MIN_DOCS


@dataclass(frozen=True, slots=True)
class Verdict:
    """``score``: probability of spam in [0, 1]. ``trained`` False: not enough training,
    and ``score`` is a neutral 0.5. ``clues``: the features that decided, strongest first,
    with their f(w) (Fisher) or log-likelihood ratio (Bernoulli)."""

    score: float
    trained: bool
    clues: tuple[tuple[str, float], ...] = ()


NEUTRAL: Final = Verdict(0.5, trained=False)


def _chi2q(x2: float, dof: int) -> float:
    """P(chi-square with ``dof`` (even) degrees of freedom >= x2)."""
    m = x2 / 2.0
    term = math.exp(-m)
    total = term
    for i in range(1, dof // 2):
        term *= m / i
        total += term
    return min(total, 1.0)


def _log_product(values: list[float]) -> float:
    """ln of the product of ``values`` (each in (0, 1)), without underflow."""
    total = 0.0
    for start in range(0, len(values), LOG_CHUNK):
        total += math.log(math.prod(values[start : start + LOG_CHUNK]))
    return total


def feature_probability(spam: int, ham: int, spam_docs: int, ham_docs: int) -> float:
    """Robinson's f(w) for a feature seen in ``spam`` spam and ``ham`` ham documents."""
    spam = min(max(spam, 0), spam_docs)
    ham = min(max(ham, 0), ham_docs)
    n = spam + ham
    if n == 0:
        return PRIOR
    spam_ratio = spam / spam_docs
    ham_ratio = ham / ham_docs
    p = spam_ratio / (spam_ratio + ham_ratio)
    return (PRIOR_STRENGTH * PRIOR + n * p) / (PRIOR_STRENGTH + n)


def _fisher(features: Iterable[str], counts: Counts) -> Verdict:
    spam_docs, ham_docs, get = counts.spam_docs, counts.ham_docs, counts.tokens.get
    inv_spam, inv_ham = 1.0 / spam_docs, 1.0 / ham_docs
    prior_mass = PRIOR_STRENGTH * PRIOR
    # (-|f - 0.5|, feature, f): sorts strongest first, ties by name (deterministic).
    clues: list[tuple[float, str, float]] = []
    for feature in features:
        pair = get(feature)
        if pair is None:
            continue  # never seen: f = PRIOR, not a clue
        # Inlined feature_probability (this loop is the hot path); bad rows are clamped.
        spam, ham = pair
        if spam < 0 or ham < 0 or spam > spam_docs or ham > ham_docs:
            spam = min(max(spam, 0), spam_docs)
            ham = min(max(ham, 0), ham_docs)
        n = spam + ham
        if n == 0:
            continue
        spam_ratio = spam * inv_spam
        p = spam_ratio / (spam_ratio + ham * inv_ham)
        f = (prior_mass + n * p) / (PRIOR_STRENGTH + n)
        distance = f - 0.5 if f >= 0.5 else 0.5 - f
        if distance >= MIN_STRENGTH:
            clues.append((-distance, feature, f))
    if not clues:
        return Verdict(0.5, trained=True)
    clues.sort()
    del clues[MAX_CLUES:]
    probs = [f for _, _, f in clues]
    log_ham = _log_product(probs)
    log_spam = _log_product([1.0 - f for f in probs])
    dof = 2 * len(clues)
    spamminess = 1.0 - _chi2q(-2.0 * log_spam, dof)
    hamminess = 1.0 - _chi2q(-2.0 * log_ham, dof)
    score = (1.0 + spamminess - hamminess) / 2.0
    return Verdict(
        min(max(score, 0.0), 1.0), trained=True, clues=tuple([(name, f) for _, name, f in clues])
    )


def _bernoulli(features: Iterable[str], counts: Counts) -> Verdict:
    spam_docs, ham_docs, table = counts.spam_docs, counts.ham_docs, counts.tokens
    logit = math.log(spam_docs / ham_docs)
    clues: list[tuple[float, str]] = []
    for feature in features:
        spam, ham = table.get(feature, (0, 0))
        if spam == 0 and ham == 0:
            continue
        ratio = math.log((min(spam, spam_docs) + 1) / (spam_docs + 2)) - math.log(
            (min(ham, ham_docs) + 1) / (ham_docs + 2)
        )
        logit += ratio
        clues.append((ratio, feature))
    clues.sort(key=lambda c: (-abs(c[0]), c[1]))
    if logit >= 0:
        score = 1.0 / (1.0 + math.exp(-min(logit, 700.0)))
    else:
        score = math.exp(max(logit, -700.0)) / (1.0 + math.exp(max(logit, -700.0)))
    return Verdict(score, trained=True, clues=tuple((name, r) for r, name in clues[:MAX_CLUES]))


def verdict(features: Iterable[str], counts: Counts, method: Method = "fisher") -> Verdict:
    """The spam probability of a comment with these features, and whether it means anything.

    ``features``: the comment's distinct features (``tokens.features``); ``counts``: the
    document totals and the counts of (at least) these features.
    """
    if not counts.trained:
        return NEUTRAL
    if method == METHOD_FISHER:
        return _fisher(features, counts)
    if method == METHOD_BERNOULLI:
        return _bernoulli(features, counts)
    raise ValueError(f"unknown method {method!r}")


def score(features: Iterable[str], counts: Counts, method: Method = "fisher") -> float:
    """``verdict(...).score``: probability of spam in [0, 1]; 0.5 when not trained enough."""
    return verdict(features, counts, method).score


class Model:
    """Counts in memory, for tests and the benchmark. The server keeps the same numbers in
    its database and changes them as ``train`` and ``untrain`` do here."""

    __slots__ = ("_ham_docs", "_spam_docs", "_tokens")

    def __init__(self) -> None:
        self._spam_docs = 0
        self._ham_docs = 0
        self._tokens: dict[str, list[int]] = {}

    def train(self, features: Iterable[str], is_spam: bool) -> None:
        """Count one document (its distinct features) as spam or ham."""
        column = 0 if is_spam else 1
        for feature in set(features):
            pair = self._tokens.get(feature)
            if pair is None:
                pair = self._tokens[feature] = [0, 0]
            pair[column] += 1
        if is_spam:
            self._spam_docs += 1
        else:
            self._ham_docs += 1

    def untrain(self, features: Iterable[str], was_spam: bool) -> None:
        """Undo ``train(features, was_spam)``: a moderator changed their mind.

        Raises ValueError, changing nothing, when those counts are not there to remove.
        """
        column = 0 if was_spam else 1
        distinct = set(features)
        docs = self._spam_docs if was_spam else self._ham_docs
        if docs == 0 or any(self._tokens.get(f, (0, 0))[column] == 0 for f in distinct):
            raise ValueError("untrain of a document that was not trained")
        for feature in distinct:
            pair = self._tokens[feature]
            pair[column] -= 1
            if pair[0] == 0 and pair[1] == 0:
                del self._tokens[feature]
        if was_spam:
            self._spam_docs -= 1
        else:
            self._ham_docs -= 1

    def counts(self, features: Iterable[str] | None = None) -> Counts:
        """A snapshot: of every feature, or (as the server fetches it) of these features."""
        if features is None:
            table = {k: (v[0], v[1]) for k, v in self._tokens.items()}
        else:
            table = {}
            for feature in features:
                pair = self._tokens.get(feature)
                if pair is not None:
                    table[feature] = (pair[0], pair[1])
        return Counts(self._spam_docs, self._ham_docs, table)

    def verdict(self, features: Iterable[str], method: Method = "fisher") -> Verdict:
        """Score against the current counts, without copying them."""
        distinct = set(features)
        view = {f: (p[0], p[1]) for f in distinct if (p := self._tokens.get(f)) is not None}
        return verdict(distinct, Counts(self._spam_docs, self._ham_docs, view), method)
