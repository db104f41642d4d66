"""Hostile inputs shared by the API, page and browser tests."""

from __future__ import annotations

import re
from html.parser import HTMLParser

BODIES = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java&#x09;script:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<form><math><mtext></form><form><mglyph><svg><mtext><style><path id="</style><img onerror=alert(1) src>">',
    "<style>@import 'http://evil.example/x.css';</style>",
    "<details open ontoggle=alert(1)>",
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "<<script>script>alert(1)<</script>/script>",
    '[x](https://ok.example "title\\" onmouseover=alert(1) x=\\"")',
    "![img](https://evil.example/pixel.gif)",
    "<a href='https://ok.example' onclick='alert(1)'>ok</a>",
    "\u202eevil\u202c <b>bold?</b> \u0000 nul",
    "**bold** _em_ <https://ok.example> [m](mailto:a@example.org)",
]

NAMES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "Zoë 🙂 ﷽",
]

WEBSITES = [
    "javascript:alert(1)",
    'https://ok.example/"><script>alert(1)</script>',
    "data:text/html,<script>alert(1)</script>",
]

_DANGEROUS_TAGS = {
    "script",
    "iframe",
    "svg",
    "math",
    "style",
    "object",
    "embed",
    "form",
    "img",
    "details",
    "noscript",
    "link",
    "meta",
    "base",
    "frame",
    "frameset",
    "video",
    "audio",
    "source",
    "template",
    "input",
    "button",
    "textarea",
    "select",
}
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcset"}


class _Scan(HTMLParser):
    def __init__(self, allow: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allow = allow
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DANGEROUS_TAGS and tag not in self.allow:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in _URL_ATTRS and value is not None:
                scheme = re.sub(r"[\x00-\x20]", "", value).split(":", 1)
                if len(scheme) == 2 and scheme[0].lower() not in ("http", "https", "mailto"):
                    self.found.append(f"{tag}[{name}={value[:30]}]")

    handle_startendtag = handle_starttag


# Our own forms (and the disclosure around the report form) are allowed on the pages.
PAGE_FORMS = frozenset({"form", "input", "button", "textarea", "select", "details"})


def executable(html: str, allow: frozenset[str] = frozenset()) -> list[str]:
    """Elements and attributes in ``html`` that could run script or load foreign content
    (parsed as a browser tokenizer would, not matched as text); empty when safe."""
    scan = _Scan(allow)
    scan.feed(html)
    scan.close()
    return scan.found
