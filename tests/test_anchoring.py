"""Re-anchoring after edits, and locating without history: the behaviours of anchoring.md."""

from __future__ import annotations

from voxpop.anchoring import (
    Diff,
    Locator,
    Method,
    Note,
    Result,
    Selectors,
    State,
    TextPosition,
    TextQuote,
    locate,
    make,
    reanchor,
)

INTRO = "Councillors voted late on Tuesday to approve the harbour plan after a long meeting."
COST = "The mayor said teh plan would cost £48 million and take three years to build."
FISH = "Fishermen on the east quay said they had been given fewer moorings than promised."
CLOSE = "The meeting ended shortly after midnight, with protesters still outside in the rain."
ARTICLE = "\n".join([INTRO, COST, FISH, CLOSE])


def note_on(text: str, passage: str, occurrence: int = 0) -> Note:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(passage, start + 1)
    selectors = make(text, start, start + len(passage))
    return Note(selectors, selectors)


def one(old: str, new: str, note: Note) -> Result:
    return reanchor(old, new, [note])[0]


def passage(text: str, result: Result) -> str | None:
    if result.selectors is None or result.selectors.position is None:
        return None
    position = result.selectors.position
    assert result.selectors.quote is not None
    assert result.selectors.quote.exact == text[position.start : position.end]  # never misquotes
    return text[position.start : position.end]


def then(note: Note, result: Result) -> Note:
    """The note as stored after ``result``: the original never changes."""
    return Note(note.original, result.selectors)


# Re-anchoring ---------------------------------------------------------------------


def test_unchanged_text_keeps_every_note_in_place() -> None:
    notes = [note_on(ARTICLE, "harbour plan"), note_on(ARTICLE, "east quay")]
    results = reanchor(ARTICLE, ARTICLE, notes)
    assert [r.selectors for r in results] == [n.current for n in notes]
    assert {r.method for r in results} == {Method.UNCHANGED}
    assert {r.state for r in results} == {State.ANCHORED}


def test_paragraph_inserted_before_moves_the_offsets() -> None:
    note = note_on(ARTICLE, "fewer moorings")
    inserted = "Update: the council has responded to this article.\n"
    result = one(ARTICLE, inserted + ARTICLE, note)
    assert result.method == Method.UNCHANGED and result.state == State.ANCHORED
    assert note.current is not None and note.current.position is not None
    assert result.selectors is not None and result.selectors.position is not None
    assert result.selectors.position.start == note.current.position.start + len(inserted)


def test_the_quotes_paragraph_moved_is_found_where_it_went() -> None:
    note = note_on(ARTICLE, "fewer moorings than promised")
    moved = "\n".join([FISH, INTRO, COST, CLOSE])
    result = one(ARTICLE, moved, note)
    assert result.state == State.ANCHORED
    assert passage(moved, result) == "fewer moorings than promised"
    start = moved.index("fewer moorings")
    assert result.selectors is not None and result.selectors.position == TextPosition(
        start, start + 28
    )


def test_typo_fixed_in_the_quote_stays_on_the_same_passage_not_an_earlier_copy() -> None:
    # h#2798: fixing a typo sent the note to an earlier copy of the word.
    old = "\n".join([INTRO, COST, FISH, CLOSE])
    note = note_on(old, "teh plan")
    new = old.replace("teh plan", "the plan")  # "the harbour plan" / "the plan" exist earlier
    result = one(old, new, note)
    assert result.state == State.MODIFIED and result.method == Method.DIFF
    assert result.selectors is not None and result.selectors.position is not None
    assert result.selectors.position.start == new.index("the plan would")
    assert passage(new, result) == "the plan"


def test_typo_in_the_quote_and_back_is_anchored_again() -> None:
    note = note_on(ARTICLE, "fewer moorings")
    typo = ARTICLE.replace("fewer moorings", "fewer mooirngs")
    first = one(ARTICLE, typo, note)
    assert first.state == State.MODIFIED and passage(typo, first) == "fewer mooirngs"
    second = one(typo, ARTICLE, then(note, first))
    assert second.state == State.ANCHORED and passage(ARTICLE, second) == "fewer moorings"


