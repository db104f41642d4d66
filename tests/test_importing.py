"""``voxpop import disqus|wordpress|isso|remark42``: realistic files come in whole, sanitised,
threaded and counted; a second run adds nothing; a broken file leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxpop.importers.records import Post, SourceError, Thread, no_progress
from voxpop.services import importing
from voxpop.services.render import ATTRIBUTES, TAGS, render
from voxpop.store.db import Database
from voxpop.store.schema import comments

from .conftest import SECRET, post, rows

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
SAMPLES = {
    "disqus": FIXTURES / "disqus" / "export.xml",
    "wordpress": FIXTURES / "wordpress" / "export.xml",
    "isso": FIXTURES / "isso" / "comments.db",
    "remark42": FIXTURES / "remark42" / "backup-news-20240322.gz",
}
BROKEN = [
    ("disqus", "truncated.xml"),
    ("disqus", "undefined-thread.xml"),
    ("disqus", "bad-date.xml"),
    ("disqus", "billion-laughs.xml"),
    ("disqus", "xxe.xml"),
    ("disqus", "post-without-id.xml"),
    ("wordpress", "truncated.xml"),
    ("wordpress", "bad-date.xml"),
    ("wordpress", "billion-laughs.xml"),
    ("wordpress", "xxe.xml"),
    ("isso", "not-sqlite.db"),
    ("isso", "no-comments-table.db"),
    ("remark42", "truncated-line.jsonl"),
    ("remark42", "no-locator.jsonl"),
    ("remark42", "bad-time.jsonl"),
]
TABLES = ("articles", "comments", "imported")


def snapshot(database: Database) -> dict[str, list[Any]]:
    return {t: rows(database, f"SELECT * FROM {t} ORDER BY 1, 2") for t in TABLES}


def stored_comments(database: Database) -> dict[int, Any]:
    """The comments table with typed values (aware datetimes on both backends)."""
    with database.engine.connect() as conn:
        return {int(r.id): r for r in conn.execute(sa.select(comments))}


def records(source: str, path: Path) -> list[Thread | Post]:
    return list(importing.reader(source)(str(path), no_progress))


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_a_realistic_export_comes_in_whole_and_twice_is_once(
    source: str, client: TestClient, database: Database
) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    path = SAMPLES[source]
    summary = importing.run(ctx, source, str(path))
    posts = [r for r in records(source, path) if isinstance(r, Post)]
    assert summary.created == len(posts) == summary.posts > 0
    assert sum(summary.statuses.values()) == summary.created
    stored = rows(database, "SELECT status, count(*) FROM comments GROUP BY status")
    assert dict(stored) == dict(summary.statuses)
    before = snapshot(database)

    again = importing.run(ctx, source, str(path))
    assert (again.created, again.already, again.articles_created) == (0, len(posts), 0)
    assert snapshot(database) == before


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_threads_parents_and_counts_are_as_in_the_source(
    source: str, client: TestClient, database: Database
) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    path = SAMPLES[source]
    importing.run(ctx, source, str(path))
    keyed = {r.key: r for r in records(source, path) if isinstance(r, Post)}
    local = {
        str(r.key)[2:]: int(r.local_id)
        for r in rows(database, "SELECT key, local_id FROM imported WHERE key LIKE 'p:%'")
    }
    assert set(local) == set(keyed)
    found = stored_comments(database)
    for key, post_record in keyed.items():
        comment = found[local[key]]
        parent = post_record.parent_key
        if parent in keyed and keyed[parent].thread_key == post_record.thread_key:
            assert comment.parent_id == local[parent], f"post {key}"
        else:
            assert comment.parent_id is None, f"post {key}"
        # root_id is the top of the chain of parents.
        top = comment
        while top.parent_id is not None:
            top = found[top.parent_id]
        assert (comment.root_id or comment.id) == top.id
        assert comment.created_at == post_record.created_at
        assert comment.ip_hash is None and comment.address_key is None and comment.reader_id is None
        assert comment.status == post_record.status
        assert (comment.up, comment.down) == (max(0, post_record.up), max(0, post_record.down))
        if comment.status == "deleted":
            assert (comment.body, comment.html) == ("", "")
        else:
            assert comment.html == render(comment.body)
    for article in rows(database, "SELECT id, comment_count FROM articles"):
        approved = [c for c in found.values() if c.article_id == article.id and c.status == "approved"]  # fmt: skip
        assert article.comment_count == len(approved)


class Markup(HTMLParser):
    """Every element and attribute of some HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_hostile_markup_is_sanitised_like_a_new_comment(source: str, client: TestClient, database: Database) -> None:  # fmt: skip
    importing.run(client.app.state.ctx, source, str(SAMPLES[source]))  # type: ignore[attr-defined]
    markup = Markup()
    for row in rows(database, "SELECT html FROM comments"):
        markup.feed(row.html)
    assert markup.tags <= TAGS
    for tag, name, value in markup.attributes:
        assert name in ATTRIBUTES.get(tag, set()) | {"rel"}, (tag, name)
        if name == "href":
            assert value.startswith(("https://", "http://", "mailto:")), value
    bodies = "".join(r.body for r in rows(database, "SELECT body FROM comments"))
    assert any(ord(ch) > 0x2000 for ch in bodies), "the sample should carry non-ASCII text"
    raw = "".join(r.body for r in records(source, SAMPLES[source]) if isinstance(r, Post)).lower()
    assert "<script" in raw or "javascript:" in raw, "the sample should carry hostile markup"


