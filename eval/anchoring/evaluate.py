"""Cases, ground truth and the metrics of anchoring.md, for voxpop and the baseline.

A case: a corpus text, a note made by a simulated reader, an edit kind (or five in a
chain, re-anchored after every revision) and a few other notes on the same text that the
edit does not target ("bystanders"). voxpop re-anchors through every revision; the
baseline, having no history, anchors the note's original selectors in the last one.

Per row: **mis-anchors** (anchored where the truth is an orphan, or overlap IoU < 0.5),
**recall** (anchored with IoU >= 0.5, of the notes whose passage survives), **exact**
(of those, both boundaries right), **orphan precision and recall** (orphaned or
ambiguous counts as not anchored).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from voxpop.anchoring import Note, Selectors, make, reanchor

from . import baseline
from .corpus import Text, corpus, seeded
from .edits import KINDS, Doc, Target, canonical, new_doc

CHAIN = "chain of five"
BYSTANDERS = "other notes (all cases)"
_WEIGHTS = {
    "harbour": 3,
    "heatwave": 3,
    "explainer": 3,
    "review": 2,
    "correction": 2,
    "branches": 4,
    "long": 3,
}

Span = tuple[int, int]


@dataclass
class Outcome:
    truth: frozenset[int] | None  # positions of the surviving ids, if at least half survive
    ours: Span | None
    theirs: Span | None
    state: str

    @property
    def span(self) -> Span | None:
        return (min(self.truth), max(self.truth) + 1) if self.truth else None


@dataclass
class Tally:
    cases: int = 0
    orphans: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


def iou(found: Span, truth: frozenset[int]) -> float:
    """Overlap of a found span with the true characters (a set: moves can split them)."""
    overlap = sum(1 for p in truth if found[0] <= p < found[1])
    return overlap / (found[1] - found[0] + len(truth) - overlap)


def choose_span(text: str, rng: random.Random) -> Span:
    """A passage a reader might select: usually whole words, sometimes sloppy."""
    paragraphs = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    weights = [end - start for start, end in paragraphs]
    index = rng.choices(range(len(paragraphs)), weights)[0]
    words = [
        m.span() for m in re.finditer(r"\S+", text[paragraphs[index][0] : paragraphs[index][1]])
    ]
    offset = paragraphs[index][0]
    roll = rng.random()
    if roll < 0.06 and index + 1 < len(paragraphs):  # across a paragraph break
        start = offset + rng.choice(words[len(words) // 2 :])[0]
        following = [
            m.span()
            for m in re.finditer(r"\S+", text[paragraphs[index + 1][0] : paragraphs[index + 1][1]])
        ]
        end = paragraphs[index + 1][0] + rng.choice(following[: max(1, len(following) // 2)])[1]
        return start, end
    count = 1 if roll < 0.2 else rng.randint(2, 12) if roll < 0.7 else rng.randint(12, 45)
    first = rng.randrange(max(1, len(words) - count + 1))
    last = min(len(words), first + count) - 1
    start, end = offset + words[first][0], offset + words[last][1]
    if rng.random() < 0.1 and end - start > 6:  # a sloppy selection
        start += rng.randint(-2, 2)
        end += rng.randint(-2, 2)
    start = max(offset if roll >= 0.06 else 0, min(start, end - 1))
    return start, max(start + 1, min(end, len(text)))


def _span_of(ids: Sequence[int], target: Target) -> Span:
    positions = [i for i, x in enumerate(ids) if x in target]
    return positions[0], positions[-1] + 1


def _truth(ids: Sequence[int], target: Target) -> frozenset[int] | None:
    positions = frozenset(i for i, x in enumerate(ids) if x in target)
    return positions if 2 * len(positions) >= len(target) else None


def run_case(
    text: Text,
    kinds: Sequence[str],
    rng: random.Random,
    bystanders: int,
    trace: list[str] | None = None,
) -> list[Outcome]:
    """The target note's outcome first, then the bystanders'; ``trace`` collects details."""
    doc = new_doc(text.raw)
    first, first_ids = canonical(doc)
    start, end = choose_span(first, rng)
    targets = [frozenset(x for x in first_ids[start:end] if x >= 0)]
    revisions: list[Doc] = []
    current = doc
    for kind in kinds:
        setup, final = KINDS[kind](current, targets[0], rng)
        if setup is not None:
            if len(kinds) == 1:  # the note is made on the revision that has the copy
                doc = setup
            else:
                revisions.append(setup)
        revisions.append(final)
        current = final
    base, base_ids = canonical(doc)
    while len(targets) < 1 + bystanders:  # other readers' notes, on text the base had
        start, end = choose_span(base, rng)
        if all(
            x >= 0 or c == "\n" for x, c in zip(base_ids[start:end], base[start:end], strict=True)
        ):
            targets.append(frozenset(x for x in base_ids[start:end] if x >= 0))
    originals = [make(base, *_span_of(base_ids, t)) for t in targets]
    notes = [Note(o, o) for o in originals]
    previous = base
    for revision in revisions:
        text_now, ids_now = canonical(revision)
        results = reanchor(previous, text_now, notes)
        if trace is not None:
            trace.append(_trace(text_now, ids_now, targets, originals, results))
        notes = [Note(n.original, r.selectors) for n, r in zip(notes, results, strict=True)]
        previous = text_now
    outcomes = []
    for target, original, note, result in zip(targets, originals, notes, results, strict=True):
        ours = _position(note.current)
        theirs = baseline.anchor(previous, original)
        outcomes.append(Outcome(_truth(ids_now, target), ours, theirs, str(result.state)))
    return outcomes


def _trace(
    text: str,
    ids: Sequence[int],
    targets: Sequence[Target],
    originals: Sequence[Selectors],
    results: Sequence[object],
) -> str:
    lines = []
    for index, (target, original, result) in enumerate(
        zip(targets, originals, results, strict=True)
    ):
        truth = _truth(ids, target)
        quote = original.quote
        assert quote is not None
        lines.append(
            f"  note {index}: original {quote.prefix!r} [{quote.exact[:200]!r}] {quote.suffix!r}"
        )
        lines.append(f"    -> {result}")
        if truth:
            low, high = min(truth), max(truth) + 1
            before, passage, after = (
                text[max(0, low - 30) : low],
                text[low:high][:200],
                text[high : high + 30],
            )
            lines.append(f"    truth ({low}, {high}) {before!r} [{passage!r}] {after!r}")
        else:
            lines.append("    truth: orphan")
    return "\n".join(lines)


def _position(selectors: Selectors | None) -> Span | None:
    if selectors is None or selectors.position is None:
        return None
    return selectors.position.start, selectors.position.end


def run(cases: int, chains: int, seed: int = 1, bystanders: int = 3) -> dict[str, Tally]:
    rng = seeded(seed)
    texts = corpus()
    weights = [_WEIGHTS[t.name] for t in texts]
    rows: dict[str, Tally] = defaultdict(Tally)
    plan = [[kind] for kind in KINDS for _ in range(cases)]
    plan += [rng.choices(list(KINDS), k=5) for _ in range(chains)]
    for kinds in plan:
        text = rng.choices(texts, weights)[0]
        outcomes = run_case(text, kinds, rng, bystanders)
        row = CHAIN if len(kinds) > 1 else kinds[0]
        for name, outcome in [(row, outcomes[0])] + [(BYSTANDERS, o) for o in outcomes[1:]]:
            tally = rows[name]
            tally.cases += 1
            tally.orphans += outcome.truth is None
            tally.outcomes.append(outcome)
    return dict(rows)


@dataclass(frozen=True)
class Metrics:
    mis: int
    recall: float
    exact: float
    orphan_precision: float
    orphan_recall: float


def metrics(outcomes: Sequence[Outcome], *, ours: bool) -> Metrics:
    mis = correct = exact = predicted_orphans = true_orphans = both = 0
    alive = 0
    for o in outcomes:
        found = o.ours if ours else o.theirs
        if o.truth is None:
            true_orphans += 1
        else:
            alive += 1
        if found is None:
            predicted_orphans += 1
            both += o.truth is None
        elif o.truth is None or iou(found, o.truth) < 0.5:
            mis += 1
        else:
            correct += 1
            exact += found == o.span
    return Metrics(
        mis,
        correct / alive if alive else float("nan"),
        exact / correct if correct else float("nan"),
        both / predicted_orphans if predicted_orphans else float("nan"),
        both / true_orphans if true_orphans else float("nan"),
    )


def _pct(value: float) -> str:
    return "   -" if value != value else f"{value:4.2f}"


def table(rows: dict[str, Tally]) -> tuple[str, int]:
    """The report and voxpop's total number of mis-anchors."""
    order = [*KINDS, CHAIN, BYSTANDERS]
    head = (
        f"{'edit kind':30} {'cases':>5} {'orph':>4} | {'voxpop':^32} | "
        f"{'baseline (Hypothesis-like)':^32}\n{'':30} {'':>5} {'':>4} | {_HEADS}    | {_HEADS}\n"
    )
    lines = [head + "-" * 108]
    total_ours = total_theirs = 0
    every: list[Outcome] = []
    for name in order:
        if name not in rows:
            continue
        tally = rows[name]
        a, b = metrics(tally.outcomes, ours=True), metrics(tally.outcomes, ours=False)
        if name != BYSTANDERS:
            every.extend(tally.outcomes)
            total_ours += a.mis
            total_theirs += b.mis
        lines.append(_line(name, tally.cases, tally.orphans, a, b))
    a, b = metrics(every, ours=True), metrics(every, ours=False)
    lines.append("-" * 108)
    lines.append(_line("all targeted notes", len(every), sum(o.truth is None for o in every), a, b))
    bystander = metrics(rows[BYSTANDERS].outcomes, ours=True).mis if BYSTANDERS in rows else 0
    return "\n".join(lines), total_ours + bystander


_HEADS = f"{'mis':>4} {'recall':>6} {'exact':>5} {'orP':>5} {'orR':>5}"


def _line(name: str, cases: int, orphans: int, a: Metrics, b: Metrics) -> str:
    def cells(m: Metrics) -> str:
        rates = (m.recall, m.exact, m.orphan_precision, m.orphan_recall)
        return f"{m.mis:>4} {_pct(rates[0]):>6} " + " ".join(f"{_pct(r):>5}" for r in rates[1:])

    return f"{name[:30]:30} {cases:>5} {orphans:>4} | {cells(a)}    | {cells(b)}"
