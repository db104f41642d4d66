"""Inline feedback in the widget, in Chromium: selecting a passage and giving feedback on
it, highlights that survive reloads and edits of the article (and never misquote), the
keyboard path, the editor's question, the "Inline Feedbacks" tab, and axe-core.

Every test has its own article: a unique ``/e2e/...`` uri on a host page (see
``test_widget.host``) whose ``<article id="story">`` holds HTML that the test also
registers with ``PUT /api/v1/articles``, so page and server agree on the canonical text.
The editor's question of the demo's library article is only looked at, never answered.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from voxpop.anchoring import canonical_html
from voxpop.anchoring.selectors import make, to_json

from .conftest import ADMIN, ARTIFACTS, ROOT, Server, axe_violations
from .test_widget import (  # noqa: F401 - no_csp_violations is an autouse fixture
    call,
    host,
    loaded,
    no_csp_violations,
    post,
    thread,
    unique,
)

I18N = ROOT / "src" / "voxpop" / "web" / "i18n"
EN = json.loads((I18N / "widget.en.json").read_text(encoding="utf-8"))
DE = json.loads((I18N / "widget.de.json").read_text(encoding="utf-8"))
ARTICLE = ' data-voxpop-article="#story"'
LIBRARY = "/demo/library-night-hours"
QUESTION = "Is two hundred visitors a night the right bar for keeping the late hours?"
VIEWPORTS = [
    pytest.param({"viewport": {"width": 1280, "height": 800}}, id="desktop"),
    pytest.param(
        {
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 3,
            "is_mobile": True,
            "has_touch": True,
        },
        id="phone",
    ),
]


# ---- the article: registered on the server and shown on the host page ----


def register(server: Server, uri: str, body: str) -> dict[str, Any]:
    path = "/api/v1/articles?" + urllib.parse.urlencode({"uri": uri})
    status, data = call(server, "PUT", path, {"title": "A story", "html": body}, ADMIN)
    assert status == 200, data
    return dict(data)


def open_story(page: Page, server: Server, uri: str, body: str, lang: str = "en") -> None:
    """Opens the host page of ``uri`` with ``body`` as its article; waits for the widget
    and for its inline feedback (the tab's count is filled in once it is placed)."""
    host(page, server, uri, lang=lang, attrs=ARTICLE, extra=f'<article id="story">{body}</article>')
    loaded(page)
    expect(feedback_tab(page, EN if lang == "en" else DE)).not_to_contain_text("…")


def feedback_tab(page: Page, text: dict[str, str] = EN) -> Locator:
    prefix = text["tab_feedback"].split("{", 1)[0]
    return page.get_by_role("tab", name=prefix)


def seed(server: Server, uri: str, body: str, quote: str, comment: str, **fields: Any) -> Any:
    """Feedback on the first ``quote`` of the registered ``body``, through the API."""
    text = canonical_html(body).text
    start = text.index(quote)
    anchor = to_json(make(text, start, start + len(quote)))
    return post(server, uri, comment, anchor=anchor, **fields)


def feedback(server: Server, uri: str) -> list[dict[str, Any]]:
    return list(thread(server, uri, filter="feedback")["items"])


def marks(page: Page) -> Locator:
    return page.locator("#story mark.voxpop-hl")


def badges(page: Page) -> Locator:
    return page.locator("#story button.voxpop-cnt")


def shot(page: Page, name: str, part: Locator | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = str(ARTIFACTS / f"feedback-{name}.png")
    if part is None:
        page.screenshot(path=path, full_page=True)
    else:
        part.screenshot(path=path)


# Selects, in the article's DOM text (our own buttons left out), from the first
# occurrence of `start` to the end of the first `end` after it, then lets go of the mouse.
SELECT = """([start, end]) => {
  const story = document.querySelector('#story');
  const walker = document.createTreeWalker(story, NodeFilter.SHOW_TEXT, {acceptNode: (n) =>
    n.parentElement.closest('[data-voxpop-ui]') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const nodes = [];
  let all = '';
  while (walker.nextNode()) { nodes.push([walker.currentNode, all.length]); all += walker.currentNode.data; }
  const a = all.indexOf(start), b = all.indexOf(end, a) + end.length;
  if (a < 0 || b < end.length) throw new Error('not in the article: ' + start + ' … ' + end);
  const at = (pos, last) => {
    for (const [n, o] of nodes) if (last ? pos > o && pos <= o + n.length : pos >= o && pos < o + n.length) return [n, pos - o];
  };
  const range = document.createRange();
  range.setStart(...at(a, false));
  range.setEnd(...at(b, true));
  getSelection().removeAllRanges();
  getSelection().addRange(range);
  document.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
}"""


def select(page: Page, start: str, end: str | None = None) -> None:
    page.evaluate(SELECT, [start, end or start])


def give(page: Page, comment: str) -> dict[str, Any]:
    """Clicks "Give feedback" next to the selection, writes and sends; returns the new
    feedback as the server answered it."""
    page.get_by_role("button", name=EN["fb_give"], exact=True).click()
    dialog = page.get_by_role("dialog", name=EN["fb_title"])
    expect(dialog.get_by_label(EN["fb_field"])).to_be_focused()
    dialog.get_by_label(EN["fb_field"]).fill(comment)
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/comments")
    ) as info:
        dialog.get_by_role("button", name=EN["fb_submit"]).click()
    assert info.value.status == 201, info.value.text()
    expect(dialog).to_have_count(0)
    return dict(info.value.json())


def drag_select(page: Page, words: str) -> None:
    """Selects ``words`` (inside one text node of the article) with a real mouse drag."""
    box = page.evaluate(
        """(words) => {
          const story = document.querySelector('#story');
          const walker = document.createTreeWalker(story, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const n = walker.currentNode, i = n.data.indexOf(words);
            if (i < 0) continue;
            const rect = (a, b) => { const r = document.createRange(); r.setStart(n, a); r.setEnd(n, b); return r.getBoundingClientRect(); };
            const first = rect(i, i + 1), last = rect(i + words.length - 1, i + words.length);
            return {x1: first.left + 1, y1: first.top + first.height / 2, x2: last.right - 1, y2: last.top + last.height / 2};
          }
        }""",
        words,
    )
    page.mouse.move(box["x1"], box["y1"])
    page.mouse.down()
    page.mouse.move((box["x1"] + box["x2"]) / 2, box["y2"], steps=4)
    page.mouse.move(box["x2"], box["y2"], steps=4)
    page.mouse.up()
    assert page.evaluate("getSelection().toString()") == words


# ---- 1. select, give feedback, see it highlighted, reload, find it in the tab ----

BUSES = (
    "<h2>Transport</h2>\n"
    "<p>The harbour bridge reopened on Wednesday after eighteen months of repairs.</p>\n"
    "<p>The council voted for a new ferry to Quay Street, running at weekends.</p>\n"
)


def test_select_give_feedback_highlighted_after_reload_and_listed(
    page: Page, server: Server
) -> None:
    uri = unique("fb-select")
    register(server, uri, BUSES)
    open_story(page, server, uri, BUSES)
    expect(feedback_tab(page)).to_have_text("Inline Feedbacks (0)")
    expect(marks(page)).to_have_count(0)

    drag_select(page, "voted for a new ferry")
    button = page.get_by_role("button", name=EN["fb_give"], exact=True)
    expect(button).to_be_visible()
    shot(page, "selection")
    page.keyboard.press("Escape")  # dismisses the button, keeps the selection
    expect(button).to_have_count(0)
    select(page, "voted for a new ferry")
    expect(button).to_be_visible()
    button.click()
    dialog = page.get_by_role("dialog", name=EN["fb_title"])
    expect(dialog.locator("blockquote")).to_have_text("voted for a new ferry")
    shot(page, "form")
    dialog.get_by_label(EN["fb_field"]).fill("Which ferry, the old one?")
    dialog.get_by_role("button", name=EN["fb_submit"]).click()

    expect(marks(page)).to_have_text(["voted for a new ferry"])
    expect(badges(page)).to_have_text(["1"])
    expect(badges(page)).to_have_accessible_name(EN["fb_show"].format(count=1))
    expect(badges(page)).to_be_focused()
    expect(page.locator(".voxpop-status")).to_have_text(EN["fb_sent"])
    expect(feedback_tab(page)).to_have_text("Inline Feedbacks (1)")

    # The server got both selectors, in code points of the same canonical text.
    (stored,) = feedback(server, uri)
    text = canonical_html(BUSES).text
    start = text.index("voted for a new ferry")
    assert stored["anchor"]["original"] == to_json(make(text, start, start + 21))
    assert stored["anchor"]["state"] == "anchored"

    page.reload()
    loaded(page)
    expect(marks(page)).to_have_text(["voted for a new ferry"])
    expect(badges(page)).to_have_text(["1"])
    expect(feedback_tab(page)).to_have_text("Inline Feedbacks (1)")

    # Clicking the highlight lists the passage's feedback; "View all" opens the tab.
    marks(page).click()
    popover = page.get_by_role("dialog", name=EN["fb_title"])
    expect(popover).to_contain_text("Which ferry, the old one?")
    shot(page, "popover")
    popover.get_by_role("button", name=EN["fb_view_all"]).click()
    expect(feedback_tab(page)).to_have_attribute("aria-selected", "true")
    item = page.locator(f"#voxpop-f{stored['id']}")
    expect(item).to_be_focused()
    expect(item.locator("blockquote")).to_have_text("voted for a new ferry")
    expect(item.locator(".voxpop-body")).to_have_text("Which ferry, the old one?")
    expect(item.locator(".voxpop-changed")).to_have_count(0)
    shot(page, "tab")

    # "Show in article" goes back to the passage and focuses its count.
    item.get_by_role("button", name=EN["fb_show_in"]).click()
    expect(badges(page)).to_be_focused()
    expect(marks(page)).to_have_class("voxpop-m voxpop-hl voxpop-flash")

    # Deleted by its reader (in the Comments tab): the highlight goes with it.
    page.get_by_role("tab", name=EN["tab_comments"]).click()
    page.locator(f"#voxpop-c{stored['id']}").get_by_role("button", name="Delete").click()
    expect(marks(page)).to_have_count(0)
    expect(badges(page)).to_have_count(0)
    expect(feedback_tab(page)).to_have_text("Inline Feedbacks (0)")
    expect(page.locator("#story p").last).to_have_text(
        "The council voted for a new ferry to Quay Street, running at weekends."
    )


# ---- 2. a passage across inline elements: one mark per piece, the page's markup intact ----

REPORT = (
    "<p>Read <em>the full report</em> on "
    '<a href="#report" id="report-link">the council site</a> before Friday.</p>\n'
    "<p>Nothing else happened.</p>\n"
)


def test_passage_across_em_and_a_is_highlighted_in_pieces_and_the_link_works(
    page: Page, server: Server
) -> None:
    uri = unique("fb-pieces")
    register(server, uri, REPORT)
    open_story(page, server, uri, REPORT)
    # The page's own handler, and a property on the element: both must survive.
    page.evaluate(
        """() => { const a = document.getElementById('report-link'); a.__own = 'kept';
          a.addEventListener('click', (e) => { e.preventDefault(); window.__clicks = (window.__clicks || 0) + 1; }); }"""
    )
    select(page, "full report", "the council")
    give(page, "The report is not online yet.")

    expect(marks(page)).to_have_text(["full report", " on ", "the council"])
    expect(page.locator("#story em > mark.voxpop-hl")).to_have_text("full report")
    expect(page.locator("#story a > mark.voxpop-hl")).to_have_text("the council")
    expect(page.locator("#story a button, #story a [data-voxpop-ui]")).to_have_count(0)
    expect(badges(page)).to_have_text(["1"])  # after the link, not inside it
    assert page.evaluate("document.getElementById('report-link').__own") == "kept"
    assert page.locator("#report-link").get_attribute("href") == "#report"
    expect(page.locator("#report-link")).to_have_text("the council site")
    page.locator("#report-link mark").click()
    assert page.evaluate("window.__clicks") == 1
    expect(page.get_by_role("dialog")).to_have_count(0)  # a click on a link is the link's
    # Clicking the highlight outside the link lists the feedback.
    page.locator("#story em mark").click()
    expect(page.get_by_role("dialog", name=EN["fb_title"])).to_contain_text("not online yet")
    page.keyboard.press("Escape")
    expect(badges(page)).to_be_focused()
    shot(page, "pieces")

    page.reload()
    loaded(page)
    expect(marks(page)).to_have_text(["full report", " on ", "the council"])
    expect(page.locator("#story p").first).to_have_text(
        "Read the full report on the council site1 before Friday."
    )


# ---- 3. the canonical text: the widget and the server agree to the code point ----

TRICKY = (
    "<h2>\u201cQuotes\u201d \u2014 and dashes</h2>\n"
    "<p>Emoji \U0001f389 first, then a soft\u00adhyphen, a no\u00a0break space and "
    "e\u0301 composed.</p>\n"
    "<style>.x { color: red }</style><noscript>not text</noscript>\n"
    "<ul>\n  <li>One</li>\n  <li>Two<br>lines</li>\n</ul>\n"
    "<p>The \U0001f680 target: it\u2019s \u201cfair\u201d \u2014 isn\u2019t it?  Done.</p>\n"
)


@pytest.mark.parametrize(
    ("start", "end", "canonical"),
    [
        ("soft", "composed", "soft" + "hyphen, a no break space and \u00e9 composed"),
        ("One", "lines", "One\nTwo lines"),
        ("it\u2019s", "Done", "it's \"fair\" - isn't it? Done"),
    ],
    ids=["nfc-invisible-nbsp", "blocks-and-br", "folding-after-emoji"],
)
def test_selectors_count_code_points_of_the_servers_canonical_text(
    page: Page, server: Server, start: str, end: str, canonical: str
) -> None:
    uri = unique("fb-canonical")
    register(server, uri, TRICKY)
    open_story(page, server, uri, TRICKY)
    select(page, start, end)
    sent = give(page, "Checking the offsets.")
    text = canonical_html(TRICKY).text
    at = text.index(canonical)
    assert sent["anchor"]["original"] == to_json(make(text, at, at + len(canonical)))
    assert sent["anchor"]["state"] == "anchored"
    expect(badges(page)).to_have_text(["1"])
    pieces = marks(page).all_text_contents()
    assert pieces[0].startswith(start) and pieces[-1].endswith(end), pieces


# ---- 4. article edits: the highlight follows the words, or says the passage changed ----

V1 = (
    "<p>Alpha paragraph opens the story.</p>\n"
    "<p>The mayor promised twelve new buses by spring, paid for by the port.</p>\n"
    "<p>Closing words of the story.</p>\n"
)
INSERTED = "<p>A new first paragraph, inserted by the editor, mentions buses too.</p>\n"
V2 = INSERTED + V1
V3 = INSERTED + V1.replace(
    "<p>The mayor promised twelve new buses by spring, paid for by the port.</p>\n", ""
)


def anchor_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on(
        "request",
        lambda r: seen.append(r.post_data or "") if r.url.endswith("/api/v1/anchor") else None,
    )
    return seen


def test_edits_move_the_highlight_and_a_removed_passage_is_listed_as_changed(
    page: Page, server: Server
) -> None:
    uri = unique("fb-edit")
    register(server, uri, V1)
    note = seed(
        server, uri, V1, "twelve new buses", "Twelve? The plan said ten.", author_name="Ida"
    )
    asked = anchor_requests(page)
    open_story(page, server, uri, V1)
    expect(page.locator("#story p:nth-of-type(2) mark.voxpop-hl")).to_have_text("twelve new buses")
    assert asked == []  # the stored position matched the page: no need to ask

    # The page already shows the edited article, the server still has the old one: the
    # stored position does not match, so the widget asks the server where it lies in this
    # page's text (once), and highlights the same words.
    open_story(page, server, uri, V2)
    expect(page.locator("#story p:nth-of-type(3) mark.voxpop-hl")).to_have_text("twelve new buses")
    expect(marks(page)).to_have_count(1)
    assert len(asked) == 1 and '"text"' in asked[0]

    # Registered: the server re-anchored it; the stored position matches again.
    done = register(server, uri, V2)
    assert done["anchored"] == 1 and done["moved"] == 1
    asked.clear()
    page.reload()
    loaded(page)
    expect(page.locator("#story p:nth-of-type(3) mark.voxpop-hl")).to_have_text("twelve new buses")
    expect(marks(page)).to_have_count(1)
    expect(badges(page)).to_have_text(["1"])
    assert asked == []
    feedback_tab(page).click()
    item = page.locator(f"#voxpop-f{note['id']}")
    expect(item.locator("blockquote")).to_have_text("twelve new buses")
    item.get_by_role("button", name=EN["fb_show_in"]).click()
    expect(badges(page)).to_be_focused()
    shot(page, "moved")

    # A page whose words differ from the quote: nothing is highlighted (never misquote).
    open_story(page, server, uri, V2.replace("twelve new buses", "twelve electric buses"))
    assert len(asked) == 1  # the widget asked, and the server's answer is not the quote
    expect(marks(page)).to_have_count(0)

    # The passage removed: no highlight; the tab shows the original quote as changed.
    done = register(server, uri, V3)
    assert done["orphaned"] == 1
    open_story(page, server, uri, V3)
    expect(feedback_tab(page)).to_have_text("Inline Feedbacks (1)")
    expect(marks(page)).to_have_count(0)
    expect(badges(page)).to_have_count(0)
    feedback_tab(page).click()
    item = page.locator(f"#voxpop-f{note['id']}")
    expect(item.locator(".voxpop-changed")).to_have_text(EN["fb_changed"])
    expect(item.locator("blockquote")).to_have_text("twelve new buses")
    expect(item.get_by_role("button", name=EN["fb_show_in"])).to_have_count(0)
    expect(item.locator(".voxpop-author")).to_have_text("Ida")
    # The Comments tab shows it too, with the same note.
    page.get_by_role("tab", name=EN["tab_comments"]).click()
    expect(page.locator(f"#voxpop-c{note['id']} .voxpop-changed")).to_be_visible()
    shot(page, "orphaned")


# ---- 5. the keyboard alone ----

FOCUSED = """() => { const el = document.activeElement;
  return el.getAttribute('data-voxpop-ui') === 'p' ? 'para:' + el.parentNode.textContent.slice(0, 11)
    : (el.getAttribute('role') || el.name || el.className || el.tagName); }"""


def test_keyboard_only_feedback_on_a_paragraph(page: Page, server: Server) -> None:
    uri = unique("fb-keys")
    register(server, uri, BUSES)
    page.add_init_script(
        "window.__pointer = 0;"
        "for (const t of ['mousedown', 'pointerdown', 'mouseup'])"
        "  addEventListener(t, (e) => { if (e.isTrusted) window.__pointer += 1 }, true);"
    )
    open_story(page, server, uri, BUSES)
    path = []
    for _ in range(6):
        page.keyboard.press("Tab")
        path.append(page.evaluate(FOCUSED))
        if path[-1] == "para:The council":
            break
    assert path == ["para:The harbour", "para:The council"], path
    button = page.locator("#story p:nth-of-type(2) .voxpop-pbtn")
    expect(button).to_have_accessible_name(EN["fb_para"])
    expect(button).to_have_css("opacity", "1")  # revealed while focused
    shot(page, "paragraph-button")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=EN["fb_title"])
    expect(dialog.get_by_label(EN["fb_field"])).to_be_focused()
    expect(dialog.locator("blockquote")).to_have_text(
        "The council voted for a new ferry to Quay Street, running at weekends."
    )
    # Escape closes it and returns to the paragraph's button; Enter opens it again.
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.type("Weekends only is not enough.")
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED).startswith("voxpop-primary voxpop-submit")
    page.keyboard.press("Enter")
    expect(marks(page)).to_have_text(
        ["The council voted for a new ferry to Quay Street, running at weekends."]
    )
    expect(badges(page)).to_be_focused()
    expect(badges(page)).to_have_text(["1"])
    # The count opens the list; Escape returns to it.
    page.keyboard.press("Enter")
    popover = page.get_by_role("dialog", name=EN["fb_title"])
    expect(popover).to_contain_text("Weekends only is not enough.")
    page.keyboard.press("Escape")
    expect(badges(page)).to_be_focused()
    assert page.evaluate("window.__pointer") == 0, "a mouse or pointer event happened"


