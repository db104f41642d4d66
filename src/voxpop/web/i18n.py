"""Message catalogues of the server-rendered pages (the widget has its own)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import orjson

from voxpop.settings import LANGUAGES

I18N = Path(__file__).parent / "i18n"


@cache
def catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = orjson.loads((I18N / f"pages.{lang}.json").read_bytes())
    return data


def pick(requested: str | None, default: str) -> str:
    if requested:
        primary = requested.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return default


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._messages = catalogue(lang)
        self._fallback = catalogue("en")

    def __call__(self, key: str, **values: object) -> str:
        text = self._messages.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

    def count(self, n: int) -> str:
        if n == 0:
            return self("count_zero")
        if n == 1:
            return self("count_one")
        return self("count_other", n=n)

    def votes(self, n: int) -> str:
        return self("votes_one") if n == 1 else self("votes_other", n=n)

    def decimal(self, value: float | None) -> str:
        """One decimal, with the language's separator (4.2, 4,2)."""
        if value is None:
            return ""
        text = f"{value:.1f}"
        return text.replace(".", ",") if self.lang == "de" else text
