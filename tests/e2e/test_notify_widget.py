"""The widget's "Notify of" controls in Chromium, against a real SMTP server.

One ``voxpop serve`` for this module sends its mail to an ``Inbox`` (aiosmtpd in a thread)
and looks at its outbox every 0.2 s. The whole round trip is the browser's: subscribe with
the bar in the thread header, follow the confirmation link, get a mail for another reader's
comment, follow its unsubscribe link and press "Unsubscribe", and then get nothing more.
The comment form's "Notify of" select, its e-mail requirement, the bar's errors, German,
``data-voxpop-notify="off"`` and axe-core are covered too.

Every test uses its own addresses (and the demo articles or unique host pages), so the
tests of this module do not depend on one another's mail.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from ..smtp import Inbox, Received
from .conftest import ADMIN, ARTIFACTS, ROOT, Server, axe_violations
from .test_widget import (  # noqa: F401 - no_csp_violations is an autouse fixture
    call,
    host,
    loaded,
    no_csp_violations,
    reader,
    thread,
    token_key,
    unique,
)

I18N = ROOT / "src" / "voxpop" / "web" / "i18n"
EN = json.loads((I18N / "widget.en.json").read_text(encoding="utf-8"))
DE = json.loads((I18N / "widget.de.json").read_text(encoding="utf-8"))
HARBOUR = "/demo/harbour-bridge-reopens"
LIBRARY = "/demo/library-night-hours"
GARDEN = "/demo/community-garden-harvest"


@dataclass
class Mail:
    server: Server
    inbox: Inbox


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mail]:
    inbox = Inbox().start()
    server = Server(
        tmp_path_factory.mktemp("notify"), VOXPOP_SMTP_URL=inbox.url, VOXPOP_MAIL_POLL="0.2"
    )
    yield Mail(server, inbox)
    server.stop()
    inbox.stop()


# ---- mail and the outbox ----


def mails_to(inbox: Inbox, address: str, count: int, timeout: float = 20) -> list[Received]:
    """Waits until ``count`` mails to ``address`` arrived; returns them, oldest first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = inbox.to(address)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{len(inbox.to(address))} of {count} mails to {address} arrived")


def outbox(server: Server) -> dict[str, Any]:
    status, data = call(server, "GET", "/api/v1/admin/outbox?limit=500", token=ADMIN)
    assert status == 200, data
    return dict(data)