def test_imported_threads_are_served_like_any_other(client: TestClient) -> None:
    summary = importing.run(client.app.state.ctx, "disqus", str(SAMPLES["disqus"]))  # type: ignore[attr-defined]
    assert summary.articles_created > 0
    uris = [r.uri for r in rows(client.database, "SELECT uri FROM articles")]  # type: ignore[attr-defined]
    total = 0
    for uri in uris:
        thread = client.get("/api/v1/comments", params={"uri": uri, "limit": 1000}).json()
        total += thread["total"]
        page = client.get("/comments", params={"uri": uri})
        assert page.status_code == 200
    assert total == summary.statuses["approved"]
    # The thread takes new comments and replies as usual.
    assert post(client, uri=uris[0], body="A new voice").status_code == 201


@pytest.mark.parametrize(("source", "name"), BROKEN)
def test_a_broken_file_is_refused_and_leaves_nothing(
    source: str, name: str, client: TestClient, database: Database
) -> None:
    with pytest.raises(SourceError) as refused:
        importing.run(client.app.state.ctx, source, str(FIXTURES / source / name))  # type: ignore[attr-defined]
    assert refused.value.reason
    assert snapshot(database) == {t: [] for t in TABLES}


def test_a_dry_run_writes_nothing_and_says_what_it_would(client: TestClient, database: Database) -> None:  # fmt: skip
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    dry = importing.run(ctx, "wordpress", str(SAMPLES["wordpress"]), dry_run=True)
    assert dry.dry_run and dry.created > 0
    assert snapshot(database) == {t: [] for t in TABLES}
    real = importing.run(ctx, "wordpress", str(SAMPLES["wordpress"]))
    assert (real.created, real.statuses) == (dry.created, dry.statuses)


def test_urls_map_to_paths_unless_told_otherwise(client: TestClient, database: Database, tmp_path: Path) -> None:  # fmt: skip
    threads = [r for r in records("disqus", SAMPLES["disqus"]) if isinstance(r, Thread)]
    mapped = tmp_path / "map.csv"
    mapped.write_text(f"# moved\n{threads[0].url},/moved/here\n", encoding="utf-8")
    importing.run(
        client.app.state.ctx,  # type: ignore[attr-defined]
        "disqus",
        str(SAMPLES["disqus"]),
        uri_map=importing.load_uri_map(str(mapped)),
    )
    uris = {r.uri for r in rows(database, "SELECT uri FROM articles")}
    expected = {importing.uri_for(t.url, {}, False) for t in threads[1:]} | {"/moved/here"}
    assert uris == expected
    assert all(u.startswith("/") and "?" not in u and "#" not in u for u in uris)


def test_the_url_rule() -> None:
    assert importing.uri_for("https://news.example/a/b/?utm=x#c", {}, False) == "/a/b/"
    assert importing.uri_for("https://news.example/?p=12", {}, True) == "/?p=12"
    assert importing.uri_for("//news.example//a//b", {}, False) == "/a/b"
    assert importing.uri_for("https://x.example/a", {"https://x.example/a": "/b"}, False) == "/b"
    # Raw and percent-encoded paths meet where a browser's location.pathname is.
    encoded = "/world/%E6%9D%B1%E4%BA%AC-%E6%A1%9C/"
    assert importing.uri_for("/world/東京-桜/", {}, False) == encoded
    assert importing.uri_for("https://n.example" + encoded, {}, False) == encoded
    assert importing.uri_for("/a%2fb/ü", {}, False) == "/a%2Fb/%C3%BC"