def test_quote_copied_elsewhere_and_the_original_deleted_is_orphaned_not_the_copy() -> None:
    note = note_on(ARTICLE, "fewer moorings than promised")
    pull_quote = '"fewer moorings than promised"'
    new = "\n".join([INTRO, pull_quote, COST, CLOSE])  # FISH deleted, its words pasted above
    result = one(ARTICLE, new, note)
    assert result.state == State.ORPHANED and result.selectors is None


def test_copy_elsewhere_with_the_original_edited_follows_the_original() -> None:
    old = "\n".join(
        [INTRO, COST, FISH, "As one said, they had been given fewer moorings than promised.", CLOSE]
    )
    note = note_on(old, "fewer moorings than promised")
    new = old.replace("fewer moorings than promised.", "fewer mooring than promised.", 1)
    result = one(old, new, note)
    assert result.state == State.MODIFIED
    assert result.selectors is not None and result.selectors.position is not None
    assert result.selectors.position.start == new.index("fewer mooring than")


def test_look_alike_paragraph_does_not_take_the_note_when_the_original_is_edited() -> None:
    # client#7571: a look-alike paragraph took the note.
    riverside = "Riverside Library will be open Monday to Thursday from 9am to 5pm."
    hillside = "Hillside Library will be open Monday to Thursday from 9am to 5pm."
    old = "\n".join([INTRO, riverside, hillside, CLOSE])
    note = note_on(old, "open Monday to Thursday from 9am", occurrence=1)  # Hillside
    new = old.replace(
        "Hillside Library will be open Monday to Thursday from 9am",
        "Hillside Library will be open Monday to Wednesday from 9am",
    )
    result = one(old, new, note)
    assert result.state == State.MODIFIED
    assert passage(new, result) == "open Monday to Wednesday from 9am"
    assert result.selectors is not None and result.selectors.position is not None
    assert result.selectors.position.start > new.index("Hillside")


def test_look_alike_paragraph_does_not_take_the_note_when_the_original_is_deleted() -> None:
    riverside = "Riverside Library will be open Monday to Thursday from 9am to 5pm."
    hillside = "Hillside Library will be open Monday to Thursday from 9am to 5pm."
    old = "\n".join([INTRO, riverside, hillside, CLOSE])
    note = note_on(old, "open Monday to Thursday from 9am", occurrence=1)
    new = "\n".join([INTRO, riverside, CLOSE])
    assert one(old, new, note).state == State.ORPHANED


def test_the_quotes_paragraph_deleted_orphans_the_note() -> None:
    note = note_on(ARTICLE, "east quay")
    assert one(ARTICLE, "\n".join([INTRO, COST, CLOSE]), note).state == State.ORPHANED


def test_the_quote_rewritten_orphans_the_note() -> None:
    note = note_on(ARTICLE, "fewer moorings than promised")
    new = ARTICLE.replace("fewer moorings than promised", "no guarantees about their berths")
    result = one(ARTICLE, new, note)
    assert result.state == State.ORPHANED and result.selectors is None


def test_short_quote_survives_one_typo_but_not_two() -> None:
    note = note_on(ARTICLE, "quay")
    one_typo = ARTICLE.replace("east quay", "east qauy")
    assert passage(one_typo, one(ARTICLE, one_typo, note)) == "qauy"
    two_typos = ARTICLE.replace("east quay", "east qxuz")
    assert one(ARTICLE, two_typos, note).state == State.ORPHANED


def test_short_quote_is_not_moved_to_another_occurrence() -> None:
    start = ARTICLE.index("the east quay")
    selectors = make(ARTICLE, start, start + 3)
    new = ARTICLE.replace("on the east quay", "on that east quay")
    result = one(ARTICLE, new, Note(selectors, selectors))
    assert result.state == State.ORPHANED or passage(new, result) == "that"
    assert result.selectors is None or result.selectors.position == TextPosition(start, start + 4)


def test_a_replaced_first_letter_keeps_the_passage_to_whole_words() -> None:
    note = note_on(ARTICLE, "east quay said")
    new = ARTICLE.replace("east quay", "west quay")
    result = one(ARTICLE, new, note)
    assert result.state == State.MODIFIED and passage(new, result) == "west quay said"


def test_score_is_against_the_original_quote_so_edits_do_not_drift() -> None:
    note = note_on(ARTICLE, "moorings")
    text, current = ARTICLE, note
    for typo in ["mooriings", "moooriiings", "moxoriiinqs"]:
        new = text.replace(text.split("fewer ")[1].split(" ")[0], typo)
        result = one(text, new, current)
        current, text = then(note, result), new
    assert result.state == State.ORPHANED  # each step is one edit; together too many