def drained(server: Server, timeout: float = 20) -> dict[str, Any]:
    """Waits until the worker has taken every queued mail; returns the outbox view."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = outbox(server)
        if view["counts"].get("queued", 0) == 0:
            return view
        time.sleep(0.1)
    raise AssertionError(f"the outbox still has queued mail: {outbox(server)['counts']}")


def comment_by_api(server: Server, uri: str, body: str, **fields: Any) -> dict[str, Any]:
    """A comment from a reader of its own (no token: a new reader each time)."""
    status, data = call(server, "POST", "/api/v1/comments", {"uri": uri, "body": body, **fields})
    assert status == 201, data
    return dict(data)


# ---- the widget ----


def open_demo(page: Page, server: Server, uri: str, lang: str = "") -> Locator:
    """Opens a demo article; returns the subscribe bar (the form "E-mail notifications")."""
    page.goto(server.url + uri + (f"?lang={lang}" if lang else ""))
    loaded(page)
    text = DE if lang == "de" else EN
    bar = page.get_by_role("form", name=text["notify_title"])
    expect(bar).to_be_visible()
    return bar


def subscribe(bar: Locator, address: str, scope: str = "thread") -> None:
    bar.get_by_label(EN["notify_of"], exact=True).select_option(scope)
    bar.get_by_label(EN["field_email"], exact=True).fill(address)
    bar.get_by_role("button", name=EN["subscribe"], exact=True).click()


# ---- 1. the round trip: subscribe, confirm, notified, unsubscribe, silence ----


def test_subscribe_confirm_notify_and_unsubscribe(page: Page, browser: Browser, mail: Mail) -> None:
    server, inbox = mail.server, mail.inbox
    address = "ada.subscriber@example.org"
    bar = open_demo(page, server, HARBOUR)
    assert page.evaluate("(k) => localStorage.getItem(k)", token_key(server)) is None

    # The bar: "Notify of [new follow-up comments] [E-mail] [Subscribe]", labelled.
    scope = bar.get_by_label(EN["notify_of"], exact=True)
    expect(scope).to_have_value("thread")
    assert scope.locator("option").all_inner_texts() == [
        EN["notify_thread"],
        EN["notify_replies"],
        EN["notify_digest"],
    ]
    status = bar.get_by_role("status")
    expect(status).to_be_empty()

    with page.expect_request("**/api/v1/subscriptions") as sent:
        subscribe(bar, address)
    assert sent.value.post_data_json == {
        "site": "default",
        "uri": HARBOUR,
        "title": "Harbour bridge reopens after eighteen months of repairs",
        "lang": "en",
        "scope": "thread",
        "delivery": "instant",
        "email": address,
    }
    expect(status).to_have_text(EN["notify_sent"])
    expect(bar.locator("[aria-invalid]")).to_have_count(0)
    # The answer minted a reader token: kept like the one from posting a comment.
    reader_token = page.evaluate("(k) => localStorage.getItem(k)", token_key(server))
    assert reader_token

    # Double opt-in: the confirmation mail, and its link opened in the browser.
    (confirmation,) = mails_to(inbox, address, 1)
    assert confirmation.message["To"] == address
    confirm_link = confirmation.link("/subscriptions/confirm?token=")

    # A second request from the same browser carries the token, and gets the same answer.
    with page.expect_request("**/api/v1/subscriptions") as again:
        subscribe(bar, address, "replies")
    assert again.value.headers.get("authorization") == f"Bearer {reader_token}"
    assert again.value.post_data_json["scope"] == "replies"
    expect(status).to_have_text(EN["notify_sent"])

    response = page.goto(confirm_link)
    assert response is not None and response.status == 200, confirm_link
    expect(page.locator("body")).to_contain_text(re.compile(r"\bconfirmed\b", re.I))
    drained(server)
    before = len(inbox.to(address))

    # Another reader comments through the widget: the subscriber gets a notification.
    with reader(browser) as other:
        other.goto(server.url + HARBOUR)
        loaded(other)
        form = other.locator("form.voxpop-form-new")
        form.get_by_label(EN["field_body"], exact=True).fill("The ferry should stay, I agree.")
        form.get_by_label(EN["field_name"] + " " + EN["optional"]).fill("Bert Other")
        form.get_by_role("button", name=EN["submit"]).click()
        expect(other.locator(".voxpop-status")).to_have_text(EN["published"])
    first = [c for c in thread(server, HARBOUR)["items"] if c["author"]["name"] == "Bert Other"]
    assert len(first) == 1
    notification = mails_to(inbox, address, before + 1)[before]
    message = notification.message
    assert "The ferry should stay, I agree." in notification.text()
    assert message["To"] == address
    assert notification.to == [address]
    unsubscribe_header = str(message["List-Unsubscribe"])
    assert re.fullmatch(r"<https?://[^>\s]+/unsubscribe\?token=[^>\s]+>", unsubscribe_header), (
        unsubscribe_header
    )
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    message_id = str(message["Message-ID"])
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message_id), message_id
    assert message_id != str(confirmation.message["Message-ID"])
    references = str(message["References"]).split()
    assert references, "no References header"
    assert str(message["In-Reply-To"]) == references[-1]
    assert message_id not in references

    # The mail's unsubscribe link, opened in the browser: a page with an "Unsubscribe" button.
    unsubscribe_link = notification.link("/unsubscribe?token=")
    assert unsubscribe_header == f"<{unsubscribe_link}>"
    response = page.goto(unsubscribe_link)
    assert response is not None and response.status == 200, unsubscribe_link
    with page.expect_response(lambda r: r.request.method == "POST") as done:
        page.get_by_role("button", name="Unsubscribe").click()
    assert done.value.status == 200
    assert "/unsubscribe" in urllib.parse.urlsplit(done.value.url).path

    # Another comment: the worker gets through the outbox, and nothing comes for the address.
    drained(server)
    before = len(inbox.to(address))
    later = comment_by_api(server, HARBOUR, "One more thought on the bridge.", author_name="Cy")
    view = drained(server)
    time.sleep(0.5)  # a mail taken by the worker is on the wire until the SMTP server says 250
    assert len(inbox.to(address)) == before, [m.subject for m in inbox.to(address)]
    assert not [i for i in view["items"] if i["to"] == address and i["comment_id"] == later["id"]]


# ---- 2. the comment form's "Notify of" ----


def test_comment_form_notify_needs_an_email_and_is_sent(page: Page, mail: Mail) -> None:
    server, inbox = mail.server, mail.inbox
    address = "rita.replies@example.org"
    open_demo(page, server, LIBRARY)
    form = page.locator("form.voxpop-form-new")
    notify = form.get_by_label(EN["notify_of"], exact=True)
    email = form.locator("input[name=author_email]")
    expect(email).to_have_accessible_name(EN["field_email"] + " " + EN["optional"])
    expect(email).not_to_have_attribute("aria-required", "true")

    # "Notify of" shows once there is an e-mail address, after the website in the tab order.
    expect(notify).to_be_hidden()
    email.press_sequentially("r")
    expect(notify).to_be_visible()
    expect(notify).to_have_value("")
    assert notify.locator("option").all_inner_texts() == [
        EN["notify_none"],
        EN["notify_thread"],
        EN["notify_replies"],
    ]
    form.get_by_label(EN["field_website"] + " " + EN["optional"]).focus()
    page.keyboard.press("Tab")
    expect(notify).to_be_focused()
    page.keyboard.press("Tab")
    expect(form.get_by_role("button", name=EN["submit"])).to_be_focused()

    # Choosing a notification makes the e-mail required, said in its label before sending;
    # the form does not go out without the address.
    notify.select_option("replies")
    expect(email).to_have_accessible_name(EN["field_email"])
    expect(email).to_have_attribute("aria-required", "true")
    email.fill("")
    expect(notify).to_be_visible()  # stays, once shown
    form.get_by_label(EN["field_body"], exact=True).fill("Will the café stay open too?")
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    form.get_by_role("button", name=EN["submit"]).click()
    alert = form.locator("[role=alert]")
    expect(alert).to_have_text(EN["error_notify_email"])
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    assert alert.get_attribute("id") in (email.get_attribute("aria-describedby") or "").split()
    assert posted == [], "sent without the e-mail address"
    assert thread(server, LIBRARY)["items"] == []
    violations = axe_violations(page, "#voxpop")
    assert violations == [], f"axe-core, the form's e-mail error: {violations}"

    # An address the server refuses: its 422 goes on the same field.
    email.fill("rita@nowhere")
    form.get_by_role("button", name=EN["submit"]).click()
    expect(alert).to_have_text(EN["error_field_author_email"])
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()

    # With the address: the comment goes out with notify, and a confirmation mail arrives.
    email.fill(address)
    with page.expect_request("**/api/v1/comments") as sent:
        form.get_by_role("button", name=EN["submit"]).click()
    assert sent.value.post_data_json["notify"] == "replies"
    assert sent.value.post_data_json["author_email"] == address
    expect(page.locator(".voxpop-status")).to_have_text(EN["published"] + " " + EN["notify_sent"])
    expect(alert).to_be_empty()
    expect(email).not_to_have_attribute("aria-invalid", "true")
    (confirmation,) = mails_to(mail.inbox, address, 1)
    assert confirmation.link("/subscriptions/confirm?token=")
    assert inbox.to(address) == [confirmation]

    # "—" again: the e-mail is optional again.
    notify.select_option("")
    expect(email).to_have_accessible_name(EN["field_email"] + " " + EN["optional"])
    expect(email).to_have_attribute("aria-required", "false")


# ---- 3. the bar's errors, its keyboard use, German, and turning it off ----


def test_subscribe_bar_errors_keyboard_and_axe(page: Page, mail: Mail) -> None:
    server = mail.server
    comment_by_api(server, GARDEN, "Plant more beans next year.", author_name="Gus Gardener")
    bar = open_demo(page, server, GARDEN)
    email = bar.get_by_label(EN["field_email"], exact=True)
    status = bar.get_by_role("status")
    alert = bar.locator("[role=alert]")

    # Empty: the browser's own check stops it (the field is required); nothing is sent.
    expect(email).to_have_attribute("required", "")
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    bar.get_by_role("button", name=EN["subscribe"]).click()
    assert page.evaluate("(el) => el.validity.valueMissing", email.element_handle())
    assert posted == []

    # By keyboard: type the address and press Enter. The server refuses it (422, field
    # "email"): the message goes on the e-mail field.
    email.focus()
    page.keyboard.type("kim@localhost")
    page.keyboard.press("Enter")
    expect(alert).to_have_text(EN["error_field_email"])
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    assert alert.get_attribute("id") in (email.get_attribute("aria-describedby") or "").split()
    expect(status).to_be_empty()
    violations = axe_violations(page, "#voxpop")
    assert violations == [], f"axe-core, the bar's error: {violations}"

    # Too many requests: the rate-limit message, and the field is not blamed.
    page.route(
        "**/api/v1/subscriptions",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "30"},
            content_type="application/problem+json",
            body=json.dumps({"status": 429, "title": "Too Many Requests", "code": "rate_limited"}),
        ),
        times=1,
    )
    email.fill("kim@example.org")
    email.press("Enter")
    expect(alert).to_have_text(EN["error_rate_limited_other"].format(count=30))
    expect(email).not_to_have_attribute("aria-invalid", "true")

    # Tab order: scope, e-mail, Subscribe; then accepted.
    bar.get_by_label(EN["notify_of"], exact=True).focus()
    page.keyboard.press("Tab")
    expect(email).to_be_focused()
    page.keyboard.press("Tab")
    expect(bar.get_by_role("button", name=EN["subscribe"])).to_be_focused()
    page.keyboard.press("Enter")
    expect(status).to_have_text(EN["notify_sent"])
    expect(alert).to_be_empty()
    mails_to(mail.inbox, "kim@example.org", 1)
    violations = axe_violations(page, "#voxpop")
    assert violations == [], f"axe-core, subscribed: {violations}"

    # The picture: the bar in the thread header (with its message) and the form below it.
    page.set_viewport_size({"width": 1000, "height": 900})
    form = page.locator("form.voxpop-form-new")
    form.get_by_label(EN["field_email"] + " " + EN["optional"]).fill("kim@example.org")
    form.get_by_label(EN["notify_of"]).select_option("thread")
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement.blur()")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#voxpop .voxpop-section").screenshot(path=str(ARTIFACTS / "notify-widget.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#voxpop .voxpop-section").screenshot(
        path=str(ARTIFACTS / "notify-widget-phone.png")
    )
    violations = axe_violations(page, "#voxpop")
    assert violations == [], f"axe-core, phone size: {violations}"


def test_german_strings(page: Page, mail: Mail) -> None:
    bar = open_demo(page, mail.server, GARDEN, lang="de")
    scope = bar.get_by_label(DE["notify_of"], exact=True)
    assert scope.locator("option").all_inner_texts() == [
        DE["notify_thread"],
        DE["notify_replies"],
        DE["notify_digest"],
    ]
    expect(bar.get_by_label(DE["field_email"], exact=True)).to_be_visible()
    expect(bar.get_by_role("button", name=DE["subscribe"], exact=True)).to_be_visible()
    form = page.locator("form.voxpop-form-new")
    form.get_by_label(DE["field_email"] + " " + DE["optional"]).fill("lena@example.org")
    expect(form.get_by_label(DE["notify_of"], exact=True).locator("option")).to_have_text(
        [DE["notify_none"], DE["notify_thread"], DE["notify_replies"]]
    )
    bar.get_by_label(DE["field_email"], exact=True).fill("lena@example.org")
    # "Neuen Kommentaren, einmal täglich": the whole thread, as a daily digest.
    scope.select_option("digest")
    with page.expect_request("**/api/v1/subscriptions") as sent:
        bar.get_by_role("button", name=DE["subscribe"]).click()
    assert sent.value.post_data_json["lang"] == "de"
    assert (sent.value.post_data_json["scope"], sent.value.post_data_json["delivery"]) == (
        "thread",
        "digest",
    )
    expect(bar.get_by_role("status")).to_have_text(DE["notify_sent"])


def test_notify_off_hides_the_controls(page: Page, mail: Mail) -> None:
    host(page, mail.server, unique("notify-off"), attrs=' data-voxpop-notify="off"')
    loaded(page)
    form = page.locator("form.voxpop-form-new")
    expect(form.get_by_label(EN["field_body"], exact=True)).to_be_visible()
    expect(page.locator("#voxpop form.voxpop-sub")).to_have_count(0)
    expect(page.locator("#voxpop select[name=notify]")).to_have_count(0)
    expect(page.get_by_text(EN["notify_of"])).to_have_count(0)
