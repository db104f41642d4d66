"""Turning a comment into the tokens the classifier counts.

``tokens(text)`` gives the tokens in order of appearance (with repeats); ``features(...)``
the distinct ones the classifier scores and trains on, capped at ``MAX_FEATURES``.

Words are runs of Unicode letters and digits, 2-30 characters, after NFKC normalisation
(full-width and compatibility forms fold to plain ones: "ｆｒｅｅ" is "free") and case
folding. Shapes that say more than the exact string become special tokens, all written
``__name__`` or ``__name:value__`` so that no word can collide with them (words have no
underscores):

    __url__              each link (http://, https://, www., or a bare host with a common
                         spam TLD such as bit.ly/x)
    __domain:HOST__      each linked host, lower-case, without "www." and port
    __many_links__       MANY_LINKS or more links
    __email__            an e-mail address
    __digits__           a run of LONG_DIGITS or more digits (phone numbers, codes); such a
                         run is not also a word, so that every number is the same token
    __money__            a currency sign next to a number ($500, 100€, £1000)
    __allcaps__          shouting: most letters of a long enough text are capitals
    __shortlink__        a link through a known URL shortener

Everything is bounded: the input is cut at ``MAX_INPUT_CHARS`` characters before any work
(and again after NFKC, which can lengthen text), and at most ``MAX_TOKENS`` tokens come
out. Deterministic: the same text always gives the same list.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# The server caps comments at 10,000 characters; this leaves room for the author name and
# website while bounding the work on anything larger (1 MB of text is cut here).
MAX_INPUT_CHARS = 12_000
# At most this many tokens from one text (a 10,000-character comment has about 2,000 words).
MAX_TOKENS = 3_000
# At most this many distinct features per comment: bounds the classifier's work and the
# rows the server fetches per comment. Special tokens come first, so they are never cut.
MAX_FEATURES = 400
# Words shorter or longer than this are skipped (one-letter words say nothing, 30+ character
# "words" are base64, hashes or keyboard mashing, and would flood the vocabulary).
MIN_WORD = 2
MAX_WORD = 30
# A run of this many digits is a number worth a token of its own (phone numbers, codes).
LONG_DIGITS = 5
# This many links or more add __many_links__.
MANY_LINKS = 3
# __allcaps__: at least this many letters, and at least this share of them capitals.
ALLCAPS_MIN_LETTERS = 12
ALLCAPS_SHARE = 0.7

# Hosts of URL shorteners: a link through one hides its target, a favourite of spammers.
SHORTENERS = frozenset(
    {
        "bit.ly",
        "goo.gl",
        "tinyurl.com",
        "t.co",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "cutt.ly",
        "rb.gy",
        "shorturl.at",
        "tiny.cc",
        "adf.ly",
    }
)

# Top-level domains that make a bare "name.tld" (without http:// or www.) count as a link.
# Bare names with other TLDs ("e.g.", "node.js", "file.py") stay words.
_BARE_TLDS = (
    "com|net|org|info|biz|ru|cn|ly|io|me|co|uk|de|fr|xyz|top|club|online|site|shop|"
    "store|live|click|link|win|tk|ml|ga|cf|gq|pw|cc|tv|us|in|su|ua|pl|nl|eu|app|dev"
)

# Host names: at most 10 labels, so that no pattern backtracks over a long "a.a.a.a..." run
# (an unbounded repetition there made matching quadratic in the text's length).
_EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:]{1,64}@[^\W_](?:[\w-]{0,62}\.){1,10}[^\W\d_]{2,24}")
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'\]\[)(]{1,2000}"
    rf"|\b(?:[^\W_][\w-]{{0,62}}\.){{1,10}}(?:{_BARE_TLDS})\b(?:/[^\s<>\"'\]\[)(]{{0,2000}})?",
    re.IGNORECASE,
)
_HOST = re.compile(r"^(?:https?://)?(?:[^/?#@\s]*@)?([^/?#:\s]+)", re.IGNORECASE)
_MONEY = re.compile(r"[$€£¥₹]\s?\d|\d\s?[$€£¥₹]")
_DIGITS = re.compile(rf"\d{{{LONG_DIGITS},}}")
_WORD = re.compile(r"[^\W_]+")
# C0 and C1 control characters (NUL included), other than the whitespace ones.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    text = text[:MAX_INPUT_CHARS]
    text = unicodedata.normalize("NFKC", text)[:MAX_INPUT_CHARS]
    return _CONTROL.sub(" ", text)


def _host(url: str) -> str | None:
    match = _HOST.match(url)
    if match is None:
        return None
    host = match.group(1).casefold().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    host = host[:253]
    return host if "." in host else None


_ASCII_LOWER = bytes(range(ord("a"), ord("z") + 1))
_CURRENCY = "$€£¥₹"


def _shouting(text: str) -> bool:
    if len(text) < ALLCAPS_MIN_LETTERS:
        return False
    # Quick no: shouting allows at most (1 - ALLCAPS_SHARE) x letters <= (1 - share) x bytes
    # lower-case letters, and ordinary text has far more lower-case ASCII letters than that.
    raw = text.encode("utf-8", "surrogatepass")
    lower_ascii = len(raw) - len(raw.translate(None, _ASCII_LOWER))
    if lower_ascii > (1.0 - ALLCAPS_SHARE) * len(raw):
        return False
    letters = sum(map(str.isalpha, text))
    if letters < ALLCAPS_MIN_LETTERS:
        return False
    return sum(map(str.isupper, text)) >= ALLCAPS_SHARE * letters


def _special(text: str, out: list[str]) -> str:
    """Append the special tokens of (cleaned) ``text`` to ``out``; the text without its
    links and e-mail addresses."""
    if _shouting(text):
        out.append("__allcaps__")

    def strip_emails(match: re.Match[str]) -> str:
        out.append("__email__")
        return " "

    links = 0

    def strip_urls(match: re.Match[str]) -> str:
        nonlocal links
        links += 1
        out.append("__url__")
        host = _host(match.group(0))
        if host is not None:
            out.append(f"__domain:{host}__")
            if host in SHORTENERS:
                out.append("__shortlink__")
        return " "

    # Links and addresses never contain whitespace: look only at the whitespace-separated
    # chunks that can hold one (an "@", or a dot before the chunk's last character), which
    # is much faster than running the patterns over the whole text.
    chunks = text.split()
    changed = False
    for i, chunk in enumerate(chunks):
        new = chunk
        if "://" in new:  # a link first: http://user@host is not an e-mail address
            new = _URL.sub(strip_urls, new)
        if "@" in new:
            new = _EMAIL.sub(strip_emails, new)
        if "." in new[:-1]:
            new = _URL.sub(strip_urls, new)
        if new is not chunk:
            chunks[i] = new
            changed = True
    if changed:
        text = " ".join(chunks)
    if links >= MANY_LINKS:
        out.append("__many_links__")
    if any(sign in text for sign in _CURRENCY) and _MONEY.search(text):
        out.append("__money__")
    return text


def _words(text: str) -> list[str]:
    """The word tokens of ``text`` (already cleaned, links removed), long numbers as
    __digits__."""
    return [
        "__digits__" if len(w) >= LONG_DIGITS and w.isdecimal() else w
        for w in _WORD.findall(text.casefold())
        if MIN_WORD <= len(w) <= MAX_WORD or (len(w) > MAX_WORD and w.isdecimal())
    ]


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` in order of appearance, repeats included; at most MAX_TOKENS.

    Special tokens (links, hosts, e-mail addresses, shapes) come first, then the words.
    """
    out: list[str] = []
    rest = _special(_clean(text), out)
    out.extend(_words(rest))
    return out[:MAX_TOKENS]


