"""The evaluation corpus: texts written for it, and longer ones composed from them.

Everything is deterministic. Texts are plain text, paragraphs separated by a blank line.

* ``harbour``, ``heatwave``: news reports (about 5 KB each);
* ``explainer``: questions and answers, with dashes, curly quotes and an emoji;
* ``review``: a book review with accented names (2 KB); ``correction``: short (0.4 KB);
* ``branches``: a list-like article of near-identical paragraphs (library opening hours);
* ``long``: about 50 KB, the prose texts followed by paragraphs recombined from their
  sentences with numbers and names changed (so sentences recur, as in a live blog).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TEXTS = Path(__file__).parent / "texts"
PROSE = ("harbour", "heatwave", "explainer", "review", "correction")


def seeded(seed: int) -> random.Random:
    """A reproducible generator: the evaluation's randomness is data, not secrets."""
    return random.Random(seed)  # noqa: S311


@dataclass(frozen=True)
class Text:
    name: str
    raw: str


def _read(name: str) -> str:
    return (TEXTS / f"{name}.txt").read_text(encoding="utf-8").strip()


def paragraphs(raw: str) -> list[str]:
    return [p.strip() for p in raw.split("\n\n") if p.strip()]


_BRANCHES = [
    ("Abbey Road", "Monday to Thursday", "9am", "5pm"),
    ("Ashgrove", "Tuesday to Friday", "10am", "6pm"),
    ("Bramley Park", "Monday to Thursday", "9am", "5pm"),
    ("Castle Hill", "Monday, Wednesday, Friday and Saturday", "9.30am", "5pm"),
    ("Cedar Lane", "Tuesday to Friday", "10am", "6pm"),
    ("Dockside", "Monday to Thursday", "9am", "4pm"),
    ("Elmfield", "Tuesday to Saturday", "10am", "5pm"),
    ("Fairwater", "Monday to Thursday", "9am", "5pm"),
    ("Greenbank", "Tuesday to Friday", "9.30am", "5.30pm"),
    ("Hollins Cross", "Monday to Thursday", "10am", "6pm"),
    ("Kingsmead", "Tuesday to Saturday", "9am", "5pm"),
    ("Larkhill", "Monday, Tuesday, Thursday and Friday", "10am", "5pm"),
    ("Marsh End", "Monday to Thursday", "9am", "5pm"),
    ("Northgate", "Tuesday to Friday", "10am", "6pm"),
    ("Old Market", "Monday to Thursday", "9.30am", "5pm"),
    ("Parkside", "Tuesday to Saturday", "10am", "5pm"),
    ("Queensway", "Monday to Thursday", "9am", "5pm"),
    ("Riverside", "Tuesday to Friday", "9am", "5pm"),
    ("St Anne's", "Monday to Thursday", "10am", "6pm"),
    ("Thornbury", "Tuesday to Friday", "9.30am", "5.30pm"),
    ("Upper Hale", "Monday to Thursday", "9am", "4pm"),
    ("Westcliff", "Tuesday to Saturday", "10am", "5pm"),
]
_EXTRAS = [
    "Computers can be booked for one hour at a time.",
    "Printing and scanning are available at the counter.",
    "The branch will close early on 14 August for repairs to the roof.",
    "The Saturday story time for under-fives will continue as usual.",
    "Volunteers will run a homework club on Tuesday afternoons.",
    "Parking is limited, so visitors are encouraged to come by bus.",
]


@cache
def branches() -> Text:
    intro = paragraphs(_read("branches-intro"))
    rng = seeded(7)
    entries = []
    for index, (name, days, opens, closes) in enumerate(_BRANCHES):
        kids = closes.replace("5pm", "4pm").replace("6pm", "5pm").replace("5.30pm", "4.30pm")
        study = "open as usual" if index % 3 else "closed on Mondays"
        extra = " ".join(rng.sample(_EXTRAS, 1 + index % 2))
        entries.append(
            f"{name} Library will be open {days} from {opens} to {closes}. The children's "
            f"room closes at {kids} and the study area is {study}. {extra}"
        )
    return Text("branches", "\n\n".join([*intro[:2], *entries, intro[2]]))


_SENTENCE = re.compile(r"(?<=[.!?\"”])\s+(?=[A-Z“\"])")
_NAMES = {
    "Oyelaran": ["Mensah", "Kowalczyk", "Abernethy"],
    "Keverne": ["Trelawny", "Pascoe", "Nankivell"],
    "Achebe": ["Okafor", "Lindgren", "Moreau"],
    "Ferreira": ["Castillo", "Varga", "Quinn"],
    "Westmouth": ["Eastbury", "Porthallow", "Kingsbridge"],
    "Brenner": ["Halvorsen", "Dubois", "Ng"],
}


def sentences(names: tuple[str, ...] = PROSE) -> list[str]:
    found = []
    for name in names:
        for paragraph in paragraphs(_read(name))[1:]:
            found.extend(s for s in _SENTENCE.split(paragraph) if len(s) > 30)
    return found


def recombined(count: int, seed: int, names: tuple[str, ...] = PROSE) -> list[str]:
    """``count`` distinct paragraphs of 2 to 5 recombined sentences, numbers and names changed."""
    rng = seeded(seed)
    pool = sentences(names)
    made: list[str] = []
    seen: set[str] = set()
    while len(made) < count:
        picked = rng.sample(pool, rng.randint(2, 5))
        paragraph = " ".join(picked)
        paragraph = re.sub(
            r"\d+", lambda m: str(rng.randint(2, 10 ** len(m.group()) - 1)), paragraph
        )
        for name, others in _NAMES.items():
            if name in paragraph and rng.random() < 0.7:
                paragraph = paragraph.replace(name, rng.choice(others))
        if paragraph not in seen:
            seen.add(paragraph)
            made.append(paragraph)
    return made


@cache
def composed(size: int, seed: int = 11) -> Text:
    """About ``size`` characters: the prose texts, then recombined paragraphs."""
    parts: list[str] = []
    for name in PROSE:
        parts.extend(paragraphs(_read(name)))
    parts = parts if size > 8_000 else parts[: max(3, size // 450)]
    extra = recombined(400, seed)
    while sum(len(p) + 2 for p in parts) < size:
        parts.append(extra.pop())
    while sum(len(p) + 2 for p in parts) > size * 1.05 and len(parts) > 3:
        parts.pop()
    return Text(f"composed-{size // 1000}k", "\n\n".join(parts))


@cache
def corpus() -> tuple[Text, ...]:
    prose = tuple(Text(name, _read(name)) for name in PROSE)
    return (*prose, branches(), Text("long", composed(50_000).raw))


@cache
def inserts() -> tuple[str, ...]:
    """Paragraphs an edit may insert: written ones, then ones recombined from those.

    No sentence of the corpus is among them, so an insertion never brings back, as new
    characters, a passage that an earlier edit deleted (which re-anchoring orphans would
    rightly take back, and the character-identity truth would call a mis-anchor).
    """
    return (*paragraphs(_read("inserts")), *recombined(60, seed=23, names=("inserts",)))


@cache
def vocabulary() -> tuple[str, ...]:
    words = set()
    for text in corpus()[:5]:
        words.update(w for w in re.findall(r"[a-z]{3,}", text.raw))
    return tuple(sorted(words))
