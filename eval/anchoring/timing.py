"""Time per 1,000 notes: voxpop's re-anchoring (one diff per revision included) and the baseline.

Texts of 5, 20 and 50 KB composed from the corpus carry 1,000 notes each. The common
revision inserts a paragraph near the top, fixes a typo in another and deletes a third;
the worst cases shuffle every paragraph, or make a typo in every paragraph (no paragraph
survives whole, so every paragraph goes through the character diff). The baseline
anchors each note's original selectors in the new text (it has no history); it is timed
on a sample of notes and scaled to 1,000.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from voxpop.anchoring import Note, make, reanchor

from . import baseline, edits
from .corpus import composed, inserts, seeded
from .evaluate import choose_span

NOTES = 1_000
BASELINE_SAMPLE = 100


@dataclass(frozen=True)
class Timing:
    size: int
    edit: str
    ours_ms: float
    theirs_ms: float


def _common(doc: edits.Doc, rng: random.Random) -> edits.Doc:
    doc = edits.clone(doc)
    edits.insert_paragraph(doc, rng.randint(1, 3), rng.choice(inserts()))
    paragraph = doc[rng.randrange(4, len(doc))]
    edits.typo(paragraph, rng.randrange(len(paragraph.text)), rng)
    del doc[rng.randrange(4, len(doc))]
    return doc


def _shuffled(doc: edits.Doc, rng: random.Random) -> edits.Doc:
    doc = edits.clone(doc)
    rng.shuffle(doc)
    return doc


def _everywhere(doc: edits.Doc, rng: random.Random) -> edits.Doc:
    doc = edits.clone(doc)
    for paragraph in doc:
        if paragraph.text:
            edits.typo(paragraph, rng.randrange(len(paragraph.text)), rng)
    return doc


EDITS: dict[str, Callable[[edits.Doc, random.Random], edits.Doc]] = {
    "common revision": _common,
    "shuffled paragraphs": _shuffled,
    "a typo in every paragraph": _everywhere,
}


def measure(size: int, edit: str, *, repeats: int = 3, seed: int = 5) -> Timing:
    rng = seeded(seed)
    doc = edits.new_doc(composed(size).raw)
    old, _ = edits.canonical(doc)
    new, _ = edits.canonical(EDITS[edit](doc, rng))
    notes = []
    for _ in range(NOTES):
        selectors = make(old, *choose_span(old, rng))
        notes.append(Note(selectors, selectors))
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        reanchor(old, new, notes)
        runs.append(time.perf_counter() - started)
    sample = notes[:BASELINE_SAMPLE]
    started = time.perf_counter()
    for note in sample:
        baseline.anchor(new, note.original)
    theirs = (time.perf_counter() - started) * NOTES / len(sample)
    return Timing(len(old), edit, statistics.median(runs) * 1000, theirs * 1000)


def table(sizes: tuple[int, ...] = (5_000, 20_000, 50_000)) -> str:
    rows = [measure(size, "common revision") for size in sizes]
    rows += [measure(sizes[-1], edit) for edit in list(EDITS)[1:]]
    lines = [
        f"{'text':>7}  {'revision':24} {'voxpop ms':>10} {'baseline ms':>12} {'ratio':>7}",
        "-" * 66,
    ]
    for row in rows:
        ratio = row.theirs_ms / row.ours_ms if row.ours_ms else float("inf")
        size = f"{row.size / 1000:5.1f}KB"
        lines.append(
            f"{size}  {row.edit:24} {row.ours_ms:10.1f} {row.theirs_ms:12.0f} {ratio:6.0f}x"
        )
    return "\n".join(lines)