# ---- 6. the editor's question ----


def test_editor_question_on_the_library_demo_opens_the_form(page: Page, server: Server) -> None:
    page.goto(server.url + LIBRARY)
    loaded(page)
    prompt = page.get_by_role("button", name=EN["fb_question"].format(question=QUESTION))
    expect(prompt).to_be_visible()
    expect(page.locator("#story mark.voxpop-q")).to_have_text(
        "more than two hundred visitors a night"
    )
    # The page's own question mark still wraps the passage.
    expect(page.locator("#story mark[data-voxpop-question]")).to_have_count(1)
    shot(page, "question")
    prompt.click()
    dialog = page.get_by_role("dialog", name=QUESTION)
    expect(dialog.locator("blockquote")).to_have_text("more than two hundred visitors a night")
    expect(dialog.get_by_label(EN["fb_field"])).to_be_focused()
    shot(page, "question-form")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(prompt).to_be_focused()


# ---- 7. tabs, German, and axe-core with everything showing ----

QUESTIONED = (
    "<p>Opening lines of the article.</p>\n"
    '<p>The port claims <mark data-voxpop-question="Is this claim fair?">record traffic '
    "this year</mark>, although ships were fewer.</p>\n"
    "<p>The second paragraph has <em>emphasis</em> and a "
    '<a href="#x">link to nowhere</a>, and it ends here.</p>\n'
)


