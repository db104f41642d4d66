"""Notification e-mails: templates in every language, and the MIME bytes on the wire."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxpop import settings as voxpop_settings
from voxpop.mail import message, render
from voxpop.mail.message import build, domain_of, message_id, thread_id
from voxpop.mail.render import LANGUAGES, MESSAGES, Rendered

HOSTILE = "<script>alert(1)</script>"
COMMENT_HTML = '<p>Hello <strong>world</strong> &amp; <a href="https://x.example/">you</a></p>'
UNSUBSCRIBE = "https://comments.news.example/api/v1/mail/unsubscribe?token=" + "a1b2" * 40
MANAGE = "https://comments.news.example/mail/manage?token=abc&lang=de"
SENDER = "voxpop@news.example"
TO = "reader@example.org"
DATE = datetime(2026, 11, 28, 9, 30, tzinfo=timezone(timedelta(hours=1)))


def comment(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "author": "<b>Eve</b>",
        "text": "Hello **world** & you\n\n> quoted",
        "html": COMMENT_HTML,
        "url": "https://news.example/article#comment-7",
        "parent_author": "Bob",
    }
    value.update(changes)
    return value


def values(kind: str, **changes: Any) -> dict[str, Any]:
    article = {
        "site_title": "Example News",
        "article_title": HOSTILE,
        "article_url": "https://news.example/article",
        "manage_url": MANAGE,
    }
    value: dict[str, Any]
    if kind == "confirm":
        value = {
            **article,
            "scope": "thread",
            "confirm_url": "https://comments.news.example/mail/confirm?token=xyz",
            "expires_hours": 48,
        }
    elif kind == "notify":
        value = {
            **article,
            "reason": "thread",
            "comment": comment(),
            "unsubscribe_url": UNSUBSCRIBE,
        }
    else:
        value = {
            "site_title": "Example News",
            "date": "2026-11-28",
            "count": 3,
            "articles": [
                {
                    "title": HOSTILE,
                    "url": "https://news.example/article",
                    "comments": [comment(), comment(author="Ann", parent_author=None)],
                },
                {"title": "Second", "url": "https://news.example/2", "comments": [comment()]},
            ],
            "unsubscribe_url": UNSUBSCRIBE,
            "manage_url": MANAGE,
        }
    value.update(changes)
    return value


# -- render ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", MESSAGES)
def test_every_template_renders(kind: str, lang: str) -> None:
    r = render.render(kind, lang, values(kind))
    assert r.subject and r.subject == r.subject.strip()
    assert not any(c in r.subject for c in "\r\n\t")
    assert r.text.endswith("\n")
    # The text part gets the comment's source, never its HTML.
    for tag in ("<p>", "<strong>", "<a ", "&amp;"):
        assert tag not in r.text
    assert "<script>" not in r.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.html
    html = r.html.lower()
    assert html.startswith("<!doctype html>")
    assert f'<html lang="{lang}">' in html
    assert f"<title>{r.subject.replace('<', '&lt;').replace('>', '&gt;').lower()}</title>" in html
    assert "max-width:600px" in html
    assert 'name="viewport"' in html
    for forbidden in ("<script", "<img", "<link", "<style", "src=", "javascript:"):
        assert forbidden not in html
    # Every link of the template (not of the comment) is visibly underlined.
    own = html.replace(COMMENT_HTML.lower(), "")
    assert own.count("<a href=") == own.count("text-decoration:underline") > 0
    assert MANAGE.replace("&", "&amp;") in r.html
    assert MANAGE in r.text
    if kind != "confirm":
        assert UNSUBSCRIBE in r.text and UNSUBSCRIBE in r.html
        assert "Hello **world** & you" in r.text
        assert "> Hello **world** & you\n>\n> > quoted" in r.text
        assert COMMENT_HTML in r.html
        assert "&lt;b&gt;Eve&lt;/b&gt;" in r.html
        assert "<b>Eve</b>" not in r.html


@pytest.mark.parametrize(
    ("lang", "parent", "subject"),
    [
        ("en", None, "New comment on “Budget 2027”"),
        ("en", "Bob", "Eve replied on “Budget 2027”"),
        ("de", None, "Neuer Kommentar zu „Budget 2027“"),
        ("de", "Bob", "Eve hat zu „Budget 2027“ geantwortet"),
    ],
)
def test_notify_subject(lang: str, parent: str | None, subject: str) -> None:
    c = comment(author="Eve", parent_author=parent)
    r = render.render("notify", lang, values("notify", article_title="Budget 2027", comment=c))
    assert r.subject == subject


def test_notify_body_wording() -> None:
    en = render.render("notify", "en", values("notify", comment=comment(parent_author=None)))
    assert "<b>Eve</b> commented on" in en.text
    assert "Reply / read the discussion" in en.text and "Reply / read the discussion" in en.html
    assert "Unsubscribe from this article" in en.text and "Unsubscribe from this article" in en.html
    assert "Manage your subscriptions" in en.text and "Manage your subscriptions" in en.html
    de = render.render("notify", "de", values("notify"))
    assert "<b>Eve</b> hat Bob zu „<script>alert(1)</script>“ geantwortet:" in de.text
    for phrase in ("Antworten / Diskussion lesen", "abmelden", "Benachrichtigungen verwalten"):
        assert phrase in de.text and phrase in de.html
    assert "„&lt;script&gt;alert(1)&lt;/script&gt;“" in de.html


@pytest.mark.parametrize(
    ("reason", "en", "de"),
    [
        ("thread", "every new comment", "jeden neuen Kommentar"),
        ("replies", "the replies to your comments", "die Antworten auf eigene Kommentare"),
        ("comment", "the replies to one comment", "die Antworten auf einen Kommentar"),
    ],
)
def test_reason_and_scope_wording(reason: str, en: str, de: str) -> None:
    for lang, phrase in (("en", en), ("de", de)):
        notify = render.render("notify", lang, values("notify", reason=reason))
        confirm = render.render("confirm", lang, values("confirm", scope=reason))
        for r in (notify, confirm):
            assert phrase in r.text and phrase in r.html


def test_confirm_wording() -> None:
    en = render.render("confirm", "en", values("confirm", expires_hours=1))
    assert en.subject == f"Confirm notifications for “{HOSTILE}”"
    assert "hopefully you" in en.text and "hopefully you" in en.html
    assert "expires in 1 hour." in en.text and "expires in 1 hour." in en.html
    assert "ignore this e-mail" in en.text and "hear nothing more" in en.text
    assert "https://comments.news.example/mail/confirm?token=xyz" in en.text
    de = render.render("confirm", "de", values("confirm", expires_hours=48))
    assert de.subject == f"Benachrichtigungen zu „{HOSTILE}“ bestätigen"
    assert "48 Stunden lang gültig" in de.text and "48 Stunden lang gültig" in de.html
    assert "hoffentlich Sie" in de.text


@pytest.mark.parametrize(
    ("lang", "count", "subject"),
    [
        ("en", 1, "1 new comment on Example News"),
        ("en", 3, "3 new comments on Example News"),
        ("de", 1, "1 neuer Kommentar bei Example News"),
        ("de", 3, "3 neue Kommentare bei Example News"),
    ],
)
def test_digest_subject(lang: str, count: int, subject: str) -> None:
    assert render.render("digest", lang, values("digest", count=count)).subject == subject


def test_digest_lists_every_article_and_comment() -> None:
    r = render.render("digest", "en", values("digest"))
    assert r.text.count("Reply / read the discussion") == 3
    assert r.html.count(COMMENT_HTML) == 3
    assert "Second" in r.text and "https://news.example/2" in r.html
    assert "Ann wrote:" in r.text
    assert "Unsubscribe from all digests" in r.text and "Unsubscribe from all digests" in r.html
    assert "2026-11-28" in r.text and "2026-11-28" in r.html
    de = render.render("digest", "de", values("digest"))
    assert "Von allen Zusammenfassungen abmelden" in de.text


@pytest.mark.parametrize("lang", ["fr", "", "EN", "xx-YY"])
def test_unknown_language_falls_back_to_english(lang: str) -> None:
    assert render.render("notify", lang, values("notify")) == render.render(
        "notify", "en", values("notify")
    )


def test_regional_language_uses_its_primary_tag() -> None:
    r = render.render("notify", "de-AT", values("notify"))
    assert r == render.render("notify", "de", values("notify"))
    assert '<html lang="de">' in r.html


def test_unknown_message_raises() -> None:
    with pytest.raises(ValueError, match="unknown mail message"):
        render.render("welcome", "en", {})


def test_every_configured_language_has_templates() -> None:
    assert set(voxpop_settings.LANGUAGES) <= set(LANGUAGES)
    for kind in MESSAGES:
        for lang in LANGUAGES:
            for name in (f"subject.{lang}.txt", f"body.{lang}.txt", f"body.{lang}.html"):
                assert (render.TEMPLATES / kind / name).is_file()


def test_subject_is_one_line_and_bounded() -> None:
    r = render.render("notify", "en", values("notify", article_title="A\r\nBcc: x@y.z\t\u2028 B"))
    assert r.subject == "<b>Eve</b> replied on “A Bcc: x@y.z B”"
    long = render.render("notify", "en", values("notify", article_title="Word " * 100))
    assert len(long.subject) == 200 and long.subject.endswith("…")


# -- build ----------------------------------------------------------------------------------


def sample(**changes: Any) -> dict[str, Any]:
    c = comment(parent_author=None)
    r = render.render(
        "notify", "de", values("notify", article_title="Große Pläne für 2027", comment=c)
    )
    kwargs: dict[str, Any] = {
        "rendered": r,
        "sender": SENDER,
        "sender_name": "Neue Zeitung „Süd“, Ausgabe <Nord>",
        "to": TO,
        "message_id": message_id("notify", 42, "news.example"),
        "unsubscribe_url": UNSUBSCRIBE,
        "references": [thread_id(7, "news.example")],
        "list_id": "<default.news.example>",
        "lang": "de",
        "date": DATE,
    }
    kwargs.update(changes)
    return kwargs


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    return parsed


def unfolded(raw: bytes, name: str) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    (value,) = [
        line[len(name) + 2 :] for line in head.split("\r\n") if line.startswith(f"{name}: ")
    ]
    return value


def decoded(text: str) -> str:
    """RFC 2047 decoding that ignores white space between adjacent encoded words, as the
    RFC says (Python 3.11's address parser puts a space there)."""
    return str(make_header(decode_header(text)))


def display_name(raw: bytes) -> str:
    name, addr = parseaddr(unfolded(raw, "From"))
    assert addr == SENDER
    return decoded(name)


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line[:1] not in (" ", "\t")]


