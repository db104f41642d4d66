"""Canonical text (HTML and plain), editor questions, UTF-16 offsets and selector validation."""

from __future__ import annotations

import html

import pytest

from voxpop.anchoring import (
    MAX_QUOTE,
    AnchorError,
    Selectors,
    TextPosition,
    TextQuote,
    Utf16,
    canonical_html,
    canonical_text,
    fold,
    from_utf16,
    make,
    parse,
    questions,
    to_json,
    to_utf16,
    utf16_length,
)

# Canonical text -------------------------------------------------------------------


def test_block_elements_become_one_line_break_and_br_a_space() -> None:
    text = canonical_html(
        "<h1>Title</h1><div><p>One<br>two</p><p>Three</p></div><ul><li>a</li><li>b</li></ul>"
    )
    assert text.text == "Title\nOne two\nThree\na\nb"


def test_nested_inline_elements_are_transparent() -> None:
    text = canonical_html(
        "<p>The <b>big <i>red</i></b><a href='#'>-ish</a> <span><em>dog</em></span>.</p>"
    )
    assert text.text == "The big red-ish dog."


def test_entities_are_decoded_as_a_browser_would() -> None:
    raw = (
        "<p>Fish &amp; chips &lt;3 &#169; &#x1F600; &eacute;t&eacute; &copy 2024 &notanentity;</p>"
    )
    assert canonical_html(raw).text == "Fish & chips <3 © 😀 été © 2024 ¬anentity;"


def test_script_style_and_head_are_dropped() -> None:
    raw = "<html><head><title>T</title><style>p{}</style></head><body><p>Kept<script>if (a < b) {}</script> text</p></body></html>"
    assert canonical_html(raw).text == "Kept text"


def test_curly_quotes_dashes_and_no_break_spaces_are_folded() -> None:
    raw = "<p>\u201cIt\u2019s 10\u00a0km\u2014or so\u201d \u2013 she said \u2212 \u2018ok\u2019\u202f!</p>"
    assert canonical_html(raw).text == "\"It's 10 km-or so\" - she said - 'ok' !"


def test_white_space_is_collapsed_and_trimmed() -> None:
    raw = "  <p>\n  Lots   of\t\tspace \r\n here  </p>\n\n <p> next </p>  "
    assert canonical_html(raw).text == "Lots of space here\nnext"


def test_invisible_characters_are_removed() -> None:
    assert canonical_text("co\u00adop\u200ber\u2060ate\ufeff").text == "cooperate"


def test_text_is_normalised_to_nfc_and_keeps_its_offsets() -> None:
    raw = "<p>Cafe\u0301 ok</p>"
    text = canonical_html(raw)
    assert text.text == "Café ok"
    start, end = text.raw_span(3, 4)  # the composed é covers "e" and the combining accent
    assert raw[start:end] == "e\u0301"


def test_offsets_map_each_character_back_to_its_raw_source() -> None:
    raw = "<p>Fish &amp; <b>chips</b></p>\n<p>x\u00a0\u00a0y</p>"
    text = canonical_html(raw)
    assert text.text == "Fish & chips\nx y"
    for index, char in enumerate(text.text):
        start, end = text.raw_span(index, index + 1)
        source = html.unescape(raw[start:end])
        assert char == "\n" or fold(source) in (char, ""), (index, char, source)
    assert raw[slice(*text.raw_span(5, 6))] == "&amp;"
    assert raw[slice(*text.raw_span(7, 12))] == "chips"
    assert text.from_raw(raw.index("chips")) == 7


def test_plain_text_keeps_one_line_break_per_paragraph() -> None:
    text = canonical_text("Title\r\n\r\n  First   line\nsecond\u2029third  \n\n\n")
    assert text.text == "Title\nFirst line\nsecond\nthird"
    assert text.raw_span(6, 11) == (11, 16)  # "First", after "\r\n\r\n  "


def test_editor_questions_are_extracted_in_canonical_coordinates() -> None:
    raw = (
        '<p>Intro. <mark data-voxpop-question="Is this fair?"> The <b>council</b> voted &amp; '
        'won. </mark> More <mark data-voxpop-question="Why &quot;now&quot;?">now</mark>.</p>'
        '<p><mark data-voxpop-question="">no question</mark> <mark>plain</mark></p>'
    )
    text, found = questions(raw)
    assert text.text == "Intro. The council voted & won. More now.\nno question plain"
    assert [(q.question, text.text[q.start : q.end]) for q in found] == [
        ("Is this fair?", "The council voted & won."),
        ('Why "now"?', "now"),
    ]


def test_nested_and_spanning_question_marks() -> None:
    raw = '<p><mark data-voxpop-question="Outer?">a <mark data-voxpop-question="Inner?">b</mark> c</p><p>d</mark></p>'
    text, found = questions(raw)
    assert text.text == "a b c\nd"
    assert {q.question: text.text[q.start : q.end] for q in found} == {
        "Inner?": "b",
        "Outer?": "a b c\nd",
    }