def test_a_bad_uri_map_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "map.csv"
    bad.write_text("https://a.example/x,/ok\nhttps://a.example/y,not a path\n", encoding="utf-8")
    with pytest.raises(SourceError) as refused:
        importing.load_uri_map(str(bad))
    assert refused.value.line == 2


DISQUS_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
  <thread dsq:id="1"><link>https://news.example/a</link><title>A</title></thread>
  <thread dsq:id="2"><link>https://news.example/b</link><title>B</title></thread>
"""


def disqus_post(key: str, thread: str, parent: str | None = None) -> str:
    """A post, made at second ``key`` of a day."""
    parent_tag = f'<parent dsq:id="{parent}" />' if parent else ""
    return (
        f'<post dsq:id="{key}"><message><![CDATA[<p>post {key}</p>]]></message>'
        f"<createdAt>2020-01-01T00:00:{int(key) % 60:02d}Z</createdAt><isDeleted>false</isDeleted>"
        f'<isSpam>false</isSpam><author><name>N</name></author><thread dsq:id="{thread}" />'
        f"{parent_tag}</post>\n"
    )


def test_replies_before_their_parents_and_across_threads(client: TestClient, database: Database, tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "order.xml"
    path.write_text(
        DISQUS_HEAD
        + disqus_post("30", "1", parent="20")  # grandchild first
        + disqus_post("20", "1", parent="10")
        + disqus_post("10", "1")
        + disqus_post("40", "2", parent="10")  # its parent is on another thread
        + disqus_post("50", "1", parent="999")  # its parent is not in the file
        + "</disqus>\n",
        encoding="utf-8",
    )
    summary = importing.run(client.app.state.ctx, "disqus", str(path))  # type: ignore[attr-defined]
    assert summary.orphans == 2
    ids = {str(r.key): int(r.local_id) for r in rows(database, "SELECT key, local_id FROM imported")}  # fmt: skip
    got = {int(r.id): (r.parent_id, r.root_id) for r in rows(database, "SELECT * FROM comments")}
    assert got[ids["p:10"]] == (None, None)
    assert got[ids["p:20"]] == (ids["p:10"], ids["p:10"])
    assert got[ids["p:30"]] == (ids["p:20"], ids["p:10"])
    assert got[ids["p:40"]] == (None, None)
    assert got[ids["p:50"]] == (None, None)
    thread = client.get("/api/v1/comments", params={"uri": "/a"}).json()
    top = next(c for c in thread["items"] if c["id"] == ids["p:10"])
    assert [r["id"] for r in top["replies"]] == [ids["p:20"]]
    assert [r["id"] for r in top["replies"][0]["replies"]] == [ids["p:30"]]


def test_replies_that_name_each_other_are_refused(client: TestClient, database: Database, tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "cycle.xml"
    path.write_text(
        DISQUS_HEAD
        + disqus_post("1", "1", parent="2")
        + disqus_post("2", "1", parent="1")
        + "</disqus>",  # fmt: skip
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="cycle"):
        importing.run(client.app.state.ctx, "disqus", str(path))  # type: ignore[attr-defined]
    assert snapshot(database) == {t: [] for t in TABLES}


def test_imports_into_an_existing_article_and_another_site(make_client: Any, database: Database, tmp_path: Path) -> None:  # fmt: skip
    config = tmp_path / "voxpop.toml"
    config.write_text('[sites.blog]\ntitle = "Blog"\norigins = ["https://blog.example"]\n')
    client = make_client(config=str(config))
    ctx = client.app.state.ctx
    assert post(client, uri="/a", body="Already here", site="default").status_code == 201
    path = tmp_path / "two.xml"
    path.write_text(DISQUS_HEAD + disqus_post("1", "1") + "</disqus>", encoding="utf-8")
    into_default = importing.run(ctx, "disqus", str(path))
    assert (into_default.created, into_default.articles_created) == (1, 0)
    assert client.get("/api/v1/comments", params={"uri": "/a"}).json()["total"] == 2
    # The same file into another site: its own articles, its own keys.
    into_blog = importing.run(ctx, "disqus", str(path), site="blog")
    assert (into_blog.created, into_blog.articles_created) == (1, 1)
    blog = client.get("/api/v1/comments", params={"uri": "/a", "site": "blog"}).json()
    assert blog["total"] == 1


def test_the_command_shows_progress_and_a_summary(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VOXPOP_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "VOXPOP_ENV": "dev",
        "VOXPOP_SECRET_KEY": SECRET,
        "VOXPOP_CONFIG": "",
    }
    command = [sys.executable, "-m", "voxpop.cli", "import"]
    done = subprocess.run(
        [*command, "disqus", str(SAMPLES["disqus"])], env=env, capture_output=True, text=True, timeout=60
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr
    assert "imported" in done.stdout and "approved" in done.stdout
    again = subprocess.run(
        [*command, "disqus", str(SAMPLES["disqus"])], env=env, capture_output=True, text=True, timeout=60
    )  # fmt: skip
    assert "imported 0 comments" in again.stdout
    broken = subprocess.run(
        [*command, "disqus", str(FIXTURES / "disqus" / "undefined-thread.xml")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert broken.returncode == 1
    assert "line " in broken.stderr and "nothing was imported" in broken.stderr
    # Export, then restore into a new database.
    exported = tmp_path / "all.json.gz"
    out = subprocess.run(
        [sys.executable, "-m", "voxpop.cli", "export", str(exported)], env=env, capture_output=True, text=True, timeout=60
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    env["VOXPOP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'restored.db'}"
    back = subprocess.run(
        [*command, "voxpop", str(exported)], env=env, capture_output=True, text=True, timeout=60
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert "restored" in back.stdout


def test_worker_processes_convert_as_this_process_does(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    serial = importing.run(ctx, "remark42", str(SAMPLES["remark42"]), processes=1)
    alone = rows(database, "SELECT body, html FROM comments ORDER BY id")
    with database.engine.begin() as conn:
        for table in ("imported", "comments", "articles"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    monkeypatch.setattr(importing, "_PARALLEL", 0)
    monkeypatch.setattr(importing, "_BATCH", 4)  # several batches in flight
    parallel = importing.run(ctx, "remark42", str(SAMPLES["remark42"]), processes=2)
    assert (parallel.created, parallel.statuses) == (serial.created, serial.statuses)
    assert rows(database, "SELECT body, html FROM comments ORDER BY id") == alone


def disqus_file(tmp_path: Path, threads: str, posts: str) -> Path:
    path = tmp_path / "export.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<disqus xmlns="http://disqus.com" '
        f'xmlns:dsq="http://disqus.com/disqus-internals">\n{threads}{posts}</disqus>\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("link", "created", "reason"),
    [
        ("http://[::1/x", "2020-01-01T00:00:00Z", "not a page URL"),
        ("https://n.example/a", "0001-01-01T00:00:00+01:00", "cannot be read"),
    ],
)
def test_odd_values_are_refused_with_a_reason_not_a_crash(
    link: str, created: str, reason: str, client: TestClient, database: Database, tmp_path: Path
) -> None:
    post_xml = disqus_post("1", "1").replace("2020-01-01T00:00:01Z", created)
    path = disqus_file(tmp_path, f'<thread dsq:id="1"><link>{link}</link></thread>\n', post_xml)
    with pytest.raises(SourceError, match=reason):
        importing.run(client.app.state.ctx, "disqus", str(path))  # type: ignore[attr-defined]
    assert snapshot(database) == {t: [] for t in TABLES}


def test_deep_markup_long_urls_and_huge_counts_come_in(
    client: TestClient, database: Database, tmp_path: Path
) -> None:
    long_url = "https://news.example/" + "/".join(["abschnitt"] * 40)  # 420 characters
    deep = "<b>" * 3000 + "tief" + "</b>" * 3000
    post_xml = disqus_post("1", "1").replace("<p>post 1</p>", deep)
    path = disqus_file(tmp_path, f'<thread dsq:id="1"><link>{long_url}</link></thread>\n', post_xml)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    assert importing.run(ctx, "disqus", str(path)).created == 1
    assert "tief" in rows(database, "SELECT html FROM comments")[0].html
    assert importing.run(ctx, "disqus", str(path)).created == 0  # its long key is found again
    huge = Post("p", "t", None, datetime(2020, 1, 1, tzinfo=UTC), "approved", "x", "text", up=10**20, down=3 * 10**9)  # fmt: skip
    job = importing._Import(ctx, ctx.site("default"), "test:default", importing.Summary("t", "default"), {}, False)  # fmt: skip
    values = job.values(huge, 1, None, None)
    assert (values["up"], values["down"]) == (2**31 - 1, 2**31 - 1)


def test_a_missing_uri_map_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read the uri map"):
        importing.load_uri_map(str(tmp_path / "nowhere.csv"))
    with pytest.raises(SourceError, match="cannot read the uri map"):
        importing.load_uri_map(str(tmp_path))