# Longest feature: what the classifier's table keeps (``spam_tokens.token``). A longer one
# (a domain's name may have 253 characters) keeps its head and a hash of the whole.
MAX_FEATURE_CHARS = 64


# A word token has at most MAX_WORD characters (a longer number is __digits__): no word
# needs ``_fit``.
_WORDS_FIT = MAX_WORD <= MAX_FEATURE_CHARS and len("__digits__") <= MAX_FEATURE_CHARS
assert _WORDS_FIT


def _fit(token: str) -> str:
    if len(token) <= MAX_FEATURE_CHARS:
        return token
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"{token[: MAX_FEATURE_CHARS - 19]}~{digest}__"


def features(text: str, author_name: str | None = None, website: str | None = None) -> set[str]:
    """The distinct features of a comment, at most MAX_FEATURES of them.

    The author's name gives ``author:WORD`` features (a spammer's "Cheap Pills Online" is
    not an ordinary reader's name) and the author's website ``__website__`` and
    ``__website:HOST__``, kept apart from links in the text. Which features are kept when
    there are too many is deterministic: the special tokens first, then the author's, then
    the body's words in order of appearance.
    """
    special: list[str] = []
    rest = _special(_clean(text), special)
    if website:
        special.append("__website__")
        host = _host(_clean(website[:2048]).strip())
        if host is not None:
            special.append(f"__website:{host}__")
    if author_name:
        special.extend(f"author:{w}" for w in _words(_clean(author_name[:200])))
    kept = dict.fromkeys(_fit(t) for t in special)
    if len(kept) < MAX_FEATURES:
        words = _words(rest)
        if len(words) > MAX_TOKENS:
            del words[MAX_TOKENS:]
        kept.update(dict.fromkeys(words))  # words always fit (_WORDS_FIT)
    if len(kept) <= MAX_FEATURES:
        return set(kept)
    return set(list(kept)[:MAX_FEATURES])