def test_build_headers() -> None:
    kwargs = sample()
    raw = build(**kwargs)
    m = parse(raw)
    assert header_names(raw) == [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Auto-Submitted",
        "Content-Language",
        "MIME-Version",
        "Content-Type",
    ]
    (sender,) = m["From"].addresses
    assert sender.display_name == "Neue Zeitung „Süd“, Ausgabe <Nord>"
    assert sender.addr_spec == SENDER
    assert m["To"].addresses[0].addr_spec == TO
    assert m["Subject"] == "Neuer Kommentar zu „Große Pläne für 2027“" == kwargs["rendered"].subject
    assert m["Date"].datetime == DATE
    assert m["Message-ID"] == "<voxpop.notify.42@news.example>"
    assert m["In-Reply-To"] == "<voxpop.article.7@news.example>"
    assert m["References"] == "<voxpop.article.7@news.example>"
    assert m["List-Id"] == "<default.news.example>"
    assert m["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["Content-Language"] == "de"


def test_build_parts_round_trip() -> None:
    kwargs = sample()
    m = parse(build(**kwargs))
    assert m.get_content_type() == "multipart/alternative"
    parts = list(m.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    rendered: Rendered = kwargs["rendered"]
    # SMTP's canonical line end is CRLF; the content is otherwise exactly what was rendered.
    assert parts[0].get_content().replace("\r\n", "\n") == rendered.text
    assert parts[1].get_content().replace("\r\n", "\n") == rendered.html
    assert m.get_body(("plain",)) is parts[0] and m.get_body(("html",)) is parts[1]


def test_wire_format() -> None:
    raw = build(**sample())
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    # The long one-click URL stays literal, not RFC 2047 encoded words.
    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>\r\n".encode() in raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"List-Unsubscribe:" not in line)
    words = re.findall(rb"=\?utf-8\?[bq]\?[^?]*\?=", head)
    assert words and all(len(word) <= 75 for word in words)


def test_optional_headers_absent() -> None:
    raw = build(**sample(unsubscribe_url=None, references=(), list_id=None))
    m = parse(raw)
    for name in ("List-Unsubscribe", "List-Unsubscribe-Post", "In-Reply-To", "References"):
        assert name not in m
    assert "List-Id" not in m


def test_references_thread_under_the_last() -> None:
    refs = [thread_id(7, "news.example")] + [
        message_id("notify", i, "news.example") for i in range(6)
    ]
    raw = build(**sample(references=refs))
    m = parse(raw)
    assert m["In-Reply-To"] == refs[-1]
    assert m["References"].split() == refs


def test_default_date_is_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    m = parse(build(**sample(date=None)))
    assert before <= m["Date"].datetime <= datetime.now(UTC)


@pytest.mark.parametrize(
    "name",
    [
        "Example News",
        'The "Daily", Inc.',
        "Zeitung für Ärzte 📰",
        "Neue Zeitung „Süd“, Ausgabe <Nord> – die längste Zeitung im ganzen Land",
        "東京新聞 " * 10,
        "=?utf-8?q?not_an_encoded_word?=",
        "A\x00B\x7f",
    ],
)
def test_unicode_display_name_round_trips(name: str) -> None:
    raw = build(**sample(sender_name=name))
    assert display_name(raw) == render.one_line(name)
    (sender,) = parse(raw)["From"].addresses
    assert sender.addr_spec == SENDER
    if len(name) < 30:  # one encoded word: the stdlib parser gets it right too
        assert sender.display_name == render.one_line(name)


def test_no_display_name() -> None:
    raw = build(**sample(sender_name=" "))
    assert f"\r\nFrom: {SENDER}\r\n".encode() in b"\r\n" + raw


@pytest.mark.parametrize(
    "subject",
    [
        "Plain ASCII",
        "Emoji 🎉 and „quotes“ and «guillemets»",
        "長い件名" * 50,
        "x" * 200,
        "Ends with a space-like char\u00a0",
        "पन्ह पन्ह त्र र्च कृकृ ड्ड न्हृे إلا بسم الله",
        "=?utf-8?q?a=0D=0ABcc:_evil@x.org?=",
    ],
)
def test_unicode_subject_round_trips(subject: str) -> None:
    rendered = Rendered(subject=subject, text="t\n", html="<p>h</p>\n")
    raw = build(**sample(rendered=rendered))
    expected = render.one_line(subject)
    assert parse(raw)["Subject"] == decoded(unfolded(raw, "Subject")) == expected


@pytest.mark.parametrize("evil", ["\r\nBcc: evil@x.org", "\nBcc: evil@x.org", "\rBcc: evil@x.org"])
def test_no_header_injection_through_subject_or_name(evil: str) -> None:
    rendered = Rendered(subject="Hello" + evil, text="t\n", html="<p>h</p>\n")
    raw = build(**sample(rendered=rendered, sender_name="News" + evil))
    m = parse(raw)
    assert "Bcc" not in m
    assert "Bcc" not in header_names(raw)
    assert m["Subject"] == "Hello Bcc: evil@x.org"
    assert m["From"].addresses[0].display_name == "News Bcc: evil@x.org"


@given(subject=st.text(max_size=300), name=st.text(max_size=100))
@settings(max_examples=150, deadline=None)
def test_any_subject_and_name_stay_one_header(subject: str, name: str) -> None:
    rendered = Rendered(subject=subject, text="t\n", html="<p>h</p>\n")
    raw = build(**sample(rendered=rendered, sender_name=name, unsubscribe_url=None))
    assert header_names(raw)[:4] == ["From", "To", "Subject", "Date"]
    m = parse(raw)
    assert m["Subject"] == decoded(unfolded(raw, "Subject")) == render.one_line(subject)
    assert display_name(raw) == render.one_line(name)


@pytest.mark.parametrize(
    "field",
    ["to", "sender", "message_id", "unsubscribe_url", "list_id", "lang"],
)
def test_line_breaks_in_addresses_ids_and_urls_are_refused(field: str) -> None:
    kwargs = sample()
    value = kwargs[field] or "x"
    with pytest.raises(ValueError, match="ASCII|address"):
        build(**{**kwargs, field: value + "\r\nBcc: evil@x.org"})


def test_line_breaks_in_references_are_refused() -> None:
    with pytest.raises(ValueError, match="References|In-Reply-To"):
        build(**sample(references=["<a@b>\r\nBcc: evil@x.org", "<c@d>"]))


@pytest.mark.parametrize("address", ["", "nobody", "a,b@x.org", "a@b@x.org", "jürgen@x.org"])
def test_invalid_recipient_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="To"):
        build(**sample(to=address))


def test_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(**sample(date=datetime(2026, 11, 28, 9, 30)))


def test_body_cannot_forge_the_boundary() -> None:
    forged = f"before\n--{message.BOUNDARY}\nContent-Type: text/html\n\n<script>x</script>\n"
    rendered = Rendered(subject="s", text=forged, html=f"<p>{forged}</p>\n")
    m = parse(build(**sample(rendered=rendered)))
    parts = list(m.iter_parts())
    assert len(parts) == 2
    assert parts[0].get_content().replace("\r\n", "\n") == forged


def assert_wire(raw: bytes) -> None:
    """7-bit ASCII, every line ended by CRLF (no bare CR or LF) and at most 998 octets."""
    assert raw.isascii()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


LONG_URL = "https://comments.news.example/api/v1/mail/unsubscribe?token=" + "Zx9-_" * 150
THREAD = [thread_id(7, "news.example")] + [
    message_id("notify", i, "news.example") for i in range(1, 9)
]


@pytest.mark.parametrize(
    ("subject", "name", "url", "refs"),
    [
        ("Plain", "Example News", UNSUBSCRIBE, THREAD[:1]),
        ("Ünïcödé „Betreff“ – " * 12, 'Die „Zeitung“, "Süd", Inc.', LONG_URL, THREAD),
        ("長い件名, «quoted» 🎉 " * 8, 'The "Daily", Inc.; <Ed.>', LONG_URL, THREAD[:3]),
        ("x" * 60 + " y" * 40, 'Zeitung für Ärzte, "Nord" 📰', UNSUBSCRIBE, THREAD[::-1]),
    ],
)
def test_tricky_inputs_parse_back(subject: str, name: str, url: str, refs: list[str]) -> None:
    rendered = render.render("notify", "de", values("notify", article_title=subject))
    rendered = Rendered(subject=subject, text=rendered.text, html=rendered.html)
    kwargs = sample(rendered=rendered, sender_name=name, unsubscribe_url=url, references=refs)
    raw = build(**kwargs)
    assert_wire(raw)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"List-Unsubscribe:" not in line)
    m = parse(raw)
    assert m["Subject"] == render.one_line(subject)
    (sender,) = m["From"].addresses
    assert sender.addr_spec == SENDER
    assert sender.display_name == display_name(raw) == name
    assert [a.addr_spec for a in m["To"].addresses] == [TO]
    assert m["Date"].datetime == DATE
    assert m["Message-ID"] == kwargs["message_id"]
    assert m["In-Reply-To"] == refs[-1]
    assert m["References"].split() == refs
    assert m["List-Id"] == "<default.news.example>"
    assert m["List-Unsubscribe"] == f"<{url}>"
    assert f"List-Unsubscribe: <{url}>\r\n".encode() in raw
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["Content-Language"] == "de"
    assert m["MIME-Version"] == "1.0"
    assert m.get_content_type() == "multipart/alternative"
    assert m.get_boundary() == message.BOUNDARY
    plain, html = m.iter_parts()
    for part, body in ((plain, rendered.text), (html, rendered.html)):
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
        assert part.get_content() == body.replace("\n", "\r\n")


