"""Notification e-mails as text: subject, plain-text body and HTML body from Jinja templates.

Templates live in ``templates/<message>/{subject,body}.<lang>.txt`` and ``body.<lang>.html``
so a translator edits one self-contained file per part. One module-level ``Environment``
compiles each template once (``auto_reload`` off: no file checks per call), because render
runs once per recipient. ``StrictUndefined`` turns a missing value into an error rather than
a silently empty sentence. Only ``.html`` autoescapes; the plain-text part must never get
the comment's HTML, only its Markdown source.

The values of each message (strings unless noted, URLs absolute):

* confirm: site_title, article_title, article_url, scope ("thread" | "replies" |
  "comment"), confirm_url, expires_hours (int), manage_url
* notify: site_title, article_title, article_url, reason (as scope), comment,
  unsubscribe_url, manage_url
* digest: site_title, date, count (int), articles (mappings: title, url, comments),
  unsubscribe_url (of all digests), manage_url

A comment is a mapping: author (display name), text (Markdown source), html (sanitised
HTML), url, parent_author (display name of the comment it replies to, or None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

MESSAGES = ("confirm", "notify", "digest")
LANGUAGES = ("en", "de")
SUBJECT_MAX = 200

TEMPLATES = Path(__file__).parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,
)


def _quote(text: str) -> str:
    """Prefix every line with ``> `` (plain-text quoting of a comment)."""
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


_env.filters["quote"] = _quote


@dataclass(frozen=True, slots=True)
class Rendered:
    """One e-mail's text: a one-line subject, a plain-text body and an HTML document."""

    subject: str
    text: str
    html: str


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """Collapse every whitespace run (CR, LF, tab, U+2028, …) to one space, strip, and cut
    to ``limit`` characters with "…": a header can then never be split in two."""
    line = " ".join(text.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def language(lang: str) -> str:
    """The template language for a requested one: its primary subtag when known, else "en"."""
    primary = lang.split("-")[0].lower()
    return primary if primary in LANGUAGES else "en"


@cache
def _templates(message: str, lang: str) -> tuple[Template, Template, Template]:
    return (
        _env.get_template(f"{message}/subject.{lang}.txt"),
        _env.get_template(f"{message}/body.{lang}.txt"),
        _env.get_template(f"{message}/body.{lang}.html"),
    )


def render(message: str, lang: str, values: Mapping[str, Any]) -> Rendered:
    """Render one notification e-mail; an unknown ``lang`` falls back to English."""
    if message not in MESSAGES:
        raise ValueError(f"unknown mail message {message!r}; expected one of {MESSAGES}")
    lang = language(lang)
    subject_template, text_template, html_template = _templates(message, lang)
    subject = one_line(subject_template.render(values))
    context = {**values, "lang": lang, "subject": subject}
    return Rendered(subject, text_template.render(context), html_template.render(context))
