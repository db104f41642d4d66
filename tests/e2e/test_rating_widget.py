"""The widget's article rating in Chromium: choosing stars by pointer and by keyboard, the
optimistic update and its rollback, re-rating and withdrawing, the distribution, German,
the site's rating policy, and axe-core.

The e2e server is one per session and the demo has three articles, so every test that
rates a demo article withdraws, when it ends, every rating its readers made
(``withdraw_after``, ``rater``): each test starts from "No ratings yet" and stays within the
server's allowance of three counted new raters per address, article and day (every
browser here comes from 127.0.0.1). Tests that need a site policy the demo does not have
use a host page with a unique article instead.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, Request, Route, expect

from .conftest import ARTIFACTS, ROOT, Server, axe_violations
from .test_widget import (  # noqa: F401 - no_csp_violations is an autouse fixture
    call,
    host,
    loaded,
    no_csp_violations,
    reader,
    token_key,
    unique,
)

I18N = ROOT / "src" / "voxpop" / "web" / "i18n"
EN = json.loads((I18N / "widget.en.json").read_text(encoding="utf-8"))
DE = json.loads((I18N / "widget.de.json").read_text(encoding="utf-8"))
DEMO = [
    "/demo/harbour-bridge-reopens",
    "/demo/library-night-hours",
    "/demo/community-garden-harvest",
]
HARBOUR, LIBRARY, GARDEN = DEMO


# ---- the server's truth, and cleaning up after a test ----


def ratings_path(uri: str) -> str:
    return "/api/v1/ratings?" + urllib.parse.urlencode({"uri": uri})


def server_rating(server: Server, uri: str, token: str | None = None) -> dict[str, Any]:
    status, data = call(server, "GET", ratings_path(uri), token=token)
    assert status == 200, data
    return dict(data)


def token(server: Server, page: Page) -> str | None:
    try:
        found = page.evaluate("(k) => localStorage.getItem(k)", token_key(server))
    except Exception:  # a page that never reached the server has none
        return None
    return str(found) if found else None


def withdraw(server: Server, page: Page) -> None:
    """Withdraws the ratings of the page's reader from every demo article."""
    tok = token(server, page)
    if tok:
        for uri in DEMO:
            call(server, "DELETE", ratings_path(uri), token=tok)


@pytest.fixture(autouse=True)
def withdraw_after(page: Page, server: Server) -> Iterator[None]:
    yield  # torn down before the page and its context close
    withdraw(server, page)


@contextmanager
def rater(browser: Browser, server: Server, **options: Any) -> Iterator[Page]:
    """Another reader (a fresh context: no token yet) whose ratings go when it is done."""
    with reader(browser, **options) as other:
        try:
            yield other
        finally:
            withdraw(server, other)


# ---- the widget ----


def open_demo(page: Page, server: Server, uri: str, lang: str = "") -> Locator:
    """Opens a demo article; returns the rating box once its rating has loaded."""
    page.goto(server.url + uri + (f"?lang={lang}" if lang else ""))
    return ready(page)


def ready(page: Page) -> Locator:
    loaded(page)
    box = page.locator("#voxpop .voxpop-rating")
    expect(box).to_be_visible()  # shown once the rating (and the site's policy) are in
    return box


def star(box: Locator, n: int, text: dict[str, str] = EN) -> Locator:
    return box.get_by_role("radio", name=text["rating_star"].format(count=n), exact=True)


def checked(box: Locator) -> list[str]:
    """The aria-checked value of the five stars, in order."""
    return list(
        box.get_by_role("radio").evaluate_all(
            "(els) => els.map((e) => e.getAttribute('aria-checked'))"
        )
    )


def only(n: int | None) -> list[str]:
    return ["true" if i == n else "false" for i in range(1, 6)]


def summary(box: Locator) -> Locator:
    return box.locator(".voxpop-rsum")


def said(average: str, votes: str) -> str:
    """The summary's text: the average (its screen-reader prefix included) and the votes."""
    return f"{EN['rating_average']} {average} ★ · {votes}"


def is_rating(method: str) -> Any:
    return lambda r: r.request.method == method and "/api/v1/ratings" in r.url


