"""The Isso and Remark42 readers, on the sample files in ``fixtures/imports``: what they
yield, what they refuse, and that they stream. No voxpop database is involved."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sqlite3
import tracemalloc
from collections import Counter
from dataclasses import astuple
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from voxpop.importers import isso, remark42
from voxpop.importers.records import Post, Record, SourceError, Thread, no_progress

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
ISSO_DB = FIXTURES / "isso" / "comments.db"
REMARK42_PLAIN = FIXTURES / "remark42" / "backup-news-20240322.jsonl"
REMARK42_GZ = FIXTURES / "remark42" / "backup-news-20240322.gz"
CLIMATE = "https://news.example.com/2024/03/klimagipfel-einigung/"
SAKURA = "https://news.example.com/world/%E6%9D%B1%E4%BA%AC-%E6%A1%9C/"
ELECTION = "https://news.example.com/2023/11/archiv-wahlabend/"


def records(read: Any, path: Path) -> list[Record]:
    return list(read(str(path), no_progress))


def posts(found: list[Record]) -> dict[str, Post]:
    return {r.key: r for r in found if isinstance(r, Post)}


def threads(found: list[Record]) -> list[Thread]:
    return [r for r in found if isinstance(r, Thread)]


def assert_threads_come_first(found: list[Record]) -> None:
    defined: set[str] = set()
    for record in found:
        if isinstance(record, Thread):
            assert record.key not in defined, f"thread {record.key} yielded twice"
            defined.add(record.key)
        else:
            assert record.thread_key in defined, f"post {record.key} before its thread"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- Isso ------------------------------------------------------------------------------


def isso_copy(tmp_path: Path, *statements: str) -> Path:
    """The Isso sample, copied and changed by ``statements``."""
    path = tmp_path / "isso.db"
    shutil.copy(ISSO_DB, path)
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return path


def test_isso_threads_and_statuses() -> None:
    found = records(isso.read, ISSO_DB)
    assert_threads_come_first(found)
    assert [(t.key, t.url, t.title) for t in threads(found)] == [
        (
            "1",
            "/2024/03/stadtrat-beschliesst-haushalt/",
            "Stadtrat beschließt Haushalt – Grüne stimmen dagegen",
        ),
        ("2", "/world/2024/03/東京-桜-満開/", "東京の桜、過去最速で満開"),
        ("3", "/leserbriefe/", "Leserbriefe"),
    ]
    by_key = posts(found)
    # Comment 7 was deleted without replies: Isso removed its row.
    assert list(by_key) == ["1", "2", "3", "4", "5", "6", "8", "9", "10", "11", "12", "13", "14"]
    assert Counter(p.status for p in by_key.values()) == {
        "approved": 11,
        "deleted": 1,
        "pending": 1,
    }
    assert by_key["14"].status == "pending"  # still in Isso's moderation queue
    assert by_key["13"].status == "approved"  # was queued, then activated
    assert {p.format for p in by_key.values()} == {"markdown"}


def test_isso_replies_dates_and_votes() -> None:
    by_key = posts(records(isso.read, ISSO_DB))
    assert by_key["2"].parent_key == "1"
    assert by_key["3"].parent_key == "1"  # posted as a reply to 2; Isso flattens to the root
    assert by_key["6"].parent_key == "5"  # under the deleted comment, which keeps its place
    assert by_key["1"].parent_key is None
    assert by_key["1"].created_at == utc(2024, 3, 14, 8, 26, 53, 589793)
    assert by_key["4"].created_at == utc(2024, 3, 14, 22, 59, 59, 999999)
    assert by_key["8"].edited_at == utc(2024, 3, 15, 11, 7, 30, 500000)
    assert by_key["1"].edited_at is None
    assert all(p.created_at.tzinfo is UTC for p in by_key.values())
    assert (by_key["1"].up, by_key["1"].down) == (3, 1)
    assert (by_key["4"].up, by_key["4"].down) == (0, 2)
    assert (by_key["2"].up, by_key["2"].down) == (0, 0)


def test_isso_bodies_and_authors_as_typed() -> None:
    by_key = posts(records(isso.read, ISSO_DB))
    first = by_key["1"]
    assert first.body.startswith("Endlich! Die **Sanierung** der Saalebrücke")
    assert "> Der Haushalt sieht 4,2 Mio. € vor." in first.body
    assert (first.author_name, first.author_email, first.author_website) == (
        "Jürgen Müller",
        "juergen.mueller@example.de",
        "https://jmueller.example.org/blog",
    )
    hostile = by_key["4"]
    for needle in (
        "<script>alert(document.cookie)</script>",
        'onerror="alert(1)"',
        "[click me](javascript:alert(1))",
        '<iframe src="https://evil.example/frame">',
    ):
        assert needle in hostile.body
    # Isso stored these HTML-escaped; the reader gives back what was typed.
    assert hostile.author_name == '<script>alert("name")</script>'
    assert hostile.author_website == "http://evil.example/?'onmouseover='alert(1)'x='"
    assert by_key["3"].author_name == "Zoë Ärger & Söhne"
    assert by_key["2"].author_name is None  # anonymous
    assert by_key["10"].body == "مقال رائع! شكراً جزيلاً 👏"
    assert by_key["10"].author_name == "مريم"
    assert by_key["9"].author_name == "山田太郎"
    assert (
        by_key["9"].body == "今年は本当に早いですね 🌸🌸\n\n`東京` と `大阪` の比較も見たいです。"
    )


def test_isso_bodies_are_the_stored_text_verbatim() -> None:
    with sqlite3.connect(f"file:{ISSO_DB}?mode=ro", uri=True) as db:
        stored = {str(key): text for key, text in db.execute("SELECT id, text FROM comments")}
    db.close()
    found = posts(records(isso.read, ISSO_DB))
    assert {key: post.body for key, post in found.items()} == stored


def test_isso_deleted_comment_keeps_nothing_personal() -> None:
    with sqlite3.connect(f"file:{ISSO_DB}?mode=ro", uri=True) as db:
        raw = db.execute("SELECT mode, text, email FROM comments WHERE id = 5").fetchone()
    db.close()
    assert raw == (4, "", "karl@example.net")  # Isso keeps the address of a deleted comment
    deleted = posts(records(isso.read, ISSO_DB))["5"]
    assert (deleted.status, deleted.body) == ("deleted", "")
    assert (deleted.author_name, deleted.author_email, deleted.author_website) == (None, None, None)


def test_isso_never_passes_addresses_on() -> None:
    with sqlite3.connect(f"file:{ISSO_DB}?mode=ro", uri=True) as db:
        addresses = {row[0] for row in db.execute("SELECT remote_addr FROM comments")}
    db.close()
    assert "192.0.2.0" in addresses
    values = [str(v) for r in records(isso.read, ISSO_DB) for v in astuple(r)]
    assert not any(address in value for address in addresses for value in values)


def test_isso_reads_without_writing(tmp_path: Path) -> None:
    path = isso_copy(tmp_path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(records(isso.read, path)) == 16
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["isso.db"]
    # Opened read-only: a missing file is reported, not created as an empty database.
    missing = tmp_path / "typo.db"
    with pytest.raises(SourceError) as caught:
        records(isso.read, missing)
    assert "cannot open" in caught.value.reason
    assert not missing.exists()


def test_isso_passes_deeper_nesting_and_skips_empty_threads(tmp_path: Path) -> None:
    path = isso_copy(
        tmp_path,
        "UPDATE comments SET parent = 3 WHERE id = 2",
        "UPDATE comments SET parent = 2 WHERE id = 8",
        "INSERT INTO threads (uri, title) VALUES ('/empty/', 'Nobody wrote')",
    )
    found = records(isso.read, path)
    by_key = posts(found)
    assert [by_key[k].parent_key for k in ("3", "2", "8")] == ["1", "3", "2"]
    assert "/empty/" not in {t.url for t in threads(found)}


@pytest.mark.parametrize(
    ("statements", "reason"),
    [
        (["UPDATE comments SET tid = 99 WHERE id = 6"], "names thread 99"),
        (["UPDATE comments SET mode = 3 WHERE id = 6"], "mode 3"),
        (["UPDATE comments SET created = 'yesterday' WHERE id = 6"], "not a Unix time"),
        (["UPDATE threads SET uri = NULL WHERE id = 2"], "thread 2 has no uri"),
        (["ALTER TABLE comments DROP COLUMN likes"], "lacks column(s) likes"),
        (["DROP TABLE threads"], "no 'threads' table"),
    ],
)
def test_isso_refuses_a_broken_database(tmp_path: Path, statements: list[str], reason: str) -> None:
    path = isso_copy(tmp_path, *statements)
    with pytest.raises(SourceError) as caught:
        records(isso.read, path)
    assert reason in caught.value.reason
    assert caught.value.line is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("not-sqlite.db", "not a readable Isso (SQLite) database"),
        ("no-comments-table.db", "no 'comments' table"),
    ],
)
def test_isso_refuses_what_is_not_an_isso_database(name: str, reason: str) -> None:
    with pytest.raises(SourceError) as caught:
        records(isso.read, FIXTURES / "isso" / name)
    assert reason in caught.value.reason
    assert caught.value.line is None


def test_isso_progress_rises_to_the_file_size(tmp_path: Path) -> None:
    path = isso_copy(
        tmp_path,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2400) "
        "INSERT INTO comments (tid, created, mode, text, voters) "
        "SELECT 1, 1700000000 + i, 1, 'comment ' || i, x'00' FROM n",
    )
    seen: list[int] = []
    found = list(isso.read(str(path), seen.append))
    assert len(posts(found)) == 13 + 2400
    assert len(seen) >= 5
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] == path.stat().st_size


# --- Remark42 --------------------------------------------------------------------------


def test_remark42_plain_and_gzipped_backups_read_alike() -> None:
    assert REMARK42_GZ.read_bytes()[:2] == b"\x1f\x8b"
    assert records(remark42.read, REMARK42_GZ) == records(remark42.read, REMARK42_PLAIN)


def test_remark42_threads_and_statuses() -> None:
    found = records(remark42.read, REMARK42_GZ)
    assert_threads_come_first(found)
    assert [(t.key, t.url, t.title, t.closed) for t in threads(found)] == [
        (CLIMATE, CLIMATE, "Klimagipfel: Einigung in letzter Minute", False),
        (SAKURA, SAKURA, "東京の桜、過去最速で満開", False),
        (ELECTION, ELECTION, "Wahlabend im Liveblog", True),  # read_only in the meta line
    ]
    by_key = posts(found)
    assert len(by_key) == 14
    assert Counter(p.status for p in by_key.values()) == {"approved": 12, "deleted": 2}
    assert Counter(p.thread_key for p in by_key.values()) == {CLIMATE: 10, SAKURA: 3, ELECTION: 1}


def test_remark42_nesting_and_dates() -> None:
    by_key = posts(records(remark42.read, REMARK42_PLAIN))
    chain = ["6f0e1c2a", "8a2b3c4d", "9b3c4d5e", "ac4d5e6f"]
    full = {key.split("-")[0]: key for key in by_key}
    assert by_key[full[chain[0]]].parent_key is None
    for parent, child in pairwise(chain):
        assert by_key[full[child]].parent_key == full[parent]  # four levels deep
    assert by_key[full["ce6f7a8b"]].parent_key == full["bd5e6f7a"]  # reply to a deleted one
    # Nanoseconds are cut to microseconds; every offset ends up in UTC.
    assert by_key[full["6f0e1c2a"]].created_at == utc(2024, 3, 14, 6, 26, 53, 589793)
    assert by_key[full["8a2b3c4d"]].created_at == utc(2024, 3, 14, 15, 2, 11, 250000)
    assert by_key[full["ac4d5e6f"]].created_at == utc(2024, 3, 14, 19, 45)  # +05:45
    assert by_key[full["2bbecfd0"]].created_at == utc(2024, 3, 22, 11, 0)  # -03:30
    assert by_key[full["1aadbecf"]].created_at == utc(2024, 3, 21, 21, 15, 3, 100000)
    assert by_key[full["9b3c4d5e"]].edited_at == utc(2024, 3, 15, 0, 4, 59, 999999)
    assert by_key[full["6f0e1c2a"]].edited_at is None
    assert all(p.created_at.tzinfo is UTC for p in by_key.values())


def test_remark42_votes() -> None:
    by_key = posts(records(remark42.read, REMARK42_PLAIN))
    full = {key.split("-")[0]: key for key in by_key}

    def votes(prefix: str) -> tuple[int, int]:
        post = by_key[full[prefix]]
        return post.up, post.down

    assert votes("6f0e1c2a") == (3, 0)  # score only: nobody voted down
    assert votes("8a2b3c4d") == (1, 2)  # score -1, controversy √3
    assert votes("ac4d5e6f") == (5, 5)  # score 0, controversy 10
    assert votes("f19cadbe") == (14, 2)  # score 12, controversy 16 ** (2/14)
    assert votes("ce6f7a8b") == (2, 1)  # a votes map is counted
    assert votes("1aadbecf") == (0, 0)


def test_remark42_bodies_and_authors() -> None:
    by_key = posts(records(remark42.read, REMARK42_PLAIN))
    full = {key.split("-")[0]: key for key in by_key}
    first = by_key[full["6f0e1c2a"]]
    assert (first.format, first.body) == (
        "markdown",
        "Endlich eine **Einigung**! Aber reicht das? Mehr dazu beim [IPCC](https://www.ipcc.ch/).",
    )
    assert (first.author_name, first.author_email) == (
        "Inès Müller-Lüdenscheidt",
        "ines@example.com",
    )
    guest = by_key[full["8a2b3c4d"]]
    assert guest.body == 'It\'s a start & better than "nothing" – oder?'  # entities decoded
    assert (guest.author_name, guest.author_email, guest.author_website) == ("Gast 🦊", None, None)
    assert by_key[full["ce6f7a8b"]].author_email == "lena+news@example.org"
    assert by_key[full["ac4d5e6f"]].body == "أتفق تماماً 👏"
    assert by_key[full["9b3c4d5e"]].author_name == "山田花子"
    assert by_key[full["e08b9cad"]].body == "[click me](javascript:alert(1))"
    assert by_key[full["f19cadbe"]].body.endswith("```\nNetiquette §3\n```")

    tampered = by_key["tampered"]
    assert tampered.format == "html"
    assert tampered.body == (
        "<p>Nice <script>alert(document.cookie)</script></p>"
        '<img src=x onerror="alert(1)"><iframe src="https://evil.example/frame"></iframe>'
        "<a href=\"javascript:alert('a')\">this</a>"
    )
    assert tampered.author_name == "<img src=x onerror=alert(1)>"
    imported = by_key["disqus-412345678"]
    assert (imported.format, imported.body) == (
        "html",
        "<p>Imported from Disqus &mdash; <em>first!</em></p>",
    )


def test_remark42_deleted_comments() -> None:
    by_key = posts(records(remark42.read, REMARK42_PLAIN))
    full = {key.split("-")[0]: key for key in by_key}
    soft, hard = by_key[full["bd5e6f7a"]], by_key[full["df7a8b9c"]]
    assert (soft.status, soft.body, soft.author_name) == ("deleted", "", "Karl")
    assert (hard.status, hard.body, hard.author_name) == ("deleted", "", None)


def test_remark42_never_passes_addresses_on() -> None:
    hashes = {
        json.loads(line)["user"].get("ip")
        for line in REMARK42_PLAIN.read_text(encoding="utf-8").splitlines()[1:]
    } - {None}
    assert len(hashes) >= 5
    values = [str(v) for r in records(remark42.read, REMARK42_PLAIN) for v in astuple(r)]
    assert not any(h in value for h in hashes for value in values)


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("truncated-line.jsonl", 4, "not JSON: Unterminated string"),
        ("no-locator.jsonl", 3, "has no locator URL"),
        ("bad-time.jsonl", 2, "'14.03.2024 09:26:53' is not an RFC 3339 time"),
    ],
)
def test_remark42_broken_samples_name_their_line(name: str, line: int, reason: str) -> None:
    yielded: list[Record] = []
    with pytest.raises(SourceError) as caught:
        yielded.extend(remark42.read(str(FIXTURES / "remark42" / name), no_progress))
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert f"line {line}: " in str(caught.value)


META = '{"version":1,"users":[],"posts":[]}'


def comment_line(**changes: Any) -> str:
    found: dict[str, Any] = {
        "id": "c1",
        "pid": "",
        "text": "<p>hi</p>\n",
        "orig": "hi",
        "user": {"name": "A", "id": "github_1", "picture": "", "admin": False},
        "locator": {"site": "news", "url": "https://news.example.com/a/"},
        "score": 0,
        "vote": 0,
        "time": "2024-03-14T09:26:53Z",
    }
    found |= changes
    return json.dumps({k: v for k, v in found.items() if v is not ...}, ensure_ascii=False)


def read_text(tmp_path: Path, text: str | bytes) -> list[Record]:
    path = tmp_path / "backup.jsonl"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return records(remark42.read, path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-14T09:26:53Z", utc(2024, 3, 14, 9, 26, 53)),
        ("2024-03-14T09:26:53.123456789123+01:00", utc(2024, 3, 14, 8, 26, 53, 123456)),
        ("2024-03-14T00:10:00-14:00", utc(2024, 3, 14, 14, 10)),
        ("0001-01-01T00:00:00Z", utc(1, 1, 1)),  # Go's zero time
        ("1999-12-31T23:59:59.9+00:00", utc(1999, 12, 31, 23, 59, 59, 900000)),
    ],
)
def test_remark42_times(tmp_path: Path, value: str, expected: datetime) -> None:
    (post,) = posts(read_text(tmp_path, f"{META}\n{comment_line(time=value)}\n")).values()
    assert post.created_at == expected


@pytest.mark.parametrize(
    "value",
    ["2024-02-30T00:00:00Z", "2024-03-14T25:00:00Z", "2024-03-14T09:26:53", "", 1710404813, None],
)
def test_remark42_refuses_bad_times(tmp_path: Path, value: Any) -> None:
    with pytest.raises(SourceError) as caught:
        read_text(tmp_path, f"{META}\n\n{comment_line(time=value)}\n")
    assert caught.value.line == 3
    assert "is not an RFC 3339 time" in caught.value.reason


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "the file is empty"),
        (comment_line() + "\n", 1, "starts with its meta line"),
        ('{"version":2,"users":[],"posts":[]}\n', 1, "unknown Remark42 backup version 2"),
        (f"{META}\n[1, 2]\n", 2, "expected a JSON object"),
        (f"{META}\n{comment_line()}\n{comment_line(id='')}\n", 3, "without an id"),
        (f"{META}\n{comment_line(locator={'site': 'news'})}\n", 2, "has no locator URL"),
        (f"{META}\n{comment_line(text=..., orig=...)}\n", 2, "has no text"),
        (f"{META}\n{comment_line(edit={'time': 'soon'})}\n", 2, "edit time 'soon'"),
    ],
)
def test_remark42_refuses_broken_lines(
    tmp_path: Path, text: str, line: int | None, reason: str
) -> None:
    with pytest.raises(SourceError) as caught:
        read_text(tmp_path, text)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_remark42_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        read_text(tmp_path, f"{META}\n{comment_line()}\n".encode() + b'{"id": "\xff"}\n')
    assert (caught.value.line, caught.value.reason) == (3, "not UTF-8 text")


def test_remark42_score_without_controversy_counts_one_way(tmp_path: Path) -> None:
    found = read_text(tmp_path, f"{META}\n{comment_line(score=-4)}\n")
    (post,) = posts(found).values()
    assert (post.up, post.down) == (0, 4)


def test_remark42_truncated_gzip_names_a_line(tmp_path: Path) -> None:
    packed = REMARK42_GZ.read_bytes()
    path = tmp_path / "backup-news-20240322.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    yielded: list[Record] = []
    with pytest.raises(SourceError) as caught:
        yielded.extend(remark42.read(str(path), no_progress))
    assert caught.value.line is not None and caught.value.line >= 2
    assert "breaks off" in caught.value.reason
    assert 0 < len(yielded) < 17  # what came before the break was streamed


def big_backup(path: Path, comments: int, packed: bool) -> None:
    opener: Any = gzip.open if packed else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.write(META + "\n")
        for n in range(comments):
            out.write(
                comment_line(
                    id=f"c{n}",
                    pid=f"c{n - 1}" if n % 5 else "",
                    orig=f"Kommentar Nummer {n} – grüße aus 東京 🌸 " + "x" * 300,
                    text=f"<p>Kommentar Nummer {n}</p>\n",
                    locator={"site": "news", "url": f"https://news.example.com/{n % 97}/"},
                    time=f"2024-03-14T09:{n // 60 % 60:02d}:{n % 60:02d}.123456789+02:00",
                )
                + "\n"
            )


def test_remark42_streams_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    big_backup(path, 10_000, packed=False)
    size = path.stat().st_size
    assert size > 6_000_000
    seen: list[int] = []
    counts: Counter[str] = Counter()
    tracemalloc.start()
    try:
        for record in remark42.read(str(path), seen.append):
            counts[type(record).__name__] += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts == {"Post": 10_000, "Thread": 97}
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file"
    assert len(seen) >= 10
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] == size


def test_remark42_progress_counts_compressed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.gz"
    big_backup(path, 5_000, packed=True)
    seen: list[int] = []
    assert sum(1 for _ in remark42.read(str(path), seen.append)) == 5_000 + 97
    assert len(seen) >= 3
    assert seen == sorted(seen)
    assert seen[-1] == path.stat().st_size