def check(page: Page, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core, {state}: {violations}"


@pytest.mark.parametrize("context", VIEWPORTS, indirect=True)
def test_highlights_popover_tabs_and_form_have_no_axe_violations(
    page: Page, server: Server, request: pytest.FixtureRequest
) -> None:
    uri = unique("fb-axe")
    register(server, uri, QUESTIONED)
    seed(server, uri, QUESTIONED, "emphasis and a link", "First on this.", author_name="Ann")
    seed(server, uri, QUESTIONED, "emphasis and a link", "Second on this.", author_name="Ben")
    seed(server, uri, QUESTIONED, "Opening lines", "Short and <b>bold</b>?")
    open_story(page, server, uri, QUESTIONED)
    expect(badges(page)).to_have_text(["1", "2"])
    expect(page.get_by_role("button", name="Is this claim fair? — Give feedback")).to_be_visible()
    name = request.node.callspec.id
    shot(page, f"axe-{name}")
    shot(page, f"axe-article-{name}", page.locator("#story"))
    check(page, "highlights and the question")

    badges(page).nth(1).click()
    popover = page.get_by_role("dialog", name=EN["fb_title"])
    expect(popover.locator("li")).to_have_count(2)
    shot(page, f"axe-popover-{name}")
    check(page, "popover open")
    page.keyboard.press("Escape")

    # Tabs: one tab stop, arrows move and select, Home and End.
    tab = page.get_by_role("tab", name=EN["tab_comments"])
    tab.focus()
    page.keyboard.press("ArrowRight")
    expect(feedback_tab(page)).to_be_focused()
    expect(feedback_tab(page)).to_have_attribute("aria-selected", "true")
    expect(tab).to_have_attribute("tabindex", "-1")
    panel = page.get_by_role("tabpanel")
    expect(panel).to_have_count(1)
    expect(panel.locator("li.voxpop-fbi")).to_have_count(3)
    expect(panel.locator("li.voxpop-fbi blockquote")).to_have_text(
        ["Opening lines", "emphasis and a link", "emphasis and a link"]
    )
    shot(page, f"axe-tab-{name}")
    check(page, "feedback tab")
    page.keyboard.press("Home")
    expect(tab).to_be_focused()
    expect(page.locator("form.voxpop-form-new")).to_be_visible()
    page.keyboard.press("End")
    expect(feedback_tab(page)).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(tab).to_have_attribute("aria-selected", "true")

    page.get_by_role("button", name="Is this claim fair? — Give feedback").click()
    form = page.get_by_role("dialog", name="Is this claim fair?")
    expect(form.locator("blockquote")).to_have_text("record traffic this year")
    form.get_by_role("button", name=EN["fb_submit"]).click()  # empty: the browser says so
    expect(form.get_by_label(EN["fb_field"])).to_be_focused()
    shot(page, f"axe-form-{name}")
    check(page, "feedback form open")


def test_anchor_not_found_is_explained_and_german_strings(page: Page, server: Server) -> None:
    uri = unique("fb-de")
    register(server, uri, BUSES)
    page_html = BUSES.replace("ferry", "Fähre")  # the page differs from the registered text
    open_story(page, server, uri, page_html, lang="de")
    expect(feedback_tab(page, DE)).to_have_text("Feedback im Text (0)")
    expect(page.get_by_role("tab", name=DE["tab_comments"])).to_have_attribute(
        "aria-selected", "true"
    )
    select(page, "new Fähre")
    page.get_by_role("button", name=DE["fb_give"], exact=True).click()
    dialog = page.get_by_role("dialog", name=DE["fb_title"])
    dialog.get_by_label(DE["fb_field"]).fill("Welche Fähre?")
    dialog.get_by_role("button", name=DE["fb_submit"]).click()
    expect(dialog.get_by_role("alert")).to_have_text(DE["error_anchor_not_found"])
    shot(page, "anchor-not-found-de")
    expect(marks(page)).to_have_count(0)
    assert feedback(server, uri) == []