def choose(page: Page, target: Locator, method: str = "PUT") -> dict[str, Any]:
    """Clicks (a star or Remove) and returns the server's answer."""
    with page.expect_response(is_rating(method)) as info:
        target.click()
    assert info.value.ok, (info.value.status, info.value.text())
    return dict(info.value.json())


def press(page: Page, key: str) -> None:
    """Presses a key that selects a star and waits until the server has confirmed it."""
    with page.expect_response(is_rating("PUT")):
        page.keyboard.press(key)


def puts(page: Page) -> list[str]:
    """Records every rating the page sends from now on."""
    sent: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "PUT" and "/api/v1/ratings" in request.url:
            sent.append(str(request.post_data))

    page.on("request", seen)
    return sent


def focused_star(page: Page) -> str:
    """The accessible name of the focused element (a star's: "3 of 5 stars")."""
    return str(page.evaluate("() => document.activeElement.getAttribute('aria-label')"))


def shoot(box: Locator, name: str) -> None:
    """A picture of the rating control (artifacts/e2e/rating-*.png), without hover preview."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    box.page.mouse.move(0, 0)
    box.screenshot(path=str(ARTIFACTS / f"rating-{name}.png"))


# ---- 1. pointer ----


def test_click_a_star_then_reload_keeps_the_readers_rating(page: Page, server: Server) -> None:
    assert server_rating(server, HARBOUR)["count"] == 0
    box = open_demo(page, server, HARBOUR)
    group = box.get_by_role("radiogroup", name=EN["rating_label"])
    expect(group).to_be_visible()
    expect(group.get_by_role("radio")).to_have_count(5)
    labels = group.get_by_role("radio").evaluate_all(
        "(els) => els.map((e) => e.getAttribute('aria-label'))"
    )
    assert labels == [f"{n} of 5 stars" for n in range(1, 6)]
    assert checked(box) == only(None)
    expect(summary(box)).to_have_text(EN["ratings_none"])
    expect(box.get_by_role("button", name=EN["rating_remove"])).to_be_hidden()
    shoot(box, "empty-en")

    answer = choose(page, star(box, 4))
    assert (answer["count"], answer["mine"], answer["histogram"]) == (1, 4, [0, 0, 0, 1, 0])
    expect(summary(box)).to_have_text(said("4.0", "1 vote"))
    expect(star(box, 4)).to_have_attribute("aria-checked", "true")
    assert checked(box) == only(4)
    expect(box.get_by_role("status")).to_have_text(EN["rating_saved"])
    expect(box.get_by_role("button", name=EN["rating_remove"])).to_be_visible()
    tok = token(server, page)
    assert tok, "the reader token minted by the rating is stored like the comments' one"
    assert server_rating(server, HARBOUR, tok) == {
        "average": 4.0,
        "count": 1,
        "histogram": [0, 0, 0, 1, 0],
        "mine": 4,
    }
    shoot(box, "rated-en")

    page.reload()
    box = ready(page)
    expect(star(box, 4)).to_have_attribute("aria-checked", "true")
    assert checked(box) == only(4)
    expect(summary(box)).to_have_text(said("4.0", "1 vote"))
    expect(box.get_by_role("button", name=EN["rating_remove"])).to_be_visible()


# ---- 2. keyboard ----


def test_keyboard_tab_in_arrows_move_and_select_focus_is_visible(
    page: Page, server: Server
) -> None:
    assert server_rating(server, LIBRARY)["count"] == 0
    box = open_demo(page, server, LIBRARY)
    page.locator("#voxpop button.voxpop-submit").focus()
    page.keyboard.press("Tab")  # one tab stop for the group: the first star while none is chosen
    assert focused_star(page) == "1 of 5 stars"
    assert checked(box) == only(None)
    ring = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return {style: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow,
                           visible: document.activeElement.matches(':focus-visible')} }"""
    )
    assert ring["visible"], ring
    assert (ring["style"] != "none" and ring["width"] != "0px") or ring["shadow"] != "none", ring
    sent = puts(page)

    press(page, "Space")  # selects the focused star
    assert checked(box) == only(1)
    expect(summary(box)).to_have_text(said("1.0", "1 vote"))
    press(page, "ArrowRight")  # moves AND selects, as native radio buttons do
    assert focused_star(page) == "2 of 5 stars"
    assert checked(box) == only(2)
    expect(summary(box)).to_have_text(said("2.0", "1 vote"))
    assert page.evaluate("document.activeElement.matches(':focus-visible')")

    press(page, "ArrowUp")
    assert focused_star(page) == "3 of 5 stars"
    press(page, "End")
    assert focused_star(page) == "5 of 5 stars"
    expect(summary(box)).to_have_text(said("5.0", "1 vote"))
    before = len(sent)
    page.keyboard.press("ArrowRight")  # the last star: nothing further, no request
    assert focused_star(page) == "5 of 5 stars"
    page.wait_for_timeout(200)
    assert len(sent) == before
    press(page, "ArrowDown")
    assert focused_star(page) == "4 of 5 stars"
    press(page, "ArrowLeft")
    assert focused_star(page) == "3 of 5 stars"
    press(page, "Home")
    assert focused_star(page) == "1 of 5 stars"
    assert checked(box) == only(1)
    expect(box.get_by_role("status")).to_have_text(EN["rating_saved"])
    assert server_rating(server, LIBRARY, token(server, page))["mine"] == 1

    # Quick presses while a request is on its way end in the last choice.
    for key in ("ArrowRight", "ArrowRight", "ArrowRight"):
        page.keyboard.press(key)
    assert focused_star(page) == "4 of 5 stars"
    expect(box.get_by_role("status")).to_have_text(EN["rating_saved"])
    expect(summary(box)).to_have_text(said("4.0", "1 vote"))
    assert server_rating(server, LIBRARY, token(server, page))["mine"] == 4

    # Tab leaves the group (one stop), Shift+Tab comes back to the checked star.
    page.keyboard.press("Tab")
    expect(box.get_by_role("button", name=EN["rating_show"])).to_be_focused()
    page.keyboard.press("Shift+Tab")
    assert focused_star(page) == "4 of 5 stars"
    # Space or Enter on the star already chosen send nothing.
    before = len(sent)
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_timeout(200)
    assert checked(box) == only(4)
    assert len(sent) == before
    assert json.loads(sent[0]) == {
        "title": page.title(),
        "stars": 1,
        "uri": LIBRARY,
        "site": "default",
    }
    shoot(box, "keyboard-focus-en")


