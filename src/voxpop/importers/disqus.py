"""Reader of a Disqus export (Admin → Moderation → Export: ``<forum>-<date>-all.xml``).

The format (``http://disqus.com/api/schemas/1.0/disqus.xsd``): one root element
``<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">``
holding, in this order, every category, every thread, then every post::

    <category dsq:id="1"><forum>f</forum><title>General</title><isDefault>true</isDefault>
    </category>
    <thread dsq:id="7001">            Disqus' own id: the thread's key here
      <id>post-42</id>                the site's identifier (often empty)
      <forum>f</forum> <category dsq:id="1"/>
      <link>https://example.com/a</link> <title>…</title> <message/>
      <createdAt>2019-03-04T12:34:56Z</createdAt>
      <author><name>…</name><isAnonymous>false</isAnonymous><username>…</username></author>
      <ipAddress>…</ipAddress> <isClosed>false</isClosed> <isDeleted>false</isDeleted>
    </thread>
    <post dsq:id="9001">              Disqus' own id: the post's key here
      <id/>  <message><![CDATA[<p>HTML</p>]]></message>
      <createdAt>…</createdAt> <isDeleted>false</isDeleted> <isSpam>false</isSpam>
      <author><email>…</email><name>…</name><isAnonymous>…</isAnonymous>
              <username>…</username></author>
      <ipAddress>…</ipAddress>
      <thread dsq:id="7001"/>
      <parent dsq:id="9000"/>         only on replies
    </post>

What becomes of it:

- A ``Thread`` per ``<thread>``: key = ``dsq:id``, url = ``<link>`` (the ``<id>`` when the
  link is empty), title, closed = ``isClosed``. Threads Disqus marks deleted are yielded
  too: their posts still exist in the export and must attach somewhere; whether the
  article shows is the site's business, not the export's. Categories are ignored.
- A ``Post`` per ``<post>``: key = ``dsq:id`` (the ``<id>`` for a post without one),
  body = ``<message>`` verbatim as ``html`` (the import service sanitises it), status
  ``spam`` when ``isSpam``, else ``deleted`` when ``isDeleted``, else ``pending`` when
  the post has ``<isApproved>false</isApproved>`` (newer exports; older ones have no
  such element: their posts were all published), else ``approved``. Author name is
  ``<name>`` (``<username>`` when the name is empty); the e-mail only as given (recent
  exports omit it); a Disqus export has no author website. IP addresses are never
  passed on.
- A post names its thread by ``dsq:id``; Disqus' documented import format also names it
  by the thread's ``<id>`` text, which is accepted. A post naming a thread not defined
  before it, a post without any id, or a date that cannot be read is a ``SourceError``
  with the line of the element. A parent may come later in the file (the import service
  links it at the end).

Memory: threads' keys and identifiers only; each element is cleared once read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from xml.etree.ElementTree import Element

from voxpop.importers.records import Post, Progress, Record, SourceError, Status, Thread
from voxpop.importers.xmlstream import events, local, namespace, parse_time, text

NS = "http://disqus.com"
DSQ_ID = "{http://disqus.com/disqus-internals}id"


def read(path: str, progress: Progress) -> Iterator[Record]:
    """The threads and posts of the Disqus export at ``path``, in file order."""
    threads: set[str] = set()  # dsq:id of every thread seen
    identifiers: dict[str, str] = {}  # a thread's <id> text → its dsq:id
    root: Element | None = None
    lines: dict[str, int] = {}  # line of each child of the current record, by local name
    for kind, element, line, depth in events(path, progress):
        if depth == 0:
            if kind == "start":
                root = element
                if local(element.tag) != "disqus" or namespace(element.tag) != NS:
                    raise SourceError(
                        f"this is not a Disqus export: its root element is "
                        f'<{local(element.tag)}>, a Disqus export\'s is <disqus xmlns="{NS}">',
                        line,
                    )
            continue
        if kind == "start":
            if depth == 1:
                lines = {}
            elif depth == 2:
                lines.setdefault(local(element.tag), line)
            continue
        if depth != 1:
            continue
        name = local(element.tag)
        if name == "thread":
            thread = _thread(element, line)
            threads.add(thread.key)
            identifier = text(element.find(f"{{{NS}}}id"))
            if identifier is not None:
                identifiers.setdefault(identifier, thread.key)
            yield thread
        elif name == "post":
            yield _post(element, line, lines, threads, identifiers)
        if root is not None:
            root.clear()


def _child(element: Element, name: str) -> Element | None:
    return element.find(f"{{{NS}}}{name}")


def _flag(element: Element, name: str) -> bool:
    return (text(_child(element, name)) or "").lower() in ("true", "1")


def _thread(element: Element, line: int) -> Thread:
    key = (element.get(DSQ_ID) or "").strip() or text(_child(element, "id"))
    if key is None:
        raise SourceError("a <thread> has neither a dsq:id attribute nor an <id>", line)
    url = text(_child(element, "link")) or text(_child(element, "id"))
    if url is None:
        raise SourceError(f"thread {key} has no <link>: cannot tell which page it is", line)
    title = text(_child(element, "title")) or ""
    return Thread(key=key, url=url, title=title, closed=_flag(element, "isClosed"))


def _post(
    element: Element,
    line: int,
    lines: dict[str, int],
    threads: set[str],
    identifiers: dict[str, str],
) -> Post:
    key = (element.get(DSQ_ID) or "").strip() or text(_child(element, "id"))
    if key is None:
        raise SourceError("a <post> has neither a dsq:id attribute nor an <id>", line)
    reference = _child(element, "thread")
    if reference is None:
        raise SourceError(f"post {key} names no <thread>", line)
    named = (reference.get(DSQ_ID) or "").strip() or text(reference) or ""
    thread_key = named if named in threads else identifiers.get(named)
    if thread_key is None:
        raise SourceError(
            f"post {key} belongs to thread {named or '(empty)'}, which is not defined "
            f"before it in the file (threads come before posts in a Disqus export)",
            lines.get("thread", line),
        )
    parent = _child(element, "parent")
    parent_key = None
    if parent is not None:
        parent_key = (parent.get(DSQ_ID) or "").strip() or text(parent)
    author = _child(element, "author")
    name = username = email = None
    if author is not None:
        name = text(author.find(f"{{{NS}}}name"))
        username = text(author.find(f"{{{NS}}}username"))
        email = text(author.find(f"{{{NS}}}email"))
    message = _child(element, "message")
    return Post(
        key=key,
        thread_key=thread_key,
        parent_key=parent_key,
        created_at=_time(element, key, lines.get("createdAt", line)),
        status=_status(element),
        body=(message.text or "") if message is not None else "",
        format="html",
        author_name=name or username,
        author_email=email,
    )


def _status(element: Element) -> Status:
    if _flag(element, "isSpam"):
        return "spam"
    if _flag(element, "isDeleted"):
        return "deleted"
    if (text(_child(element, "isApproved")) or "true").lower() in ("false", "0"):
        return "pending"
    return "approved"


def _time(element: Element, key: str, line: int) -> datetime:
    value = text(_child(element, "createdAt"))
    if value is None:
        raise SourceError(f"post {key} has no <createdAt> date", line)
    try:
        return parse_time(value)
    except ValueError:
        raise SourceError(
            f"post {key} has a date that cannot be read: {value!r} "
            f"(expected like 2019-03-04T12:34:56Z)",
            line,
        ) from None
