"""Other systems' comment HTML → the Markdown a reader would have typed here.

Imported comments are stored like new ones: the Markdown ``body`` is what the renderer
turns into sanitised HTML (``services.render``, the same allow-list as every comment), so
an imported comment is exactly as safe as a typed one whatever this conversion gets wrong.
What it keeps: paragraphs, line breaks, emphasis, strong, code, code blocks, quotes,
lists, rules, and absolute http(s)/mailto links. Scripts, styles, frames, forms, media and
comments vanish with their content; any other tag leaves its text. Text is escaped so
that nothing in it becomes Markdown it was not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements whose content is dropped whole.
_DROP = {
    "script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math",
    "form", "button", "select", "textarea", "audio", "video", "canvas", "head", "title",
}  # fmt: skip
_VOID = {"br", "hr", "img", "input", "meta", "link", "source", "wbr", "area", "col", "base"}
_BLOCK = {
    "p", "div", "blockquote", "ul", "ol", "li", "pre", "hr", "h1", "h2", "h3", "h4", "h5",
    "h6", "table", "tr", "section", "article", "header", "footer", "figure", "dl", "dt", "dd",
}  # fmt: skip
_ABSOLUTE = re.compile(r"^(https?://[^\s/?#]+|mailto:[^\s]+@)", re.IGNORECASE)
_SPECIAL = re.compile(r"([\\`*_\[\]<>&~|])")
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))", re.MULTILINE)
_SPACE = re.compile(r"\s+")
# Elements nested deeper than this are read as their text (the converter recurses).
_MAX_DEPTH = 48


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node | str] = field(default_factory=list)


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root")
        self.stack = [self.root]
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping:
            if tag in _DROP:
                self.dropping += 1
            return
        if tag in _DROP:
            self.dropping = 1
            return
        if len(self.stack) > _MAX_DEPTH and tag not in _VOID:
            return  # its text goes to the element around it; its end tag matches nothing
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.dropping and tag not in _DROP:
            self.stack[-1].children.append(_Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag in _DROP:
                self.dropping -= 1
            return
        # Close up to the matching open element; a stray end tag closes nothing.
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.stack[-1].children.append(data)


def escape(text: str) -> str:
    """Plain text that renders as itself."""
    text = _SPECIAL.sub(r"\\\1", text)
    return _LINE_START.sub(_mark_line_start, text)


def _mark_line_start(match: re.Match[str]) -> str:
    lead, mark = match.group(1), match.group(2)
    # ``#`` and friends take a backslash; a list number keeps its digits and the ``.`` or
    # ``)`` after them takes it (a backslash before a digit is no escape).
    return f"{lead}{mark}\\" if mark.isdigit() else f"{lead}\\{mark}"


def _inline(node: _Node, pre: bool = False) -> str:
    out: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            out.append(child if pre else escape(_SPACE.sub(" ", child)))
            continue
        tag = child.tag
        if tag == "br":
            out.append("\n")
        elif tag in ("em", "i", "cite"):
            out.append(_wrap(_inline(child), "*"))
        elif tag in ("strong", "b"):
            out.append(_wrap(_inline(child), "**"))
        elif tag == "code":
            out.append(_code_span(_text(child)))
        elif tag == "a":
            out.append(_link(child))
        elif tag == "img":
            alt = child.attrs.get("alt", "").strip()
            out.append(escape(alt))
        else:
            out.append(_inline(child, pre))
    return "".join(out)


def _wrap(inner: str, mark: str) -> str:
    stripped = inner.strip()
    if not stripped:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{mark}{stripped}{mark}{trail}"


def _code_span(text: str) -> str:
    text = _SPACE.sub(" ", text)
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}" if text.strip() else ""


def _link(node: _Node) -> str:
    label = _inline(node).strip()
    href = node.attrs.get("href", "").strip()
    if not _ABSOLUTE.match(href):
        return label
    if not label:
        label = escape(href)
    href = href.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"[{label}](<{href}>)" if "<" not in href and ">" not in href else label


def _text(node: _Node) -> str:
    return "".join(c if isinstance(c, str) else _text(c) for c in node.children)


def _blocks(node: _Node) -> list[str]:
    """The node's content as Markdown blocks (to be joined by blank lines)."""
    blocks: list[str] = []
    run = _Node("run")

    def flush() -> None:
        text = _inline(run).strip()
        text = re.sub(r" *\n *", "\n", text)
        if text:
            blocks.append(text)
        run.children.clear()

    for child in node.children:
        if isinstance(child, str) or child.tag not in _BLOCK:
            run.children.append(child)
            continue
        flush()
        tag = child.tag
        if tag == "hr":
            blocks.append("---")
        elif tag == "pre":
            code = _text(child).strip("\n")
            fence = "```"
            while fence in code:
                fence += "`"
            if code.strip():
                blocks.append(f"{fence}\n{code}\n{fence}")
        elif tag == "blockquote":
            inner = "\n\n".join(_blocks(child))
            if inner:
                blocks.append("\n".join("> " + line if line else ">" for line in inner.split("\n")))
        elif tag in ("ul", "ol"):
            items = [c for c in child.children if isinstance(c, _Node) and c.tag == "li"]
            lines: list[str] = []
            for number, item in enumerate(items, 1):
                marker = f"{number}. " if tag == "ol" else "- "
                inner = "\n\n".join(_blocks(item)) or ""
                indent = " " * len(marker)
                body = inner.replace("\n", "\n" + indent)
                lines.append(marker + body)
            if lines:
                blocks.append("\n".join(lines))
        else:
            blocks.extend(_blocks(child))
    flush()
    return blocks


def html_to_markdown(html: str) -> str:
    """The Markdown for a fragment of (untrusted) HTML."""
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return "\n\n".join(_blocks(tree.root)).strip()


def text_to_markdown(text: str) -> str:
    """Plain text (line breaks kept) as Markdown that renders as that text."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return "\n\n".join(escape(p.strip()) for p in paragraphs if p.strip())
