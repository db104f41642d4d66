"""The Disqus and WordPress (WXR) readers: the records they yield from realistic exports,
the broken and hostile files they refuse, flat memory and progress on big files.

Reader level only (no database): what the import service gets to write.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import itertools
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from voxpop.importers import disqus, wordpress
from voxpop.importers.records import Post, Record, SourceError, Thread

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "imports"
DISQUS = FIXTURES / "disqus"
WORDPRESS = FIXTURES / "wordpress"


def read_all(reader: Callable[..., Iterator[Record]], path: Path, *extra: object) -> list[Record]:
    return list(reader(str(path), lambda _read: None, *extra))


def posts_of(records: list[Record]) -> dict[str, Post]:
    return {r.key: r for r in records if isinstance(r, Post)}


def threads_of(records: list[Record]) -> dict[str, Thread]:
    return {r.key: r for r in records if isinstance(r, Thread)}


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def last_line(path: Path) -> int:
    """The line a parser is on at the end of the file (after a final newline: the next)."""
    return path.read_bytes().count(b"\n") + 1


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def assert_threads_come_first(records: list[Record]) -> None:
    seen: set[str] = set()
    for record in records:
        if isinstance(record, Thread):
            seen.add(record.key)
        else:
            assert record.thread_key in seen, f"post {record.key} before its thread"


def load_generator() -> ModuleType:
    path = ROOT / "bench" / "imports" / "generate_disqus.py"
    spec = importlib.util.spec_from_file_location("generate_disqus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Disqus: the sample export ---------------------------------------------------------


def test_disqus_threads_with_closed_and_deleted_ones() -> None:
    records = read_all(disqus.read, DISQUS / "export.xml")
    threads = threads_of(records)
    assert list(threads) == ["7001", "7002", "7003"]
    assert threads["7001"] == Thread(
        key="7001",
        url="https://www.rheinpost.example/lokales/2019/03/stadtrat-beschliesst-radwege/",
        title="Stadtrat beschließt neue Radwege für die Südstadt",
        closed=False,
    )
    assert threads["7002"].closed is True
    assert threads["7002"].title == "東京の桜、今年は早咲き — Kirschblüte in Tokio"
    # Disqus marks 7003 deleted; it is still yielded so that its post attaches.
    assert threads["7003"].url.endswith("/zurueckgezogener-artikel/")
    assert posts_of(records)["9201"].thread_key == "7003"
    assert_threads_come_first(records)


def test_disqus_posts_statuses_and_tree() -> None:
    records = read_all(disqus.read, DISQUS / "export.xml")
    posts = posts_of(records)
    assert len(posts) == 13
    assert Counter(p.status for p in posts.values()) == {
        "approved": 10,
        "pending": 1,
        "spam": 1,
        "deleted": 1,
    }
    assert posts["9030"].status == "spam"
    assert posts["9031"].status == "deleted"
    assert posts["9040"].status == "pending"  # <isApproved>false</isApproved>
    # A reply chain four levels deep.
    assert posts["9001"].parent_key is None
    assert posts["9002"].parent_key == "9001"
    assert posts["9003"].parent_key == "9002"
    assert posts["9004"].parent_key == "9003"
    # A reply that comes before its parent in the file keeps its parent's key.
    order = [r.key for r in records if isinstance(r, Post)]
    assert posts["9010"].parent_key == "9020"
    assert order.index("9010") < order.index("9020")
    assert {p.thread_key for p in posts.values()} == {"7001", "7002", "7003"}
    assert all(p.format == "html" and p.up == p.down == 0 for p in posts.values())


def test_disqus_dates_are_utc_whatever_their_form() -> None:
    posts = posts_of(read_all(disqus.read, DISQUS / "export.xml"))
    assert all(p.created_at.utcoffset() is not None for p in posts.values())
    assert all(p.created_at.tzinfo is UTC for p in posts.values())
    assert posts["9001"].created_at == at(2019, 3, 4, 8, 12, 45)
    assert posts["9003"].created_at == at(2019, 3, 4, 9, 2, 0, 512000)  # fraction
    assert posts["9004"].created_at == at(2019, 3, 4, 10, 15, 30)  # +01:00
    assert posts["9020"].created_at == at(2019, 3, 5, 5, 30)  # no seconds, no zone
    assert posts["9101"].created_at == at(2019, 4, 1, 3, 34, 56)  # +09:00
    assert posts["9103"].created_at == at(2019, 4, 2, 1, 2, 3, 123456)  # nanoseconds


def test_disqus_authors_as_given_and_no_ip_addresses() -> None:
    records = read_all(disqus.read, DISQUS / "export.xml")
    posts = posts_of(records)
    assert posts["9001"].author_name == "Jürgen Müller"
    assert posts["9001"].author_email == "juergen.mueller@example.de"
    assert posts["9002"].author_name == "Ayşe Özdemir"  # stripped
    assert posts["9002"].author_email == "a.oezdemir@example.com"
    assert (posts["9020"].author_name, posts["9020"].author_email) == ("Gast", None)
    assert posts["9201"].author_email is None  # an empty <email />
    assert posts["9103"].author_name == "nameless_user"  # empty name: the username
    assert posts["9102"].author_name == "ليلى"
    assert all(p.author_website is None for p in posts.values())
    assert "198.51.100." not in repr(records) and "192.0.2." not in repr(records)


def test_disqus_bodies_verbatim_for_the_service_to_sanitise() -> None:
    posts = posts_of(read_all(disqus.read, DISQUS / "export.xml"))
    spam = posts["9030"].body
    assert spam.startswith('<p>Great deal!!! <a href="javascript:alert(document.cookie)">')
    assert "<script>fetch(" in spam and 'onerror="alert(1)"' in spam and "<style>" in spam
    assert '<iframe src="https://evil.example/player"' in posts["9103"].body
    assert posts["9101"].body == "<p>今年は本当に早いですね！上野公園はもう満開でした 🌸🌸</p>"
    assert posts["9102"].body == (
        '<p dir="rtl">أزهار الكرز جميلة جدًا هذا العام، شكرًا على الصور!</p>'
    )
    assert "😅" in posts["9003"].body
    # An escaped (not CDATA) message is unescaped once, like any XML text.
    assert posts["9201"].body == "<p>Escaped, not CDATA: 5 &lt; 7 &amp; fine.</p>"


def test_disqus_thread_named_by_identifier_and_post_keyed_by_id(tmp_path: Path) -> None:
    # Disqus' documented import format: <thread>identifier</thread>, posts without dsq:id.
    path = tmp_path / "documented.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<disqus xmlns="http://disqus.com" '
        'xmlns:dsq="http://disqus.com/disqus-internals">\n'
        '<thread dsq:id="2"><id>article-1</id><link>https://a.example/1</link></thread>\n'
        "<post><id>p1</id><message>Hi</message><thread>article-1</thread>"
        "<createdAt>2012-12-12T12:12:12</createdAt><author><name>Baz</name></author></post>\n"
        '<post><id>p2</id><message>Yo</message><parent dsq:id="p1"/><thread>article-1</thread>'
        "<createdAt>2012-12-12T12:13:12</createdAt></post>\n</disqus>\n",
        encoding="utf-8",
    )
    posts = posts_of(read_all(disqus.read, path))
    assert (posts["p1"].thread_key, posts["p1"].parent_key) == ("2", None)
    assert (posts["p2"].thread_key, posts["p2"].parent_key) == ("2", "p1")
    assert posts["p2"].author_name is None
    assert posts["p1"].created_at == at(2012, 12, 12, 12, 12, 12)


# --- Disqus: broken and hostile files ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needle", "words"),
    [
        ("truncated.xml", None, "truncated"),
        ("undefined-thread.xml", '<thread dsq:id="99999"', "thread 99999, which is not defined"),
        ("bad-date.xml", "04.03.2019 um 9 Uhr", "date that cannot be read"),
        ("post-without-id.xml", "<post>", "<post> has neither a dsq:id"),
        ("billion-laughs.xml", "<!ENTITY lol ", "billion laughs"),
        ("xxe.xml", "<!ENTITY secret", "external entity"),
    ],
)
def test_disqus_broken_files_are_refused_with_a_line(
    name: str, needle: str | None, words: str
) -> None:
    path = DISQUS / name
    expected = line_of(path, needle) if needle else last_line(path)
    with pytest.raises(SourceError) as caught:
        read_all(disqus.read, path)
    assert caught.value.line == expected
    assert words in caught.value.reason
    assert str(caught.value).startswith(f"line {expected}: ")


def test_disqus_reader_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a Disqus export: its root element is <rss>"):
        read_all(disqus.read, WORDPRESS / "export.xml")
    with pytest.raises(SourceError, match="cannot open the file") as caught:
        read_all(disqus.read, tmp_path / "missing.xml")
    assert caught.value.line is None
    (tmp_path / "empty.xml").write_bytes(b"")
    with pytest.raises(SourceError, match="truncated"):
        read_all(disqus.read, tmp_path / "empty.xml")


# --- WordPress: the sample export ------------------------------------------------------


def test_wordpress_threads_only_for_items_with_imported_comments() -> None:
    records = read_all(wordpress.read, WORDPRESS / "export.xml")
    threads = threads_of(records)
    # 103 has no comments, 104 only a trackback: neither becomes a thread.
    assert list(threads) == ["101", "12"]
    assert threads["101"] == Thread(
        key="101",
        url="https://elbkurier.example/2024/02/elbtunnel-sperrung/",
        title="Elbtunnel: Sperrung über Ostern verlängert",
        closed=False,
    )
    assert threads["12"].closed is True  # comment_status closed
    assert threads["12"].title == "Leserbriefe: 桜 im Alten Land"
    assert_threads_come_first(records)


def test_wordpress_posts_statuses_tree_and_skipped_pingbacks() -> None:
    skipped: Counter[str] = Counter()
    records = read_all(wordpress.read, WORDPRESS / "export.xml", skipped)
    posts = posts_of(records)
    assert list(posts) == ["501", "502", "503", "505", "504", "506", "507", "509", "601", "602"]
    assert skipped == {"pingback": 1, "trackback": 1}
    statuses = {key: post.status for key, post in posts.items()}
    assert statuses == {
        "501": "approved",
        "502": "approved",
        "503": "approved",
        "505": "pending",  # 0
        "504": "approved",
        "506": "spam",
        "507": "deleted",  # trash
        "509": "approved",
        "601": "approved",
        "602": "deleted",  # post-trashed
    }
    # Five levels: 501 ← 502 ← 503 ← 504 ← 505, and 505 comes before 504 in the file.
    chain = [posts[k].parent_key for k in ("501", "502", "503", "504", "505")]
    assert chain == [None, "501", "502", "503", "504"]
    # 509 answered the (skipped) pingback 508: it becomes top-level.
    assert posts["509"].parent_key is None
    assert posts["602"].parent_key == "601"
    assert {p.thread_key for p in posts.values()} == {"101", "12"}


def test_wordpress_dates_gmt_with_local_fallback() -> None:
    posts = posts_of(read_all(wordpress.read, WORDPRESS / "export.xml"))
    assert posts["501"].created_at == at(2024, 2, 9, 7, 2, 11)  # comment_date_gmt
    # comment_date_gmt 0000-00-00 00:00:00: comment_date, taken as UTC.
    assert posts["503"].created_at == at(2024, 2, 9, 9, 0, 0)
    assert posts["504"].created_at == at(2024, 2, 9, 8, 45, 0, 250000)
    assert posts["505"].created_at == at(2024, 2, 9, 9, 0)  # no seconds
    assert all(p.created_at.tzinfo is UTC for p in posts.values())


def test_wordpress_bodies_authors_votes_and_edits() -> None:
    records = read_all(wordpress.read, WORDPRESS / "export.xml")
    posts = posts_of(records)
    # Raw newlines become paragraphs and line breaks, as wpautop shows them.
    assert posts["501"].body == (
        "<p>Schon wieder! Wer pendelt, steht jetzt jeden Morgen eine Stunde im Stau.</p>\n"
        "<p>Gibt es wenigstens eine Umleitung für Radfahrer?<br>\nFähre oder Bus?</p>"
    )
    assert posts["503"].body == "Danke! <em>Das</em> wusste ich nicht."
    assert posts["601"].body == (
        "<p>アルテスラントの桜は本当にきれいです。</p>\n"
        "<blockquote>Kirschblüte im Alten Land</blockquote>"
    )
    assert posts["504"].body == "Gern. 🚲⛴️"
    hostile = posts["506"].body
    assert "<script>document.location=" in hostile and "onerror=alert(1)" in hostile
    assert 'href="javascript:alert(document.cookie)"' in hostile
    assert "<iframe" in posts["602"].body and "<style>" in posts["602"].body
    assert posts["602"].body.startswith("رسالة جميلة، شكرًا!")
    # Authors as given, stripped, None when empty; the website unvalidated.
    assert (posts["501"].author_name, posts["501"].author_website) == (
        "Hannes Jürgensen",
        "https://hannes.example.de",
    )
    assert posts["602"].author_email == "sara@example.com"
    assert (posts["505"].author_name, posts["505"].author_email) == (None, None)
    assert posts["502"].author_website is None
    assert posts["506"].author_website == "javascript:alert(1)"
    # wpDiscuz votes: like/dislike when stored separately, else the net sum.
    assert (posts["501"].up, posts["501"].down) == (7, 2)
    assert (posts["502"].up, posts["502"].down) == (0, 3)
    assert (posts["504"].up, posts["504"].down) == (0, 0)
    assert posts["503"].edited_at == at(2024, 2, 9, 8, 5)
    assert posts["501"].edited_at is None
    assert "198.51.100." not in repr(records) and "192.0.2." not in repr(records)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_wordpress_older_wxr_versions_read_the_same(tmp_path: Path, version: str) -> None:
    text = (WORDPRESS / "export.xml").read_text(encoding="utf-8")
    path = tmp_path / "old.xml"
    path.write_text(text.replace("/export/1.2/", f"/export/{version}/"), encoding="utf-8")
    assert f"/export/{version}/" in path.read_text(encoding="utf-8")
    assert read_all(wordpress.read, path) == read_all(wordpress.read, WORDPRESS / "export.xml")


@pytest.mark.parametrize(
    ("content", "body"),
    [
        ("one line", "one line"),
        ("a\r\nb", "<p>a<br>\nb</p>"),
        ("a\n\n\n\nb\n", "<p>a</p>\n<p>b</p>"),
        ("a\n  \t\nb", "<p>a</p>\n<p>b</p>"),
        ("<b>x</b>\n\n<i>y</i>", "<p><b>x</b></p>\n<p><i>y</i></p>"),
        ("<P>x</P>\n\ny", "<P>x</P>\n\ny"),
        ("<ul><li>x</li>\n<li>y</li></ul>", "<ul><li>x</li>\n<li>y</li></ul>"),
    ],
)
def test_wordpress_paragraphs(content: str, body: str) -> None:
    assert wordpress.paragraphs(content) == body


# --- WordPress: broken and hostile files ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needle", "words"),
    [
        ("truncated.xml", None, "truncated"),
        ("bad-date.xml", "2024-13-45 25:61:00", "comment 802 has a date that cannot be read"),
        ("comment-before-post-id.xml", "<wp:comment>", "before its item's <wp:post_id>"),
        ("billion-laughs.xml", "<!ENTITY a ", "billion laughs"),
        ("xxe.xml", "<!ENTITY config", "external entity"),
    ],
)
def test_wordpress_broken_files_are_refused_with_a_line(
    name: str, needle: str | None, words: str
) -> None:
    path = WORDPRESS / name
    expected = line_of(path, needle) if needle else last_line(path)
    with pytest.raises(SourceError) as caught:
        read_all(wordpress.read, path)
    assert caught.value.line == expected
    assert words in caught.value.reason


def test_wordpress_reader_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a WordPress export .*<disqus>"):
        read_all(wordpress.read, DISQUS / "export.xml")
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<rss version="2.0"><channel><item><title>t</title></item></channel></rss>',
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="no wp: elements"):
        read_all(wordpress.read, feed)


# --- both: progress, memory, the benchmark's generator ---------------------------------


def generate_disqus(path: Path, posts: int, seed: int = 7) -> dict[str, int]:
    with path.open("w", encoding="utf-8") as out:
        stats: dict[str, int] = load_generator().write(out, posts, seed)
    return stats


@pytest.mark.parametrize("reader", [disqus.read, wordpress.read])
def test_progress_of_the_sample_files_ends_at_their_size(
    reader: Callable[..., Iterator[Record]],
) -> None:
    path = (DISQUS if reader is disqus.read else WORDPRESS) / "export.xml"
    calls: list[int] = []
    records = list(reader(str(path), calls.append))
    assert records and calls == [path.stat().st_size]


def test_progress_grows_through_a_big_file(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    generate_disqus(path, 3000)
    calls: list[int] = []
    reader = disqus.read(str(path), calls.append)
    first = next(reader)
    assert isinstance(first, Thread) and calls == []  # nothing reported before reading
    for _ in reader:
        pass
    size = path.stat().st_size
    assert len(calls) > 10
    assert all(a < b for a, b in itertools.pairwise(calls))
    assert calls[-1] == size and calls[0] < size // 4


def test_memory_stays_flat_on_a_17_mb_disqus_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    stats = generate_disqus(path, 20_000)
    size = path.stat().st_size
    assert size > 16_000_000
    tracemalloc.start()
    try:
        posts = 0
        for record in disqus.read(str(path), lambda _read: None):
            posts += isinstance(record, Post)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert posts == stats["posts"] == 20_000
    assert peak < 1_000_000, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_memory_stays_flat_in_one_wordpress_item_with_many_comments(tmp_path: Path) -> None:
    comment = (
        "<wp:comment><wp:comment_id>{0}</wp:comment_id>"
        "<wp:comment_author><![CDATA[Leser {0}]]></wp:comment_author>"
        "<wp:comment_date_gmt>2024-02-09 07:02:11</wp:comment_date_gmt>"
        "<wp:comment_content><![CDATA[{1}]]></wp:comment_content>"
        "<wp:comment_approved>1</wp:comment_approved><wp:comment_type>comment</wp:comment_type>"
        "<wp:comment_parent>{2}</wp:comment_parent></wp:comment>\n"
    )
    path = tmp_path / "one-item.xml"
    text = "Ein ziemlich langer Kommentar über den Elbtunnel. " * 8
    with path.open("w", encoding="utf-8") as out:
        out.write('<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><item>')
        out.write("<title>t</title><link>https://e.example/a</link><wp:post_id>1</wp:post_id>")
        for n in range(1, 8_001):
            out.write(comment.format(n, text, n // 2))
        out.write("</item></channel></rss>\n")
    size = path.stat().st_size
    assert size > 4_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in wordpress.read(str(path), lambda _read: None))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8_001
    assert peak < 400_000, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_generator_is_deterministic_and_reads_back_as_it_says(tmp_path: Path) -> None:
    generator = load_generator()
    first, second = io.StringIO(), io.StringIO()
    assert generator.write(first, 500, 3) == generator.write(second, 500, 3)
    assert first.getvalue() == second.getvalue()
    other = io.StringIO()
    generator.write(other, 500, 4)
    digest = hashlib.sha256
    assert digest(other.getvalue().encode()).digest() != digest(first.getvalue().encode()).digest()

    path = tmp_path / "gen.xml"
    stats = generate_disqus(path, 5000, seed=11)
    records = read_all(disqus.read, path)
    posts = posts_of(records)
    assert len(threads_of(records)) == stats["threads"] == 50
    assert len(posts) == stats["posts"] == 5000
    statuses = Counter(p.status for p in posts.values())
    assert statuses == {s: stats[s] for s in ("approved", "spam", "deleted")}
    assert statuses["spam"] > 0 and statuses["deleted"] > 0
    assert sum(p.parent_key is not None for p in posts.values()) == stats["replies"]
    order = {key: n for n, key in enumerate(posts)}
    early = [p for p in posts.values() if p.parent_key and order[p.parent_key] > order[p.key]]
    assert len(early) == stats["early_replies"] > 0
    assert all(
        p.parent_key is None or posts[p.parent_key].thread_key == p.thread_key
        for p in posts.values()
    )
    assert any(ord(c) > 0x3000 for p in posts.values() for c in p.body)  # CJK present
    assert_threads_come_first(records)