# ---- 3. changing one's mind ----


def test_rerating_replaces_and_remove_withdraws(page: Page, server: Server) -> None:
    assert server_rating(server, GARDEN)["count"] == 0
    box = open_demo(page, server, GARDEN)
    choose(page, star(box, 5))
    expect(summary(box)).to_have_text(said("5.0", "1 vote"))

    answer = choose(page, star(box, 2))
    assert (answer["count"], answer["mine"], answer["histogram"]) == (1, 2, [0, 1, 0, 0, 0])
    expect(summary(box)).to_have_text(said("2.0", "1 vote"))  # still one vote
    assert checked(box) == only(2)

    remove = box.get_by_role("button", name=EN["rating_remove"])
    answer = choose(page, remove, "DELETE")
    assert (answer["count"], answer["mine"]) == (0, None)
    expect(summary(box)).to_have_text(EN["ratings_none"])
    assert checked(box) == only(None)
    expect(remove).to_be_hidden()
    expect(box.get_by_role("status")).to_have_text(EN["rating_removed"])
    assert focused_star(page) == "1 of 5 stars"  # focus does not vanish with the button
    assert server_rating(server, GARDEN, token(server, page))["count"] == 0

    page.reload()
    box = ready(page)
    expect(summary(box)).to_have_text(EN["ratings_none"])
    assert checked(box) == only(None)


# ---- 4. optimistic, and rolled back on an error ----


