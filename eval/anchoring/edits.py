"""Edits with ground truth by character identity.

Every character of the first revision carries an id. Edits keep the ids of the characters
they keep (a moved paragraph keeps its ids, a typographic variant keeps the id of the
character it replaces); inserted text, copies included, has no id (-1). A note's true
span on a later revision is the span of its surviving ids, if at least half survive;
otherwise the note should be orphaned.

An edit kind is a function ``(doc, target, rng) -> (setup, final)``: ``setup`` is a
revision made *before* the note (a copy or a look-alike paragraph that already exists when
the reader quotes the original), or None; ``final`` is the edited revision.

Constructions that are the same text as a benign edit are avoided: a copy pasted in the
same revision that its original is deleted is placed at least two paragraphs away and
with its own context (a pull quote or a sentence of its own), because a copy with the
original's context at the original's place *is* the original (a move, by any reading of
the text); a look-alike paragraph exists before the note is made.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from voxpop.anchoring import canonical_text

from .corpus import inserts, vocabulary

NO_ID = -1
Target = frozenset[int]


@dataclass
class Para:
    text: str
    ids: list[int]

    def copy(self) -> Para:
        return Para(self.text, list(self.ids))


Doc = list[Para]
Kind = Callable[[Doc, Target, random.Random], tuple[Doc | None, Doc]]


def new_doc(raw: str) -> Doc:
    doc, at = [], 0
    for paragraph in raw.split("\n\n"):
        doc.append(Para(paragraph, list(range(at, at + len(paragraph)))))
        at += len(paragraph) + 2
    return doc


def canonical(doc: Doc) -> tuple[str, list[int]]:
    """The revision's canonical text and the id of each of its characters."""
    raw = "\n\n".join(p.text for p in doc)
    ids: list[int] = []
    for index, paragraph in enumerate(doc):
        if index:
            ids.extend((NO_ID, NO_ID))
        ids.extend(paragraph.ids)
    text = canonical_text(raw)
    return text.text, [ids[s] for s in text.starts]


def clone(doc: Doc) -> Doc:
    return [p.copy() for p in doc]


# Where the note is now -----------------------------------------------------------


def where(doc: Doc, target: Target) -> dict[int, tuple[int, int]]:
    """Per paragraph holding some of the note's ids: the span of those characters."""
    found: dict[int, tuple[int, int]] = {}
    low, high = min(target, default=0), max(target, default=-1)
    for index, paragraph in enumerate(doc):
        ids = paragraph.ids
        positions = [i for i, x in enumerate(ids) if low <= x <= high and x in target]
        if positions:
            found[index] = (positions[0], positions[-1] + 1)
    return found


def focus(doc: Doc, target: Target, rng: random.Random) -> tuple[int, int, int]:
    """(paragraph, start, end) of the note; a random passage if it is gone."""
    spans = where(doc, target)
    if spans:
        index = min(spans)
        return index, *spans[index]
    index = rng.randrange(len(doc))
    size = len(doc[index].text)
    start = rng.randrange(max(1, size - 20))
    return index, start, min(size, start + rng.randint(5, 40))


def elsewhere(doc: Doc, target: Target, rng: random.Random, *, away: int = 0) -> list[int]:
    """Paragraph indices not holding the note, at least ``away`` paragraphs from it."""
    held = set(where(doc, target))
    near = {i + d for i in held for d in range(-away, away + 1)}
    free = [i for i in range(len(doc)) if i not in near]
    return free or [i for i in range(len(doc)) if i not in held] or list(range(len(doc)))


# Character edits -----------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(paragraph: Para, at: int, rng: random.Random) -> None:
    text, ids = paragraph.text, paragraph.ids
    at = min(max(at, 0), max(len(text) - 1, 0))
    kind = rng.choice(["substitute", "delete", "insert", "transpose"])
    if kind == "substitute" and text:
        letter = rng.choice([c for c in _LETTERS if c != text[at].lower()])
        paragraph.text, ids[at] = text[:at] + letter + text[at + 1 :], NO_ID
    elif kind == "delete" and len(text) > 1:
        paragraph.text = text[:at] + text[at + 1 :]
        del ids[at]
    elif kind == "transpose" and at + 1 < len(text) and text[at] != text[at + 1]:
        paragraph.text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
        ids[at], ids[at + 1] = ids[at + 1], ids[at]
    else:
        paragraph.text = text[:at] + rng.choice(_LETTERS) + text[at:]
        ids.insert(at, NO_ID)


