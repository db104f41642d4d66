"""Imported HTML becomes the Markdown a reader would have typed, and renders safely."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxpop.importers.markdown import escape, html_to_markdown, text_to_markdown
from voxpop.services.render import render


def text_of(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "<p>Hello <b>world</b></p><p>again</p>",
            "<p>Hello <strong>world</strong></p>\n<p>again</p>",
        ),
        ("<p>one<br>two</p>", "<p>one<br>\ntwo</p>"),
        ("<i>slanted</i> and <em>more</em>", "<p><em>slanted</em> and <em>more</em></p>"),
        ("<code>a*b</code>", "<p><code>a*b</code></p>"),
        ("<pre><code>x = 1\n  y = 2</code></pre>", "<pre><code>x = 1\n  y = 2\n</code></pre>"),
        (
            "<blockquote><p>quoted</p></blockquote><p>answer</p>",
            "<blockquote>\n<p>quoted</p>\n</blockquote>\n<p>answer</p>",
        ),  # fmt: skip
        ("<ul><li>a</li><li>b</li></ul>", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("<ol><li>first</li><li>second</li></ol>", "<ol>\n<li>first</li>\n<li>second</li>\n</ol>"),
        (
            '<a href="https://example.com/x?a=1&amp;b=2">site</a>',
            '<p><a href="https://example.com/x?a=1&amp;b=2" rel="nofollow ugc noopener">site</a></p>',
        ),  # fmt: skip
        ("<p>a</p><hr><p>b</p>", "<p>a</p>\n<hr>\n<p>b</p>"),
        ("Für Grüße 日本語 🎉 مرحبا", "<p>Für Grüße 日本語 🎉 مرحبا</p>"),
    ],
)
def test_html_keeps_its_shape(source: str, expected: str) -> None:
    assert render(html_to_markdown(source)) == expected


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        '<a href="  JaVaScRiPt:alert(1)">click</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        "<iframe src=https://evil.example></iframe>",
        "<style>body{display:none}</style>",
        '<p style="x" onclick="alert(1)">text</p>',
        "<svg><script>alert(1)</script></svg>",
        "<scr<script>ipt>alert(1)</script>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        '<a href="https://ok.example" onmouseover="alert(1)">ok</a>',
        "[click](javascript:alert(1))",
        "<form action=https://evil.example><input name=x></form>",
    ],
)
def test_hostile_html_leaves_nothing_active(hostile: str) -> None:
    out = render(html_to_markdown(hostile)).lower()
    for bad in ("<script", " onerror", " onclick", " onmouseover", 'href="javascript', 'href="data', "<iframe", "<style", "<form", "<input", "<svg", "<img"):  # fmt: skip
        assert bad not in out, (hostile, out)


def test_dropped_elements_take_their_content_along() -> None:
    assert (
        html_to_markdown("<p>keep</p><script>var secret = 1</script><style>p{}</style>") == "keep"
    )


def test_links_to_relative_or_odd_targets_keep_only_their_text() -> None:
    assert render(html_to_markdown('<a href="/local">here</a>')) == "<p>here</p>"
    assert render(html_to_markdown('<a href="ftp://x.example/f">file</a>')) == "<p>file</p>"


def test_markdown_in_imported_text_stays_text() -> None:
    source = "<p># not a heading *not em* [not](https://link.example) `no code` 1. no list</p>"
    out = render(html_to_markdown(source))
    assert out == (
        "<p># not a heading *not em* [not](https://link.example) `no code` 1. no list</p>"
    )


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=200))
def test_any_plain_text_renders_as_itself(text: str) -> None:
    out = text_of(render(text_to_markdown(text)))
    assert " ".join(out.split()) == " ".join(text.split())


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=200))
def test_escaped_text_inside_html_renders_as_itself(text: str) -> None:
    source = "<p>" + html.escape(text) + "</p>"
    out = text_of(render(html_to_markdown(source)))
    assert " ".join(out.split()) == " ".join(text.split())


def test_escape_marks_line_starts_and_specials() -> None:
    assert escape("# x\n- y\n1. z\n2) w") == "\\# x\n\\- y\n1\\. z\n2\\) w"
    assert escape("a_b*c") == "a\\_b\\*c"
