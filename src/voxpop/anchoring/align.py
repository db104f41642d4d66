"""Character alignment of an edited paragraph: which runs of characters were carried over.

A minimal edit script (Levenshtein) is one explanation of an edit among many equally
short ones, and the arbitrary ones are wrong in ways that matter for anchoring: a pasted
sentence that begins like the text after it is aligned with that text, and a rewritten
phrase keeps stray letters "in common" with the old one. Two clean-ups, after the manner
of diff-match-patch, make the alignment read like a human edit:

* **semantic clean-up**: a carried-over run no longer than the edits on both sides of it
  (together longer than a couple of typos) is a coincidence, and becomes part of the edit;
* **sliding**: a pure insertion or deletion that could sit in several places (because the
  text repeats around it) is moved to the place whose ends fall on the best boundaries
  (line, sentence, word).

Two transposed characters (which Levenshtein spells as a replacement of ``ab`` by ``ba``,
or as ``x`` inserted before ``y`` and deleted after it) are carried over, crossed.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

__all__ = ["carried"]

Run = tuple[int, int, int]  # (offset in a, offset in b, size)


def carried(a: str, b: str) -> list[Run]:
    """The runs ``a[i:i+size] == b[j:j+size]`` carried over from ``a`` to ``b``, by ``i``."""
    ops = Levenshtein.opcodes(a, b)
    runs: list[Run] = []
    swaps: list[Run] = []
    kept: set[Run] = set()
    for index, op in enumerate(ops):
        if op.tag == "equal":
            runs.append((op.src_start, op.dest_start, op.src_end - op.src_start))
        elif op.tag == "replace":
            if (
                op.src_end - op.src_start == op.dest_end - op.dest_start == 2
                and a[op.src_start : op.src_end] == b[op.dest_start : op.dest_end][::-1]
            ):
                swaps += [
                    (op.src_start, op.dest_start + 1, 1),
                    (op.src_start + 1, op.dest_start, 1),
                ]
        elif index + 2 < len(ops):  # "xy" -> "yx" as insert x, equal y, delete x (or reverse)
            middle, last = ops[index + 1], ops[index + 2]
            lengths = {
                op.src_end - op.src_start + op.dest_end - op.dest_start,
                middle.src_end - middle.src_start,
                last.src_end - last.src_start + last.dest_end - last.dest_start,
            }
            if (
                middle.tag == "equal"
                and {op.tag, last.tag} == {"insert", "delete"}
                and lengths == {1}
            ):
                inserted, deleted = (op, last) if op.tag == "insert" else (last, op)
                if b[inserted.dest_start] == a[deleted.src_start]:
                    swaps.append((deleted.src_start, inserted.dest_start, 1))
                    kept.add((middle.src_start, middle.dest_start, 1))
    return sorted(_slide(_clean(runs, len(a), len(b), kept), a, b) + swaps)


def _clean(runs: list[Run], size_a: int, size_b: int, kept_runs: set[Run]) -> list[Run]:
    changed = True
    while changed:
        changed = False
        kept: list[Run] = []
        for index, (i, j, size) in enumerate(runs):
            before_a, before_b = (
                (kept[-1][0] + kept[-1][2], kept[-1][1] + kept[-1][2]) if kept else (0, 0)
            )
            after_a, after_b = runs[index + 1][:2] if index + 1 < len(runs) else (size_a, size_b)
            before = max(i - before_a, j - before_b)
            after = max(after_a - i - size, after_b - j - size)
            if (
                0 < size <= before
                and size <= after
                and before + after > 3
                and (i, j, size) not in kept_runs
            ):
                changed = True
                continue
            kept.append((i, j, size))
        runs = kept
    return runs


def _slide(runs: list[Run], a: str, b: str) -> list[Run]:
    runs = list(runs)
    for k in range(len(runs) - 1):
        i1, j1, s1 = runs[k]
        i2, j2, s2 = runs[k + 1]
        gap_a, gap_b = i2 - i1 - s1, j2 - j1 - s1
        if (gap_a and gap_b) or not (gap_a or gap_b):
            continue  # a replacement, or nothing between the runs
        text, low, high = (b, j1 + s1, j2) if gap_b else (a, i1 + s1, i2)
        left = 0
        while left < s1 and text[low - left - 1] == text[high - left - 1]:
            left += 1
        right = 0
        while right < s2 and text[low + right] == text[high + right]:
            right += 1
        if not left and not right:
            continue
        shift = max(
            range(-left, right + 1),
            key=lambda t: (_boundary(text, low + t) + _boundary(text, high + t), -abs(t)),
        )
        runs[k] = (i1, j1, s1 + shift)
        runs[k + 1] = (i2 + shift, j2 + shift, s2 - shift)
    return [run for run in runs if run[2] > 0]


def _boundary(text: str, at: int) -> int:
    """How good a place ``at`` is for an edit to start or end (higher is better)."""
    if at <= 0 or at >= len(text):
        return 6
    before, after = text[at - 1], text[at]
    if before == "\n" or after == "\n":
        return 5
    if before in ".!?" and after.isspace():
        return 4
    if before.isspace() or after.isspace():
        return 3
    if not before.isalnum() or not after.isalnum():
        return 2
    return 0