def test_text_coming_back_on_a_later_revision_is_found_again() -> None:
    note = note_on(ARTICLE, "fewer moorings than promised")
    deleted = "\n".join([INTRO, COST, CLOSE])
    gone = one(ARTICLE, deleted, note)
    assert gone.state == State.ORPHANED
    later = one(deleted, ARTICLE, then(note, gone))
    assert later.state == State.ANCHORED and later.method == Method.EXACT
    assert passage(ARTICLE, later) == "fewer moorings than promised"


def test_an_orphan_is_not_taken_by_a_copy_of_a_look_alike_it_already_refused() -> None:
    riverside = "Riverside Library will be open Monday to Thursday from 9am to 5pm."
    hillside = "Hillside Library will be open Monday to Thursday from 9am to 5pm."
    old = "\n".join([INTRO, riverside, hillside, CLOSE])
    note = note_on(old, "open Monday to Thursday from 9am", occurrence=1)
    without = "\n".join([INTRO, riverside, CLOSE])
    gone = one(old, without, note)
    assert gone.state == State.ORPHANED
    copied = "\n".join([INTRO, riverside, CLOSE, riverside.replace("5pm", "6pm")])
    assert one(without, copied, then(note, gone)).state == State.ORPHANED


def test_many_notes_in_one_call_keep_their_order() -> None:
    passages = ["harbour plan", "teh plan", "east quay", "midnight"]
    notes = [note_on(ARTICLE, p) for p in passages]
    new = "Breaking: a new paragraph.\n" + ARTICLE.replace("east quay", "east quey")
    results = reanchor(ARTICLE, new, notes)
    assert [passage(new, r) for r in results] == [
        "harbour plan",
        "teh plan",
        "east quey",
        "midnight",
    ]
    assert [r.state for r in results] == [
        State.ANCHORED,
        State.ANCHORED,
        State.MODIFIED,
        State.ANCHORED,
    ]


def test_stale_current_selectors_are_found_again_in_the_old_text() -> None:
    start = ARTICLE.index("east quay")
    stale = Selectors(
        TextQuote("east quay", "on the ", " said"), TextPosition(start + 3, start + 12)
    )
    result = one(ARTICLE, ARTICLE + "\nMore.", Note(stale, stale))
    assert passage(ARTICLE + "\nMore.", result) == "east quay"


def test_diff_reports_what_was_carried_over_and_inserted() -> None:
    new = ARTICLE.replace("teh plan", "the plan")
    diff = Diff(ARTICLE, new)
    assert diff.containing(0, len(INTRO) + 10) is not None
    assert (
        diff.inserted() == [(new.index("the plan") + 1, new.index("the plan") + 2)]
        or len(diff.inserted()) <= 2
    )
    assert sum(b.size for b in diff.blocks) >= len(ARTICLE) - 2


# Locating without history -----------------------------------------------------------


def test_locate_verifies_the_quote_at_its_position() -> None:
    selectors = make(ARTICLE, ARTICLE.index("east quay"), ARTICLE.index("east quay") + 9)
    result = locate(ARTICLE, selectors)
    assert result.method == Method.POSITION and result.state == State.ANCHORED


def test_locate_finds_a_moved_passage_by_its_quote_and_context() -> None:
    old_selectors = make(
        ARTICLE, ARTICLE.index("fewer moorings"), ARTICLE.index("fewer moorings") + 14
    )
    page = "Advertisement\n" + ARTICLE.replace("fewer moorings", "fewer mooring")
    result = locate(page, old_selectors)
    assert result.state == State.MODIFIED and result.method == Method.FUZZY
    assert passage(page, result) in {"fewer mooring", "fewer mooring "}


def test_locate_does_not_match_a_different_word_linus_chines() -> None:
    # h#2634: "Linus" matched "chines".
    text = "Linus Torvalds wrote the first version.\nThe machines ran it for years."
    selectors = make(text, 0, 5)
    page = text.replace("Linus Torvalds", "Its author")
    assert locate(page, selectors).state == State.ORPHANED


