"""Spam detection: heuristics, a naive Bayes classifier trained on the site's own moderation
decisions, and an optional Akismet client. Pure, apart from the Akismet client's HTTP.

Imports only the standard library (and may use ``voxpop.model``/``voxpop.errors``): the
counts the classifier learns from are kept by the caller. (``tokens.tokens`` is not
re-exported here: the name would hide the ``voxpop.spam.tokens`` module.)

    from voxpop.spam import bayes, heuristics, tokens

    feats = tokens.features(body, author_name=name, website=url)
    counts = bayes.Counts(spam_docs, ham_docs, rows_for(feats))   # (spam, ham) per feature
    v = bayes.verdict(feats, counts)                              # v.score, v.trained
    ev = heuristics.assess(body, honeypot=hp, elapsed_seconds=dt, links=n, recent_bodies=b)
    probability, reasons = heuristics.combine(v.score, ev)
"""

from voxpop.spam.akismet import Akismet, AkismetComment
from voxpop.spam.bayes import Counts, Model, Verdict, score, verdict
from voxpop.spam.heuristics import Evidence, Signals, assess, combine
from voxpop.spam.tokens import features

__all__ = [
    "Akismet",
    "AkismetComment",
    "Counts",
    "Evidence",
    "Model",
    "Signals",
    "Verdict",
    "assess",
    "combine",
    "features",
    "score",
    "verdict",
]
