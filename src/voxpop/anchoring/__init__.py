"""Anchoring inline feedback to passages of an article's text (pure, no I/O).

The pieces, in the order a request meets them:

* ``canonical_html`` / ``canonical_text`` reduce an article to its canonical text (the
  string every offset counts in, in code points) with a map back to the raw input;
  ``questions`` also returns the editor's ``<mark data-voxpop-question>`` passages;
  ``Utf16`` converts offsets to and from the UTF-16 units browsers count in.
* ``parse`` validates an untrusted anchor ``{"selector": [...]}`` into ``Selectors``
  (raising ``AnchorError``); ``make`` builds the selectors of a span; ``to_json`` writes
  them back.
* ``reanchor`` moves every note of an article from one revision to the next (one diff,
  then per note: unchanged → mapped, edited → followed, gone → searched, gated);
  ``locate`` / ``Locator`` find a passage in a text without history.

Errors::

    ValueError
    └── AnchorError (field, message) — an anchor that cannot be accepted
"""

from .canonical import Canonical, canonical_text, fold
from .diff import Block, Diff
from .html import Question, canonical_html, questions
from .reanchor import Locator, Method, Note, Result, State, locate, reanchor
from .search import GATES, Gates
from .selectors import (
    CONTEXT,
    MAX_CONTEXT,
    MAX_OFFSET,
    MAX_QUOTE,
    MAX_SELECTORS,
    AnchorError,
    Selectors,
    TextPosition,
    TextQuote,
    make,
    parse,
    to_json,
)
from .utf16 import Utf16, from_utf16, to_utf16, utf16_length

__all__ = [
    "CONTEXT",
    "GATES",
    "MAX_CONTEXT",
    "MAX_OFFSET",
    "MAX_QUOTE",
    "MAX_SELECTORS",
    "AnchorError",
    "Block",
    "Canonical",
    "Diff",
    "Gates",
    "Locator",
    "Method",
    "Note",
    "Question",
    "Result",
    "Selectors",
    "State",
    "TextPosition",
    "TextQuote",
    "Utf16",
    "canonical_html",
    "canonical_text",
    "fold",
    "from_utf16",
    "locate",
    "make",
    "parse",
    "questions",
    "reanchor",
    "to_json",
    "to_utf16",
    "utf16_length",
]
