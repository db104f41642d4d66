"""Streaming XML for the readers of XML exports (Disqus, WordPress WXR): events, lines, errors.

``events(path, progress)`` parses a file with ``defusedxml``'s ``iterparse`` (start and end
events) and yields ``(kind, element, line, depth)``: ``line`` is the line of the element's
start tag, ``depth`` 1 for the children of the root. It keeps nothing: the reader clears what
it has used (``element.clear()``, and removes finished elements from their parent) so memory
stays flat whatever the file's size. defusedxml refuses entity declarations (entity-expansion
"billion laughs") and external entities (XXE); those, and XML that is not well-formed
(a truncated download), become a ``SourceError`` with the line where the parser stopped.

Also here: ``local``/``text`` helpers and ``parse_time`` for the dates the exports write.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, Literal
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.parsers import expat

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, iterparse

from voxpop.importers.records import Progress, SourceError, utc

Kind = Literal["start", "end"]
# Progress is reported after this many end events (and once at the end of the file).
PROGRESS_EVERY = 1000


class _Counting:
    """A binary file that counts the bytes read from it (what ``progress`` is told)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        return data


class _LineBuilder(TreeBuilder):
    """A tree builder that notes the line of every start tag, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: deque[int] = deque()
        self.expat: expat.XMLParserType | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self.lines.append(self.expat.CurrentLineNumber if self.expat is not None else 0)
        return super().start(tag, attrs)


def events(path: str, progress: Progress) -> Iterator[tuple[Kind, Element, int, int]]:
    """The start and end events of the XML file at ``path``; see the module docstring."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as error:
        raise SourceError(f"cannot open the file: {error.strerror or error}") from None
    source = _Counting(raw)
    builder = _LineBuilder()
    parser = DefusedXMLParser(target=builder)
    builder.expat = parser.parser
    stack: list[int] = []
    ends = 0
    reported = 0
    try:
        for kind, element in iterparse(source, ("start", "end"), parser=parser):
            if kind == "start":
                stack.append(builder.lines.popleft())
                yield "start", element, stack[-1], len(stack) - 1
            else:
                line = stack.pop()
                yield "end", element, line, len(stack)
                ends += 1
                if ends % PROGRESS_EVERY == 0 and source.count > reported:
                    reported = source.count
                    progress(reported)
    except ParseError as error:
        raise SourceError(_explain(error), error.position[0]) from None
    except EntitiesForbidden as error:
        raise SourceError(_entity(error), parser.parser.CurrentLineNumber) from None
    except ExternalReferenceForbidden:
        raise SourceError(
            "the file refers to an external entity (a file or URL outside it): refused",
            parser.parser.CurrentLineNumber,
        ) from None
    except DefusedXmlException as error:
        line = parser.parser.CurrentLineNumber
        raise SourceError(f"refused XML construct: {error}", line) from None
    finally:
        raw.close()
    if source.count > reported:
        progress(source.count)


def _entity(error: Any) -> str:
    if getattr(error, "sysid", None) or getattr(error, "pubid", None):
        return (
            f"the file declares an external entity ({error.name} → {error.sysid or error.pubid}): "
            f"refused, because it would make the importer read a file or URL outside the export "
            f"(an XXE attack); a real export has none"
        )
    return (
        f"the file declares an XML entity ({error.name}): refused, because entities can "
        f"expand into gigabytes (a 'billion laughs' attack); a real export has none"
    )


def _explain(error: ParseError) -> str:
    code = getattr(error, "code", None)
    words = expat.ErrorString(code) if isinstance(code, int) else str(error)
    if code in (
        expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS],
        expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_TOKEN],
    ):
        return f"the file ends in the middle of the XML: is it truncated? ({words})"
    if code == expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
        return f"the XML uses an entity that is not defined ({words})"
    return f"the file is not well-formed XML: {words}"


def local(tag: str) -> str:
    """The local name of a tag: ``{http://disqus.com}post`` → ``post``."""
    return tag.rpartition("}")[2]


def namespace(tag: str) -> str:
    """The namespace URI of a tag, ``""`` when it has none."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def text(element: Element | None) -> str | None:
    """An element's text, stripped; ``None`` when the element is missing or empty."""
    if element is None or element.text is None:
        return None
    value = element.text.strip()
    return value or None


def parse_time(value: str) -> datetime:
    """An ISO 8601 / SQL-style time as an aware UTC datetime; naive times are taken as UTC.

    Accepts ``2019-03-04T12:34:56Z``, ``2019-03-04 12:34:56``, missing seconds, fractional
    seconds (any number of digits), offsets (``+02:00``, ``+0200``). ``ValueError`` otherwise,
    also for a time that cannot be put in UTC (``0001-01-01T00:00:00+01:00``).
    """
    try:
        return utc(datetime.fromisoformat(value.strip()))
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None