# UTF-16 ---------------------------------------------------------------------------


def test_astral_characters_count_twice_in_utf16() -> None:
    text = "a😀b👩\u200d💻c"
    assert utf16_length(text) == len(text.encode("utf-16-le")) // 2 == 10
    assert to_utf16(text, 2) == 3  # after "a😀"
    assert from_utf16(text, 3) == 2
    assert to_utf16(text, len(text)) == 10
    assert from_utf16(text, 10) == len(text)


def test_utf16_round_trip_on_every_boundary() -> None:
    text = "Zoë 𝄞 says 😀😀 ok 🇬🇧!"
    offsets = Utf16(text)
    for cp in range(len(text) + 1):
        units = offsets.to_utf16(cp)
        assert units == len(text[:cp].encode("utf-16-le")) // 2
        assert offsets.from_utf16(units) == cp


def test_a_utf16_offset_inside_a_surrogate_pair_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        from_utf16("a😀b", 2)
    with pytest.raises(ValueError, match="outside"):
        to_utf16("abc", 4)


# Selectors ------------------------------------------------------------------------


def _anchor(*items: object) -> dict[str, object]:
    return {"selector": list(items)}


QUOTE = {"type": "TextQuoteSelector", "exact": "the plan", "prefix": "said ", "suffix": " would"}
POSITION = {"type": "TextPositionSelector", "start": 10, "end": 18}


def test_parse_accepts_both_selectors_and_round_trips() -> None:
    parsed = parse(_anchor(QUOTE, POSITION))
    assert parsed == Selectors(TextQuote("the plan", "said ", " would"), TextPosition(10, 18))
    assert parse(to_json(parsed)) == parsed
    assert parse(_anchor({"type": "TextQuoteSelector", "exact": "x"})) == Selectors(
        TextQuote("x"), None
    )


@pytest.mark.parametrize(
    ("anchor", "field"),
    [
        ({**POSITION, "start": -1}, "selector[0].start"),
        ({**POSITION, "start": 18, "end": 10}, "selector[0].end"),
        ({**POSITION, "start": 10, "end": 10}, "selector[0].end"),
        ({**POSITION, "start": "10"}, "selector[0].start"),
        ({**POSITION, "end": 18.0}, "selector[0].end"),
        ({**POSITION, "start": True}, "selector[0].start"),
        ({**POSITION, "end": 10**12}, "selector[0].end"),
        ({"type": "TextPositionSelector", "start": 1}, "selector[0].end"),
        ({**QUOTE, "exact": 5}, "selector[0].exact"),
        ({**QUOTE, "exact": ""}, "selector[0].exact"),
        ({**QUOTE, "prefix": "p" * 65}, "selector[0].prefix"),
        ({**QUOTE, "suffix": None}, "selector[0].suffix"),
        ({**QUOTE, "exact": "\ud800"}, "selector[0].exact"),
        ({**QUOTE, "refinedBy": {}}, "selector[0].refinedBy"),
        ({"type": "RangeSelector"}, "selector[0].type"),
        ({"exact": "no type"}, "selector[0].type"),
        ("TextQuoteSelector", "selector[0]"),
    ],
)
def test_parse_rejects_bad_selectors_naming_the_field(anchor: object, field: str) -> None:
    with pytest.raises(AnchorError) as caught:
        parse(_anchor(anchor))
    assert caught.value.field == field


def test_parse_rejects_a_megabyte_quote() -> None:
    with pytest.raises(AnchorError, match="at most 2000") as caught:
        parse(_anchor({**QUOTE, "exact": "x" * 1_000_000}))
    assert caught.value.field == "selector[0].exact"


@pytest.mark.parametrize(
    ("anchor", "field"),
    [
        ([QUOTE], "anchor"),
        ({"selector": QUOTE}, "selector"),
        ({"selector": []}, "selector"),
        (_anchor(QUOTE, QUOTE), "selector[1]"),
        (_anchor(QUOTE, POSITION, POSITION, QUOTE, POSITION), "selector"),
        ({"selector": [QUOTE], "state": "anchored"}, "state"),
        (_anchor({**QUOTE, "exact": "too long"}, {**POSITION, "end": 11}), "selector"),
    ],
)
def test_parse_rejects_bad_anchors(anchor: object, field: str) -> None:
    with pytest.raises(AnchorError) as caught:
        parse(anchor)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_make_stores_the_quote_with_32_characters_either_side() -> None:
    text = "x" * 40 + "QUOTE" + "y" * 40
    made = make(text, 40, 45)
    assert made.quote == TextQuote("QUOTE", "x" * 32, "y" * 32)
    assert made.position == TextPosition(40, 45)
    assert make("ab QUOTE", 3, 8).quote == TextQuote("QUOTE", "ab ", "")


def test_make_refuses_spans_outside_the_text_or_too_long() -> None:
    with pytest.raises(AnchorError):
        make("short", 3, 9)
    with pytest.raises(AnchorError):
        make("x" * (MAX_QUOTE + 10), 0, MAX_QUOTE + 1)