def test_locate_reports_identical_look_alikes_as_ambiguous() -> None:
    riverside = "Riverside Library will be open Monday to Thursday from 9am to 5pm."
    old = "\n".join([INTRO, riverside, CLOSE])
    start = old.index("open Monday")
    selectors = make(old, start, start + 23)  # "open Monday to Thursday"
    page = "\n".join([INTRO, riverside, CLOSE, INTRO, riverside, CLOSE])  # the page twice
    result = Locator(page).locate(Selectors(selectors.quote, None))
    assert result.state == State.AMBIGUOUS and result.selectors is None


def test_locate_lets_context_choose_between_look_alikes() -> None:
    riverside = "Riverside Library will be open Monday to Thursday from 9am to 5pm."
    hillside = "Hillside Library will be open Monday to Thursday from 9am to 5pm."
    old = "\n".join([INTRO, riverside, hillside, CLOSE])
    start = old.index("open Monday", old.index("Hillside"))
    selectors = make(old, start, start + 23)
    page = "\n".join([hillside, CLOSE, INTRO, riverside])
    result = locate(page, Selectors(selectors.quote, None))
    assert result.state == State.ANCHORED
    assert result.selectors is not None and result.selectors.position is not None
    assert result.selectors.position.start == page.index("open Monday")  # Hillside's


def test_locate_short_quote_needs_context_on_both_sides() -> None:
    text = "the cat sat on the mat by the door of the house"
    selectors = Selectors(TextQuote("the", "", ""), None)
    assert locate(text, selectors).state in {State.ORPHANED, State.AMBIGUOUS}
    with_context = Selectors(TextQuote("the", "sat on ", " mat by"), None)
    assert passage(text, locate(text, with_context)) == "the"


def test_locate_accepts_a_long_unique_exact_quote_without_context() -> None:
    quote = "Fishermen on the east quay said they had been given fewer moorings"
    result = locate("Other text entirely.\n" + ARTICLE, Selectors(TextQuote(quote), None))
    assert result.state == State.ANCHORED and result.method == Method.EXACT


def test_locate_with_original_reports_modified_against_the_original() -> None:
    original = make(ARTICLE, ARTICLE.index("teh plan"), ARTICLE.index("teh plan") + 8)
    fixed = ARTICLE.replace("teh plan", "the plan")
    current = make(fixed, fixed.index("the plan would"), fixed.index("the plan would") + 8)
    result = locate(fixed, current, original=original)
    assert result.state == State.MODIFIED and result.method == Method.POSITION


# Edges --------------------------------------------------------------------------------


def test_texts_with_many_distinct_characters_and_astral_ones() -> None:
    hanzi = "".join(chr(0x4E00 + (i * 7) % 900) for i in range(900))  # > 255 distinct
    text = hanzi[:300] + "\n" + hanzi[300:600] + " 😀 emoji\n" + hanzi[600:]
    note = note_on(text, hanzi[320:360])
    new = text.replace(hanzi[330], "字", 1)
    result = one(text, new, note)
    assert result.state == State.MODIFIED and passage(new, result) == new[321:361]
    assert note.current is not None
    page = "前言\n" + new
    found = locate(page, note.current)
    assert found.state == State.MODIFIED and passage(page, found) == page[324:364]


def test_passages_at_the_very_edges_of_the_text() -> None:
    first, last = (
        note_on(ARTICLE, "Councillors voted"),
        note_on(ARTICLE, "still outside in the rain."),
    )
    new = "Counsillors voted" + ARTICLE[len("Councillors voted") :] + "\nA new closing line."
    results = reanchor(ARTICLE, new, [first, last])
    assert [passage(new, r) for r in results] == ["Counsillors voted", "still outside in the rain."]


def test_empty_revisions() -> None:
    note = note_on(ARTICLE, "east quay")
    assert one(ARTICLE, "", note).state == State.ORPHANED
    assert reanchor("", ARTICLE, []) == []
    gone = Note(note.original, None)
    assert passage(ARTICLE, one("", ARTICLE, gone)) == "east quay"  # came back


def test_a_quote_with_more_than_255_distinct_characters_is_found() -> None:
    hanzi = "".join(chr(0x4E00 + i) for i in range(700))
    text = "序\n" + hanzi + "\n跋"
    selectors = make(text, 2, 402)  # 400 distinct characters
    page = "新\n" + text.replace(hanzi[100], "字")
    result = locate(page, selectors)
    assert result.state == State.MODIFIED and passage(page, result) == page[4:404]
