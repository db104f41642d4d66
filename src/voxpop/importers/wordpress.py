"""Reader of a WordPress export (WXR: Tools → Export → All content).

WXR is RSS 2.0 with WordPress' namespaces: ``wp`` (``http://wordpress.org/export/1.2/``;
1.1 and 1.0 are read the same: elements are matched by local name), ``content``,
``excerpt``, ``dc``. One ``<item>`` per post, page or other post type::

    <item>
      <title>…</title> <link>https://example.com/a/</link> <guid>…?p=42</guid>
      <content:encoded>…</content:encoded>
      <wp:post_id>42</wp:post_id> <wp:comment_status>open|closed</wp:comment_status>
      <wp:status>publish</wp:status> <wp:post_type>post</wp:post_type>
      <wp:postmeta><wp:meta_key>…</wp:meta_key><wp:meta_value>…</wp:meta_value></wp:postmeta>
      <wp:comment>
        <wp:comment_id>7</wp:comment_id> <wp:comment_author>…</wp:comment_author>
        <wp:comment_author_email/> <wp:comment_author_url/> <wp:comment_author_IP/>
        <wp:comment_date>2019-03-04 13:34:56</wp:comment_date>          site's local time
        <wp:comment_date_gmt>2019-03-04 12:34:56</wp:comment_date_gmt>  UTC
        <wp:comment_content>text with raw newlines</wp:comment_content>
        <wp:comment_approved>1|0|spam|trash|post-trashed</wp:comment_approved>
        <wp:comment_type>(empty)|comment|pingback|trackback|…</wp:comment_type>
        <wp:comment_parent>0</wp:comment_parent> <wp:comment_user_id>0</wp:comment_user_id>
        <wp:commentmeta><wp:meta_key>…</wp:meta_key><wp:meta_value>…</wp:meta_value>
        </wp:commentmeta>
      </wp:comment>
    </item>

What becomes of it:

- A ``Thread`` per item that has at least one imported comment, yielded just before its
  first one: key = ``wp:post_id``, url = ``<link>`` (``<guid>`` when empty), title,
  closed when ``wp:comment_status`` is ``closed``. The item's post status and type do not
  matter (comments on a page or a draft are imported like any other).
- A ``Post`` per comment of type ``''`` or ``comment``: key = ``wp:comment_id``, parent =
  ``wp:comment_parent`` (``0``: none), time = ``comment_date_gmt``, or ``comment_date``
  taken as UTC when that is ``0000-00-00 00:00:00`` (old or imported data). Status:
  ``1`` approved, ``0`` pending, ``spam`` spam, ``trash``/``post-trashed`` deleted; any
  other value pending (never publish what we cannot read). The author's IP is dropped.
- Other comment types are skipped: pingbacks and trackbacks (not reader comments), and
  the private types plugins keep in the comments table (WooCommerce ``order_note``,
  ``review``…). Pass a ``collections.Counter`` as ``skipped`` to learn how many of each;
  replies to a skipped comment become top-level.
- Body: WordPress stores a comment as typed, with raw newlines that its ``wpautop`` turns
  into paragraphs when showing it. So when the content has no block-level tag, blank-line
  separated blocks become ``<p>`` and single newlines ``<br>``; content that has block
  tags is left as it is. Either way the format is ``html`` and the text is otherwise
  verbatim: the import service sanitises it.
- wpDiscuz votes, from commentmeta: ``wpdiscuz_votes_seperate`` (sic; a PHP-serialised
  ``{"like": n, "dislike": m}``) gives up and down; else ``wpdiscuz_votes`` (the net sum)
  gives up when positive, down when negative. ``wpdiscuz_last_edited_at`` (UTC) gives
  ``edited_at`` (ignored when unreadable: it is a plugin's note, not the comment).

Note: WordPress' own exporter leaves spam comments out of the file.
Memory: the ids of skipped comments only; each element is cleared once read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from xml.etree.ElementTree import Element

from voxpop.importers.records import Post, Progress, Record, SourceError, Status, Thread
from voxpop.importers.xmlstream import events, local, namespace, parse_time, text

NAMESPACES = {
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
}
STATUSES: dict[str, Status] = {
    "1": "approved",
    "0": "pending",
    "spam": "spam",
    "trash": "deleted",
    "post-trashed": "deleted",
}
IMPORTED_TYPES = ("", "comment")
ZERO_DATE = "0000-00-00 00:00:00"
BLOCK_TAG = re.compile(
    r"<(?:p|div|blockquote|pre|ul|ol|li|dl|h[1-6]|table|hr|figure|section|article|address)\b",
    re.IGNORECASE,
)
SERIALISED_COUNT = r's:\d+:"{}";(?:i:|d:|s:\d+:")(-?\d+)'
LIKES = re.compile(SERIALISED_COUNT.format("like"))
DISLIKES = re.compile(SERIALISED_COUNT.format("dislike"))


def name(tag: str) -> str:
    """A tag as WXR writes it, whatever the WXR version: ``wp:comment``, ``title``."""
    uri = namespace(tag)
    if uri.startswith("http://wordpress.org/export/"):
        prefix = "excerpt" if uri.rstrip("/").endswith("excerpt") else "wp"
    else:
        prefix = NAMESPACES.get(uri, "")
    return f"{prefix}:{local(tag)}" if prefix else local(tag)


def read(path: str, progress: Progress, skipped: Counter[str] | None = None) -> Iterator[Record]:
    """The threads and posts of the WXR file at ``path``; see the module docstring."""
    skipped = Counter() if skipped is None else skipped
    skipped_ids: set[str] = set()
    channel = item = None
    fields: dict[str, str | None] = {}  # of the current item: title, link, ...
    thread: Thread | None = None  # the current item's thread, once yielded
    lines: dict[str, int] = {}  # line of each child of the current comment
    wordpress = False
    for kind, element, line, depth in events(path, progress):
        if kind == "start":
            if depth == 0 and local(element.tag) != "rss":
                raise SourceError(
                    f"this is not a WordPress export (WXR): its root element is "
                    f"<{local(element.tag)}>, a WXR file's is <rss>",
                    line,
                )
            wordpress = wordpress or name(element.tag).startswith("wp:")
            if depth == 1:
                channel = element
            elif depth == 2:
                item, fields, thread = element, {}, None
            elif depth == 3:
                lines = {}
            elif depth == 4:
                lines.setdefault(local(element.tag), line)
            continue
        if depth == 3 and item is not None:
            tag = name(element.tag)
            if tag == "wp:comment":
                post = _comment(element, line, lines, fields, skipped, skipped_ids)
                if post is not None:
                    if thread is None:
                        thread = _thread(fields, line)
                        yield thread
                    yield post
            elif tag in ("title", "link", "guid", "wp:post_id", "wp:comment_status"):
                fields[tag] = text(element)
            element.clear()
            del item[:]
        elif depth == 2 and channel is not None:
            element.clear()
            del channel[:]
    if not wordpress:
        raise SourceError("this is not a WordPress export (WXR): it has no wp: elements")


def _thread(fields: dict[str, str | None], line: int) -> Thread:
    key = fields.get("wp:post_id")
    if key is None:
        raise SourceError("a comment comes before its item's <wp:post_id>", line)
    url = fields.get("link") or fields.get("guid")
    if url is None:
        raise SourceError(f"item {key} has no <link>: cannot tell which page it is", line)
    closed = (fields.get("wp:comment_status") or "").lower() == "closed"
    return Thread(key=key, url=url, title=fields.get("title") or "", closed=closed)


def _comment(
    element: Element,
    line: int,
    lines: dict[str, int],
    fields: dict[str, str | None],
    skipped: Counter[str],
    skipped_ids: set[str],
) -> Post | None:
    values: dict[str, str] = {}
    meta: dict[str, str] = {}
    for child in element:
        tag = name(child.tag)
        if tag == "wp:commentmeta":
            key, value = (text(c) for c in _children(child, "meta_key", "meta_value"))
            if key is not None:
                meta[key] = value or ""
        elif tag.startswith("wp:comment_"):
            values[tag[len("wp:comment_") :]] = child.text or ""
    key = values.get("id", "").strip()
    if not key:
        raise SourceError("a <wp:comment> has no <wp:comment_id>", line)
    kind = values.get("type", "").strip()
    if kind not in IMPORTED_TYPES:
        skipped[kind] += 1
        skipped_ids.add(key)
        return None
    parent = values.get("parent", "").strip()
    up, down = _votes(meta)
    return Post(
        key=key,
        thread_key=fields.get("wp:post_id") or "",
        parent_key=None if parent in ("", "0") or parent in skipped_ids else parent,
        created_at=_time(values, key, lines, line),
        status=STATUSES.get(values.get("approved", "").strip().lower(), "pending"),
        body=paragraphs(values.get("content", "")),
        format="html",
        author_name=_field(values, "author"),
        author_email=_field(values, "author_email"),
        author_website=_field(values, "author_url"),
        edited_at=_edited(meta.get("wpdiscuz_last_edited_at")),
        up=up,
        down=down,
    )


def _children(element: Element, *names: str) -> list[Element | None]:
    found: dict[str, Element] = {local(c.tag): c for c in element}
    return [found.get(n) for n in names]


def _field(values: dict[str, str], key: str) -> str | None:
    return values.get(key, "").strip() or None


def _time(values: dict[str, str], key: str, lines: dict[str, int], line: int) -> datetime:
    gmt = values.get("date_gmt", "").strip()
    field = "comment_date_gmt"
    if gmt in ("", ZERO_DATE):
        gmt, field = values.get("date", "").strip(), "comment_date"
    if gmt in ("", ZERO_DATE):
        raise SourceError(f"comment {key} has no date", line)
    try:
        return parse_time(gmt)
    except ValueError:
        raise SourceError(
            f"comment {key} has a date that cannot be read: {gmt!r} "
            f"(expected like 2019-03-04 12:34:56)",
            lines.get(field, line),
        ) from None


def _edited(value: str | None) -> datetime | None:
    if not value or value.strip() == ZERO_DATE:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _votes(meta: dict[str, str]) -> tuple[int, int]:
    separate = meta.get("wpdiscuz_votes_seperate", "")
    likes, dislikes = LIKES.search(separate), DISLIKES.search(separate)
    if likes or dislikes:
        up = abs(int(likes.group(1))) if likes else 0
        return up, abs(int(dislikes.group(1))) if dislikes else 0
    try:
        net = int(meta.get("wpdiscuz_votes", "0").strip() or "0")
    except ValueError:
        return 0, 0
    return max(net, 0), max(-net, 0)


def paragraphs(content: str) -> str:
    """A comment as WordPress shows it: blank lines → ``<p>``, newlines → ``<br>``.

    Only for content without block-level tags (what readers type); anything else, and
    content without newlines, is returned as it is.
    """
    content = content.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if "\n" not in content or BLOCK_TAG.search(content):
        return content
    blocks = (block.strip("\n") for block in re.split(r"\n[ \t]*\n", content))
    return "\n".join(_paragraph(block) for block in blocks if block.strip())


def _paragraph(block: str) -> str:
    return "<p>" + block.replace("\n", "<br>\n") + "</p>"
