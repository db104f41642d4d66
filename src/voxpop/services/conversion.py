"""Imported bodies → the Markdown and sanitised HTML that is stored: the costly part of an
import, pure, so that worker processes can do it (this module is all they load)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from voxpop.importers.markdown import html_to_markdown, text_to_markdown
from voxpop.importers.records import Post
from voxpop.services.inputs import clean_body
from voxpop.services.render import render


def convert(item: tuple[str, str, str]) -> tuple[str, str]:
    """(status, format, body) → (the Markdown body, its sanitised HTML): an import's costly
    part, pure, so that worker processes can do it."""
    status, form, text = item
    if status == "deleted":
        return "", ""
    text = clean_body(text)
    if form == "html":
        body = html_to_markdown(text)
    elif form == "text":
        body = text_to_markdown(text)
    else:
        body = text.strip()
    return body, render(body) if body else ""


Ticket = Callable[[], list[tuple[str, str]]]


class Converter:
    """Converts batches of posts: in this process for small imports, in ``processes``
    worker processes once more than ``after`` posts have come (a big import then reads
    and stores one batch while the workers convert the next)."""

    def __init__(self, processes: int, after: int) -> None:
        self.processes = processes
        self.after = after
        self.seen = 0
        self.pool: Any = None

    def submit(self, batch: list[Post]) -> Ticket:
        items = [(p.status, p.format, p.body) for p in batch]
        self.seen += len(items)
        if self.processes < 2 or self.seen <= self.after or not items:
            done = [convert(item) for item in items]
            return lambda: done
        if self.pool is None:
            self.pool = multiprocessing.get_context("spawn").Pool(self.processes)
        pending = self.pool.map_async(convert, items, chunksize=25)
        return lambda: list(pending.get())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