@pytest.mark.parametrize(
    "text",
    [
        "CRLF\r\nCR\rLF\nend\n",
        "space before LF \ntab before CRLF\t\r\nspace before CR \rend ",
        "x" * 300,  # no line end: the soft line breaks are CRLF as well
        ".\n..\r\n.\r. \n",
        "Ünïcödé, « » – " * 30 + "\n",
        "=?utf-8?q?not_a_word?= =3D =\n",
        "\x0b\x0c\x85\u2028\u2029 are no line ends\n",
    ],
)
def test_body_line_ends_and_quoted_printable(text: str) -> None:
    rendered = Rendered(subject="s", text=text, html=f"<p>{text}</p>")
    raw = build(**sample(rendered=rendered))
    assert_wire(raw)
    for body in raw.split(b"\r\n\r\n", 1)[1].split(f"--{message.BOUNDARY}".encode())[1:3]:
        assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    crlf = re.sub(r"\r\n|\r|\n", "\r\n", text)
    plain, html = parse(raw).iter_parts()
    assert plain.get_content() == crlf
    assert html.get_content() == f"<p>{crlf}</p>"


@pytest.mark.parametrize(
    ("address", "header"),
    [
        ("reader+tag=x@mail.example.org", "reader+tag=x@mail.example.org"),
        ("o'neil.{x}|y@example.org", "o'neil.{x}|y@example.org"),
        ("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + ".org", None),  # longer than 78
        ('"john doe"@example.org', '"john doe"@example.org'),  # quoted: through the parser
    ],
)
def test_recipient_written_as_given(address: str, header: str | None) -> None:
    raw = build(**sample(to=address))
    assert_wire(raw)
    assert f"\r\nTo: {header or address}\r\n".encode() in raw
    assert parse(raw)["To"].addresses[0].addr_spec == (header or address)


# -- ids ------------------------------------------------------------------------------------


def test_ids_are_stable() -> None:
    assert message_id("notify", 42, "news.example") == "<voxpop.notify.42@news.example>"
    assert message_id("digest", 42, "news.example") != message_id("notify", 42, "news.example")
    assert thread_id(7, "news.example") == "<voxpop.article.7@news.example>"


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("voxpop@news.example", "news.example"),
        ("Voxpop <voxpop@News.Example>", "news.example"),
        ("voxpop", "localhost"),
        ("voxpop@", "localhost"),
        ("", "localhost"),
    ],
)
def test_domain_of(address: str, domain: str) -> None:
    assert domain_of(address) == domain