def test_failed_rating_rolls_back_and_says_why(page: Page, server: Server) -> None:
    assert server_rating(server, HARBOUR)["count"] == 0
    box = open_demo(page, server, HARBOUR)
    status = box.get_by_role("status")

    # A network failure of the very first rating: back to no rating at all.
    page.route("**/api/v1/ratings", lambda route: route.abort(), times=1)
    star(box, 2).click()
    expect(status).to_have_text(EN["error_network"])
    expect(summary(box)).to_have_text(EN["ratings_none"])
    assert checked(box) == only(None)

    choose(page, star(box, 3))
    expect(summary(box)).to_have_text(said("3.0", "1 vote"))

    # Hold the next PUT: the new state shows before the server answers.
    held: list[Route] = []

    def hold(route: Route, request: Request) -> None:
        if request.method == "PUT":
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/v1/ratings", hold)
    star(box, 5).click()
    expect(summary(box)).to_have_text(said("5.0", "1 vote"))
    assert checked(box) == only(5)
    expect(status).to_be_empty()
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(20)
    assert len(held) == 1
    held[0].fulfill(
        status=429,
        headers={"Retry-After": "30", "Content-Type": "application/problem+json"},
        body=json.dumps(
            {
                "type": "about:blank",
                "title": "Too many requests",
                "status": 429,
                "code": "rate_limited",
                "detail": "Slow down",
            }
        ),
    )
    expect(status).to_have_text(EN["error_rate_limited_other"].format(count=30))
    expect(status).to_have_class(re.compile(r"\bvoxpop-rerr\b"))
    expect(summary(box)).to_have_text(said("3.0", "1 vote"))
    assert checked(box) == only(3)
    assert server_rating(server, HARBOUR, token(server, page))["mine"] == 3
    shoot(box, "error-en")

    page.unroute("**/api/v1/ratings", hold)
    choose(page, star(box, 5))
    expect(summary(box)).to_have_text(said("5.0", "1 vote"))
    expect(status).to_have_text(EN["rating_saved"])
    expect(status).not_to_have_class(re.compile(r"\bvoxpop-rerr\b"))


# ---- 5. the distribution, and German ----


def test_distribution_toggle_shows_the_counts_in_english_and_german(
    page: Page, server: Server, browser: Browser
) -> None:
    assert server_rating(server, LIBRARY)["count"] == 0
    box = open_demo(page, server, LIBRARY)
    choose(page, star(box, 5))
    with rater(browser, server) as other:
        theirs = open_demo(other, server, LIBRARY)
        expect(summary(theirs)).to_have_text(said("5.0", "1 vote"))
        assert checked(theirs) == only(None)  # the first reader's stars are not theirs
        answer = choose(other, star(theirs, 3))
        assert (answer["count"], answer["histogram"]) == (2, [0, 0, 1, 0, 1])
        expect(summary(theirs)).to_have_text(said("4.0", "2 votes"))

        toggle = theirs.get_by_role("button", name=EN["rating_show"])
        rows = theirs.locator("ul.voxpop-dist > li")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(rows.first).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        dist = theirs.locator("#" + str(toggle.get_attribute("aria-controls")))
        expect(dist).to_be_visible()
        expect(rows).to_have_count(5)
        expect(rows).to_have_text(  # each row reads as one line of text
            ["5 stars: 1", "4 stars: 0", "3 stars: 1", "2 stars: 0", "1 star: 0"]
        )
        bars = rows.locator(".voxpop-rbar > span").evaluate_all(
            "(els) => els.map((e) => Math.round(e.getBoundingClientRect().width /"
            " e.parentElement.getBoundingClientRect().width * 100))"
        )
        assert [b > 40 for b in bars] == [True, False, True, False, False], bars
        shoot(theirs, "distribution-en")
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(dist).to_be_hidden()

        # The first reader, in German: their own stars, a decimal comma, German words.
        box = open_demo(page, server, LIBRARY, lang="de")
        group = box.get_by_role("radiogroup", name=DE["rating_label"])
        expect(star(group, 5, DE)).to_have_attribute("aria-checked", "true")
        expect(star(group, 1, DE)).to_have_accessible_name("1 von 5 Sternen")
        expect(summary(box)).to_have_text(f"{DE['rating_average']} 4,0 ★ · 2 Stimmen")
        box.get_by_role("button", name=DE["rating_show"]).click()
        expect(box.locator("ul.voxpop-dist > li")).to_have_text(
            ["5 Sterne: 1", "4 Sterne: 0", "3 Sterne: 1", "2 Sterne: 0", "1 Stern: 0"]
        )
        expect(box.get_by_role("button", name=DE["rating_remove"])).to_be_visible()
        shoot(box, "distribution-de")

    # The second reader withdrew when done (cleanup): one vote again, "1 Stimme".
    page.reload()
    box = ready(page)
    expect(summary(box)).to_have_text(f"{DE['rating_average']} 5,0 ★ · 1 Stimme")