def splice(paragraph: Para, start: int, end: int, value: str) -> None:
    """Replace ``[start, end)`` with new text (no ids)."""
    paragraph.text = paragraph.text[:start] + value + paragraph.text[end:]
    paragraph.ids[start:end] = [NO_ID] * len(value)


def other_word(word: str, rng: random.Random) -> str:
    for _ in range(50):
        candidate = rng.choice(vocabulary())
        if Levenshtein.normalized_similarity(word.lower(), candidate) < 0.4:
            return candidate
    return "zq" * max(1, len(word) // 2)


def replace_words(paragraph: Para, start: int, end: int, share: float, rng: random.Random) -> None:
    """Replace about ``share`` of the words in ``[start, end)`` (at least one)."""
    words = [
        m.span()
        for m in re.finditer(r"\w+", paragraph.text)
        if start <= m.start() and m.end() <= end
    ]
    if not words:
        words = [
            m.span()
            for m in re.finditer(r"\w+", paragraph.text)
            if m.end() > start and m.start() < end
        ]
    if not words:
        return
    chosen = [w for w in words if rng.random() < share] or [rng.choice(words)]
    for low, high in reversed(chosen):
        splice(paragraph, low, high, other_word(paragraph.text[low:high], rng))


def sentence_end(text: str, rng: random.Random) -> int:
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return rng.choice(ends) if ends else len(text)


def insert_paragraph(doc: Doc, index: int, text: str) -> None:
    doc.insert(index, Para(text, [NO_ID] * len(text)))


# The edit kinds ------------------------------------------------------------------


def typo_in_quote(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    index, start, end = focus(doc, target, rng)
    typo(doc[index], rng.randrange(start, max(start + 1, end)), rng)
    return None, doc


def typo_in_context(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    index, start, end = focus(doc, target, rng)
    size = len(doc[index].text)
    before = list(range(max(0, start - 32), start))
    after = list(range(end, min(size, end + 32)))
    if before or after:
        typo(doc[index], rng.choice(before + after), rng)
    else:  # the quote is its whole paragraph: the context is in the neighbours
        neighbour = index + 1 if index + 1 < len(doc) else index - 1
        if (
            0 <= neighbour < len(doc)
            and neighbour not in where(doc, target)
            and doc[neighbour].text
        ):
            text = doc[neighbour].text
            typo(
                doc[neighbour],
                rng.randrange(min(len(text), 32)) if neighbour > index else len(text) - 1,
                rng,
            )
    return None, doc


def paragraph_inserted_before(
    doc: Doc, target: Target, rng: random.Random
) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    index, _, _ = focus(doc, target, rng)
    insert_paragraph(doc, rng.randint(0, index), rng.choice(inserts()))
    return None, doc


def other_paragraph_deleted(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    free = elsewhere(doc, target, rng)
    if len(doc) > 1:
        del doc[rng.choice(free)]
    return None, doc


def quote_paragraph_moved(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    held = sorted(where(doc, target)) or [focus(doc, target, rng)[0]]
    low, high = held[0], held[-1] + 1
    block, rest = doc[low:high], doc[:low] + doc[high:]
    places = [i for i in range(len(rest) + 1) if i != low] or [low]
    at = rng.choice(places)
    return None, rest[:at] + block + rest[at:]


def many_edits_elsewhere(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    for _ in range(rng.randint(3, 8)):
        free = elsewhere(doc, target, rng)
        index = rng.choice(free)
        action = rng.choice(["typo", "typo", "words", "insert", "delete", "move", "sentence"])
        paragraph = doc[index]
        if action == "typo" and paragraph.text:
            typo(paragraph, rng.randrange(len(paragraph.text)), rng)
        elif action == "words":
            replace_words(paragraph, 0, len(paragraph.text), 0.15, rng)
        elif action == "insert":
            insert_paragraph(doc, index + rng.randint(0, 1), rng.choice(inserts()))
        elif action == "delete" and len(doc) > 2:
            del doc[index]
        elif action == "move" and len(doc) > 2:
            moved = doc.pop(index)
            doc.insert(rng.randrange(len(doc) + 1), moved)
        elif action == "sentence":
            at = sentence_end(paragraph.text, rng)
            splice(paragraph, at, at, " " + rng.choice(inserts()).split(". ")[0].rstrip(".") + ".")
    return None, doc


_TYPOGRAPHY: list[tuple[str, Callable[[str], str]]] = [
    (r'"', lambda s: "“"),
    (r"“|”", lambda s: '"'),
    (r"(?<=\w)'(?=\w)", lambda s: "’"),
    (r"’", lambda s: "'"),
    (r" - ", lambda s: " – "),
    (r" — ", lambda s: " -- "),
    (r"--", lambda s: "—"),
    (r"\.\.\.", lambda s: "…"),
    (r"…", lambda s: "..."),
    (r"(?<=\d) (?=[a-zA-Z%])", lambda s: "\u00a0"),
    (r"(?<=[.!?]) (?=[A-Z])", lambda s: "  "),
    (r"(?<=\d)-(?=\d)", lambda s: "–"),
]


def typography(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    """Typographic variants across the whole text; a variant keeps the id it replaces."""
    doc = clone(doc)
    chosen = [rule for rule in _TYPOGRAPHY if rng.random() < 0.6] or [rng.choice(_TYPOGRAPHY)]
    for paragraph in doc:
        for pattern, replace in chosen:
            parts: list[str] = []
            ids: list[int] = []
            done = 0
            for match in re.finditer(pattern, paragraph.text):
                if rng.random() < 0.2:
                    continue
                parts.append(paragraph.text[done : match.start()])
                ids.extend(paragraph.ids[done : match.start()])
                value = replace(match.group())
                parts.append(value)
                kept = paragraph.ids[match.start() : match.start() + len(value)]
                ids.extend(kept + [NO_ID] * (len(value) - len(kept)))
                done = match.end()
            parts.append(paragraph.text[done:])
            ids.extend(paragraph.ids[done:])
            paragraph.text, paragraph.ids = "".join(parts), ids
    return None, doc


def _copy(doc: Doc, target: Target, rng: random.Random, *, separated: bool = False) -> bool:
    """Paste the quote elsewhere, with its own context: a pull quote or a sentence.

    Elsewhere: at least one paragraph that the edit leaves alone lies between the copy
    and the original (if the text has room), else deleting the original and pasting
    the copy would be one edit of one paragraph; and a quote that is most of its
    paragraph goes into another paragraph, not into a pull quote (that would be the
    paragraph, moved). With ``separated`` (the original is deleted by the same edit),
    no copy is made, and False returned, where the text has no room for that.
    """
    index, start, end = focus(doc, target, rng)
    quote = doc[index].text[start:end].strip()
    held = set(where(doc, target)) or {index}
    gaps = [p for p in range(len(doc) + 1) if p - 1 not in held and p not in held]
    hosts = [i for i in range(len(doc)) if all(abs(i - h) >= 2 for h in held)]
    # A pull quote of most of a paragraph, with that paragraph deleted, is the paragraph
    # moved; so is a short paragraph that the copy would turn into a look-alike of it.
    whole = len(quote) > 0.7 * len(doc[index].text)
    if separated:
        hosts = [i for i in hosts if len(doc[i].text) >= len(quote)]
    if whole and not hosts:
        if separated:
            return False
        hosts = [i for i in range(len(doc)) if i not in held]
    if hosts and (not gaps or whole or rng.random() < 0.5):
        host = rng.choice(hosts)
        at = sentence_end(doc[host].text, rng)
        lead = rng.choice(
            ["As one reader put it,", "In the words of the report,", "Or, as was said,"]
        )
        splice(doc[host], at, at, f" {lead} “{quote}”.")
    elif gaps or not separated:
        insert_paragraph(doc, rng.choice(gaps or [len(doc)]), f"“{quote}”")
    else:
        return False
    return True


def _copy_with_context(doc: Doc, target: Target, rng: random.Random) -> None:
    """A copy that already exists, context and all (a repeated passage).

    Never a duplicate of the whole paragraph: which of two identical paragraphs an edit
    deleted cannot be told from the text.
    """
    index, start, end = focus(doc, target, rng)
    text = doc[index].text
    passage = text[max(0, start - 40) : min(len(text), end + 40)]
    if passage == text:
        passage = f"Earlier we reported: {passage}"
    places = elsewhere(doc, target, rng, away=1)
    insert_paragraph(doc, rng.choice(places) + rng.randint(0, 1), passage)


def quote_copied_elsewhere(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    _copy(doc, target, rng)
    return None, doc


def _with_copy(
    doc: Doc, target: Target, rng: random.Random, *, separated: bool = False
) -> tuple[Doc | None, Doc]:
    """Half the time the copy exists before the note, half it comes with the edit."""
    if rng.random() < 0.5:
        final = clone(doc)
        if _copy(final, target, rng, separated=separated):
            return None, final
    setup = clone(doc)
    _copy_with_context(setup, target, rng)
    return setup, clone(setup)


def copy_and_original_edited(
    doc: Doc, target: Target, rng: random.Random
) -> tuple[Doc | None, Doc]:
    setup, final = _with_copy(doc, target, rng)
    index, start, end = focus(final, target, rng)
    typo(final[index], rng.randrange(start, max(start + 1, end)), rng)
    return setup, final


def _parallel(doc: Doc, target: Target, rng: random.Random) -> Doc:
    """A look-alike of the quote's paragraph, a few words changed, made before the note."""
    setup = clone(doc)
    index, start, end = focus(setup, target, rng)
    look_alike = Para(setup[index].text, [NO_ID] * len(setup[index].text))
    outside = [
        m.span()
        for m in re.finditer(r"\w{3,}", look_alike.text)
        if m.end() <= start or m.start() >= end
    ]
    words = rng.sample(outside, min(len(outside), rng.randint(1, 3))) if outside else []
    if not words:
        replace_words(look_alike, start, end, 0.0, rng)
    for low, high in sorted(words, reverse=True):
        splice(look_alike, low, high, other_word(look_alike.text[low:high], rng))
    held = sorted(where(setup, target))
    if rng.random() < 0.5:  # next to the original
        at = rng.choice([held[0], held[-1] + 1]) if held else index
    else:
        at = rng.choice(
            [i for i in range(len(setup) + 1) if not held or not held[0] < i <= held[-1]]
        )
    setup.insert(at, look_alike)
    return setup


def parallel_and_original_edited(
    doc: Doc, target: Target, rng: random.Random
) -> tuple[Doc | None, Doc]:
    setup = _parallel(doc, target, rng)
    final = clone(setup)
    index, start, end = focus(final, target, rng)
    for _ in range(rng.randint(1, 2)):
        typo(final[index], rng.randrange(start, max(start + 1, end)), rng)
    return setup, final


def _delete_original(doc: Doc, target: Target, rng: random.Random) -> None:
    held = sorted(where(doc, target))
    if not held:
        return
    if rng.random() < 0.7 or len(held) > 1:
        for index in reversed(held):
            del doc[index]
    else:  # only the quote and its sentence
        paragraph = doc[held[0]]
        start, end = where(doc, target)[held[0]]
        low = max(paragraph.text.rfind(". ", 0, start) + 1, 0)
        high = paragraph.text.find(". ", end)
        high = len(paragraph.text) if high < 0 else high + 1
        paragraph.text = paragraph.text[:low] + paragraph.text[high:]
        del paragraph.ids[low:high]
    if not doc:
        doc.append(Para("", []))


def quote_paragraph_deleted(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    _delete_original(doc, target, rng)
    return None, doc


def quote_rewritten(doc: Doc, target: Target, rng: random.Random) -> tuple[Doc | None, Doc]:
    doc = clone(doc)
    for index, (start, end) in sorted(where(doc, target).items()):
        replace_words(doc[index], start, end, 0.9, rng)
    return None, doc


def copy_and_original_deleted(
    doc: Doc, target: Target, rng: random.Random
) -> tuple[Doc | None, Doc]:
    setup, final = _with_copy(doc, target, rng, separated=True)
    _delete_original(final, target, rng)
    return setup, final


def parallel_and_original_deleted(
    doc: Doc, target: Target, rng: random.Random
) -> tuple[Doc | None, Doc]:
    setup = _parallel(doc, target, rng)
    final = clone(setup)
    _delete_original(final, target, rng)
    return setup, final


KINDS: dict[str, Kind] = {
    "typo in quote": typo_in_quote,
    "typo in context": typo_in_context,
    "paragraph inserted before": paragraph_inserted_before,
    "other paragraph deleted": other_paragraph_deleted,
    "quote's paragraph moved": quote_paragraph_moved,
    "many edits elsewhere": many_edits_elsewhere,
    "typography": typography,
    "quote copied elsewhere": quote_copied_elsewhere,
    "copy + original edited": copy_and_original_edited,
    "parallel + original edited": parallel_and_original_edited,
    "quote's paragraph deleted": quote_paragraph_deleted,
    "quote rewritten": quote_rewritten,
    "copy + original deleted": copy_and_original_deleted,
    "parallel + original deleted": parallel_and_original_deleted,
}