# ---- 6. the site's policy ----


def with_policy(page: Page, **ratings: bool) -> None:
    """Makes GET /api/v1/config answer with this rating policy (the server's is on/on/on)."""

    def answer(route: Route) -> None:
        response = route.fetch()
        data = response.json()
        data["ratings"] = {**data["ratings"], **ratings}
        route.fulfill(response=response, body=json.dumps(data))

    page.route("**/api/v1/config?*", answer)


def test_ratings_off_shows_no_control(page: Page, server: Server) -> None:
    with_policy(page, enabled=False)
    with page.expect_response(is_rating("GET")):  # the widget still asks (in parallel)
        host(page, server, unique("rating-off"))
    loaded(page)
    # (Not "networkidle": the live-update stream stays open.) Let the rating answer land.
    page.wait_for_timeout(500)
    expect(page.locator("#voxpop .voxpop-rating")).to_be_hidden()
    expect(page.get_by_role("radiogroup")).to_have_count(0)
    expect(page.get_by_role("button", name=EN["rating_show"])).to_have_count(0)


def test_final_ratings_make_the_control_read_only(page: Page, server: Server) -> None:
    uri = unique("rating-final")  # an article nobody commented on: the rating creates it
    with_policy(page, changes=False)
    host(page, server, uri, title="A rated article")
    box = ready(page)
    group = box.get_by_role("radiogroup")
    expect(group).to_have_attribute("aria-readonly", "false")
    choose(page, star(box, 4))
    expect(group).to_have_attribute("aria-readonly", "true")
    expect(box.get_by_role("button", name=EN["rating_remove"])).to_be_hidden()
    sent = puts(page)
    star(box, 2).click()  # ignored, nothing sent
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(200)
    assert checked(box) == only(4)
    assert sent == []
    expect(summary(box)).to_have_text(said("4.0", "1 vote"))
    status, article = call(server, "GET", "/api/v1/articles/top")
    assert status == 200 and uri in [a["uri"] for a in article["items"]], article
    assert [a["title"] for a in article["items"] if a["uri"] == uri] == ["A rated article"]


# ---- 7. axe-core, light and dark ----


def check(page: Page, state: str) -> None:
    violations = axe_violations(page, "#voxpop .voxpop-rating")
    assert violations == [], f"axe-core, rating control {state}: {violations}"


def test_rating_control_has_no_axe_violations(page: Page, server: Server) -> None:
    assert server_rating(server, GARDEN)["count"] == 0
    box = open_demo(page, server, GARDEN)
    check(page, "without ratings")
    choose(page, star(box, 4))
    expect(box.get_by_role("status")).to_have_text(EN["rating_saved"])
    check(page, "rated")
    box.get_by_role("button", name=EN["rating_show"]).click()
    expect(box.locator("ul.voxpop-dist")).to_be_visible()
    check(page, "distribution open")
    page.route(
        "**/api/v1/ratings",
        lambda route: route.fulfill(
            status=403,
            content_type="application/problem+json",
            body=json.dumps({"status": 403, "title": "Forbidden", "code": "verification_required"}),
        ),
        times=1,
    )
    star(box, 1).click()
    expect(box.get_by_role("status")).to_have_text(EN["error_verification_required"])
    check(page, "error shown")
    assert axe_violations(page) == []  # and the whole page


@pytest.mark.parametrize(
    "context", [{"color_scheme": "dark", "viewport": {"width": 1280, "height": 800}}], indirect=True
)
def test_rating_control_in_the_dark_theme(page: Page, server: Server) -> None:
    host(
        page,
        server,
        unique("rating-dark"),
        attrs=' data-voxpop-theme="dark"',
        extra="<style>body{background:#0f1318;color:#e6edf3}</style>",
    )
    box = ready(page)
    choose(page, star(box, 3))
    box.get_by_role("button", name=EN["rating_show"]).click()
    page.locator("#voxpop button.voxpop-submit").focus()
    page.keyboard.press("Tab")
    assert focused_star(page) == "3 of 5 stars"
    check(page, "dark theme")
    shoot(box, "dark-en")
