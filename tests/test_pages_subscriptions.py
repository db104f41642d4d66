"""The pages behind the links in notification mails: confirm, unsubscribe (RFC 8058
one-click included), manage; and "Notify of" in the no-JavaScript comment form.

Every flow goes through a real SMTP server: the links followed are the ones in the mails.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from voxpop.services import subscriptions as subscription_service

from .conftest import SECRET, AppFactory, drain, post, rows
from .smtp import Inbox, Received
from .test_pages import csrf_of

ORIGIN = "http://testserver"
ADA = "ada@example.org"
HOSTILE = "<script>alert(1)</script>"


def local(url: str) -> str:
    """The path and query of a link in a mail, to follow with the test client."""
    assert url.startswith(ORIGIN + "/"), url
    return url[len(ORIGIN) :]


def subscribe(client: TestClient, email: str = ADA, **extra: Any) -> Any:
    body = {"uri": "/story", "email": email, "scope": "thread", **extra}
    r = client.post("/api/v1/subscriptions", json=body)
    assert r.status_code == 202, r.text
    return r


def next_mail(client: TestClient, inbox: Inbox, to: str = ADA) -> Received:
    """Run the outbox worker once; the one new mail it sent to ``to``."""
    before = len(inbox.to(to))
    drain(client)
    inbox.wait_for(1)
    mails = inbox.to(to)
    assert len(mails) == before + 1, f"{len(mails) - before} new mails to {to}"
    return mails[-1]


def subscribe_confirmed(client: TestClient, inbox: Inbox, **extra: Any) -> Any:
    """Subscribe, and confirm from the mail; the confirmation page's response."""
    subscribe(client, **extra)
    mail = next_mail(client, inbox, extra.get("email", ADA))
    page = client.get(local(mail.link("/subscriptions/confirm")))
    assert page.status_code == 200, page.text
    return page


def manage_link(page: str) -> str:
    match = re.search(r'href="(/subscriptions/manage\?token=[^"]+)"', page)
    assert match, "no link to the manage page"
    return html.unescape(match.group(1))


def form_action(page: str, index: int = 0) -> str:
    actions = re.findall(r'<form method="post" action="([^"]+)"', page)
    assert len(actions) > index, "no such form"
    return html.unescape(actions[index])


def unsubscribe_url(mail: Received) -> str:
    header = str(mail.message["List-Unsubscribe"])
    assert header.startswith("<") and header.endswith(">"), header
    return header[1:-1]


def count(client: TestClient, sql: str) -> int:
    return int(rows(client.database, sql)[0][0])  # type: ignore[attr-defined]


def assert_private(r: Any) -> None:
    """A page whose URL carries a token: not cached, not indexed, no Referer."""
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert "no-referrer" in r.headers.get_list("referrer-policy")
    assert '<meta name="robots" content="noindex, nofollow">' in r.text
    assert '<meta name="referrer" content="no-referrer">' in r.text


def tamper(token_url: str) -> str:
    """Change one character of the token's signature."""
    at = len(token_url) - 5
    swapped = "A" if token_url[at] != "A" else "B"
    return token_url[:at] + swapped + token_url[at + 1 :]


def test_subscribe_confirm_notify_and_one_click_unsubscribe(
    make_client: AppFactory, inbox: Inbox
) -> None:
    client = make_client(smtp_url=inbox.url)
    subscribe(client, title="The big story")
    mail = next_mail(client, inbox)
    confirm = local(mail.link("/subscriptions/confirm"))

    page = client.get(confirm)
    assert page.status_code == 200
    assert_private(page)
    assert "<h1>Subscription confirmed</h1>" in page.text
    assert 'role="status">Thank you: your subscription is confirmed.' in page.text
    assert "You get an e-mail for every new comment on this article:" in page.text
    assert '<a href="http://testserver/story">The big story</a>' in page.text
    assert count(client, "SELECT COUNT(*) FROM subscriptions WHERE confirmed_at IS NOT NULL") == 1

    again = client.get(confirm)
    assert again.status_code == 200
    assert "<h1>Already confirmed</h1>" in again.text
    assert "was already confirmed" in again.text

    manage = client.get(manage_link(page.text))
    assert manage.status_code == 200
    assert_private(manage)
    assert f"E-mail notifications for {ADA}" in manage.text
    assert "The big story" in manage.text
    assert "<dd>active</dd>" in manage.text

    # Another reader comments: a notification, with RFC 8058 headers.
    post(client, body="Fresh words from Bob", author_name="Bob")
    note = next_mail(client, inbox)
    assert "Fresh words from Bob" in note.text()
    assert str(note.message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    url = unsubscribe_url(note)
    assert url.startswith(ORIGIN + "/unsubscribe?token=")

    shown = client.get(local(url))
    assert shown.status_code == 200
    assert_private(shown)
    assert "Stop the e-mails about new comments on “The big story”." in shown.text
    assert f'<form method="post" action="{html.escape(local(url))}"' in shown.text
    assert '<button type="submit" aria-describedby="vp-unsubscribe-what">Unsubscribe</button>' in (
        shown.text
    )
    assert "/subscriptions/manage?token=" in shown.text
    # Opening the link changes nothing (mail systems' link scanners open every link).
    assert count(client, "SELECT COUNT(*) FROM subscriptions") == 1

    # The mail client's one-click POST: no cookies, no CSRF token, no Accept: text/html.
    mail_client = TestClient(client.app)
    done = mail_client.post(local(url), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert_private(done)
    assert "<h1>You are unsubscribed</h1>" in done.text
    assert "You are unsubscribed from “The big story”." in done.text
    assert "subscribe again under the article" in done.text
    assert "/subscriptions/manage?token=" in done.text
    assert count(client, "SELECT COUNT(*) FROM subscriptions") == 0
    # Idempotent, and multipart/form-data (RFC 8058's preferred encoding) works too.
    twice = mail_client.post(local(url), files={"List-Unsubscribe": (None, "One-Click")})
    assert twice.status_code == 200
    assert "You are unsubscribed from “The big story”." in twice.text
    # The page now says there is nothing left, without a button.
    after = client.get(local(url))
    assert "already unsubscribed from “The big story”" in after.text
    assert "<button" not in after.text

    post(client, body="Nobody hears of this one")
    drain(client)
    assert len(inbox.to(ADA)) == 2  # the confirmation and the one notification


def test_the_unsubscribe_button_and_a_token_in_the_form(
    make_client: AppFactory, inbox: Inbox
) -> None:
    client = make_client(smtp_url=inbox.url)
    subscribe_confirmed(client, inbox)
    post(client, body="news")
    url = local(unsubscribe_url(next_mail(client, inbox)))
    page = client.get(url).text
    r = client.post(form_action(page))  # the page's own button: an empty form
    assert r.status_code == 200
    assert "You are unsubscribed from “/story”." in r.text  # no title: the uri
    assert count(client, "SELECT COUNT(*) FROM subscriptions") == 0
    # The token may come as a form field instead of in the query string.
    token = url.split("token=", 1)[1]
    r = client.post("/unsubscribe", data={"token": token})
    assert r.status_code == 200
    assert "You are unsubscribed" in r.text


def test_unsubscribing_from_all_digests(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url)
    subscribe_confirmed(client, inbox, delivery="digest")
    subscriber_id = count(client, "SELECT id FROM subscribers")
    # The link of a digest mail (its article part is 0: every digest).
    token = subscription_service.unsubscribe_token(SECRET, subscriber_id, None)
    page = client.get("/unsubscribe", params={"token": token})
    assert "Stop all your daily digests." in page.text
    done = TestClient(client.app).post(
        f"/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"}
    )
    assert "You are unsubscribed from all your daily digests." in done.text
    assert count(client, "SELECT COUNT(*) FROM subscriptions") == 0
    after = client.get("/unsubscribe", params={"token": token}).text
    assert "already unsubscribed from all daily digests" in after


def test_manage_page_switches_delivery_cancels_one_and_all(
    make_client: AppFactory, inbox: Inbox
) -> None:
    client = make_client(smtp_url=inbox.url)
    subscribe_confirmed(client, inbox, title="First story")
    subscribe(client, uri="/second", scope="replies", title="Second story")
    second = next_mail(client, inbox)  # left unconfirmed
    page = client.get(local(second.link("/subscriptions/manage")))
    assert page.status_code == 200
    text = page.text
    assert "First story" in text and "Second story" in text
    assert "<dd>every new comment</dd>" in text
    assert "<dd>replies to your comments</dd>" in text
    assert "<dd>waiting for confirmation (see the e-mail we sent you)</dd>" in text
    assert "<dd>active</dd>" in text
    assert text.count("<dd>an e-mail for each comment</dd>") == 2
    assert 'Switch to a daily digest<span class="vh"> — First story</span>' in text
    # Only the page's own notices are shown, nothing echoed from the URL.
    forged = client.get(local(second.link("/subscriptions/manage")) + "&done=%3Cb%3Ehi").text
    assert 'role="status"' not in forged
    assert "<b>hi" not in forged and "&lt;b&gt;hi" not in forged

    (first_id,) = rows(
        client.database,  # type: ignore[attr-defined]
        "SELECT s.id FROM subscriptions s JOIN articles a ON a.id = s.article_id "
        "WHERE a.uri = '/story'",
    )[0]
    action = form_action(text)
    r = client.post(
        action,
        data={"action": "delivery", "subscription_id": str(first_id), "delivery": "digest"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["location"].endswith("&done=digest")
    shown = client.get(r.headers["location"]).text
    assert '<p class="vp-notice" role="status">You now get a daily digest.</p>' in shown
    assert "<dd>a daily digest</dd>" in shown
    assert 'Switch to an e-mail for each comment<span class="vh"> — First story' in shown
    assert (
        count(
            client,
            f"SELECT COUNT(*) FROM subscriptions WHERE id = {first_id} AND delivery = 'digest'",
        )
        == 1
    )
    # A digest subscriber gets no instant mail.
    post(client, body="for the digest")
    before = len(inbox.to(ADA))
    drain(client)
    assert len(inbox.to(ADA)) == before

    r = client.post(action, data={"action": "cancel", "subscription_id": str(first_id)})
    assert r.status_code == 200  # followed the redirect
    assert "The subscription was cancelled." in r.text
    assert "First story" not in r.text
    assert "Second story" in r.text
    # The same form again: nothing left to change, and the page says so.
    r = client.post(action, data={"action": "cancel", "subscription_id": str(first_id)})
    assert "Nothing changed: that subscription no longer exists." in r.text

    r = client.post(action, data={"action": "cancel_all"})
    assert "All your subscriptions were cancelled." in r.text
    assert "You have no subscriptions." in r.text
    assert count(client, "SELECT COUNT(*) FROM subscriptions") == 0

    bad = client.post(action, data={"action": "explode", "subscription_id": "1"})
    assert bad.status_code == 422
    assert_private(bad)
    assert "Choose cancel, cancel_all or delivery" in bad.text


def test_pages_in_german(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url)
    subscribe(client, title="Die Geschichte")
    mail = next_mail(client, inbox)
    page = client.get(local(mail.link("/subscriptions/confirm")) + "&lang=de")
    assert '<html lang="de">' in page.text
    assert "<h1>Benachrichtigung bestätigt</h1>" in page.text
    assert "Sie erhalten eine E-Mail für jeden neuen Kommentar zu diesem Artikel:" in page.text
    manage = manage_link(page.text)
    assert "lang=de" in manage  # the language stays with the reader
    listing = client.get(manage).text
    assert "<h1>Ihre Benachrichtigungen</h1>" in listing
    assert "Auf tägliche Zusammenfassung umstellen" in listing
    assert "Alle Benachrichtigungen abbestellen" in listing

    post(client, body="Neues")
    url = local(unsubscribe_url(next_mail(client, inbox)))
    shown = client.get(url + "&lang=de").text
    assert "Keine E-Mails mehr über neue Kommentare zu „Die Geschichte“." in shown
    assert ">Abmelden</button>" in shown
    done = client.post(form_action(shown)).text
    assert "Sie sind von „Die Geschichte“ abgemeldet" in done

    bad = client.get(tamper(url) + "&lang=de")
    assert bad.status_code == 400
    assert "<h1>Dieser Link funktioniert nicht</h1>" in bad.text


def test_a_german_site_speaks_german_without_asking(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url, language="de")
    page = subscribe_confirmed(client, inbox)
    assert "<h1>Benachrichtigung bestätigt</h1>" in page.text
    assert "Benachrichtigung über" in client.get(manage_link(page.text)).text
    post(client, body="Neues")
    url = local(unsubscribe_url(next_mail(client, inbox)))
    assert ">Abmelden</button>" in client.get(url).text
    assert "Sie sind von „/story“ abgemeldet" in TestClient(client.app).post(url).text


def test_bad_links_get_friendly_pages(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url)
    subscribe(client)
    confirm = local(next_mail(client, inbox).link("/subscriptions/confirm"))
    manage = manage_link(client.get(confirm).text)
    post(client, body="x")
    unsubscribe = local(unsubscribe_url(next_mail(client, inbox)))

    for method, url in [
        ("GET", tamper(confirm)),
        ("GET", tamper(unsubscribe)),
        ("POST", tamper(unsubscribe)),
        ("GET", tamper(manage)),
        ("POST", tamper(manage)),
        ("GET", "/subscriptions/confirm"),
        ("GET", "/unsubscribe?token="),
        ("POST", "/unsubscribe"),
        ("GET", "/subscriptions/manage?token=m1.1"),
        ("GET", unsubscribe.replace("token=u1.", "token=m1.")),
    ]:
        data = {"action": "cancel_all"} if "manage" in url else {"List-Unsubscribe": "One-Click"}
        # No Accept: text/html (a mail client's POST, curl): still an HTML page.
        r = client.request(method, url, data=data if method == "POST" else None)
        assert r.status_code == 400, (method, url, r.text)
        assert_private(r)
        assert "<h1>This link does not work</h1>" in r.text, (method, url)
        assert "Open it again from the e-mail" in r.text
    # Nothing was cancelled by the forged requests.
    assert count(client, "SELECT COUNT(*) FROM subscriptions") == 1


def test_an_expired_or_cancelled_confirmation(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url)
    subscribe(client)
    mail = next_mail(client, inbox)
    confirm = local(mail.link("/subscriptions/confirm"))
    client.clock.advance(hours=49)  # type: ignore[attr-defined]
    r = client.get(confirm)
    assert r.status_code == 410
    assert_private(r)
    assert "<h1>This link has expired</h1>" in r.text
    assert "valid for 48 hours. Subscribe again under the article" in r.text
    assert count(client, "SELECT COUNT(*) FROM subscriptions WHERE confirmed_at IS NULL") == 1

    # Cancelled from the manage link in the same mail: then the confirm link finds nothing.
    client.clock.advance(hours=-49)  # type: ignore[attr-defined]
    manage = local(mail.link("/subscriptions/manage"))
    client.post(manage, data={"action": "cancel_all"})
    r = client.get(confirm)
    assert r.status_code == 404
    assert_private(r)
    assert "<h1>Subscription not found</h1>" in r.text
    assert "subscribe again under the article" in r.text


def test_hostile_titles_are_escaped_on_every_page(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url)
    escaped = html.escape(HOSTILE, quote=False)
    confirmed = subscribe_confirmed(client, inbox, title=HOSTILE)
    manage = client.get(manage_link(confirmed.text))
    post(client, body="x")
    url = local(unsubscribe_url(next_mail(client, inbox)))
    shown = client.get(url)
    done = client.post(url)
    for r in (confirmed, manage, shown, done):
        assert r.status_code == 200
        assert HOSTILE not in r.text
        assert "<script" not in r.text
        assert escaped in r.text


def form_post(client: TestClient, **fields: Any) -> Any:
    page = client.get("/comments", params={"uri": "/story"}).text
    data = {"csrf": csrf_of(page), "uri": "/story", "site": "default", "sort": "best", **fields}
    return client.post("/comments", data=data, follow_redirects=False)


def test_notify_of_in_the_plain_comment_form(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url)
    page = client.get("/comments", params={"uri": "/story"}).text
    assert '<label for="comment-form-notify">Notify me by e-mail of</label>' in page
    assert 'name="notify" aria-describedby="comment-form-notify-help"' in page
    assert '<option value="" selected>nothing (no e-mails)</option>' in page
    assert '<option value="thread">new follow-up comments</option>' in page
    assert '<option value="replies">new replies to my comments</option>' in page
    assert "Needs your e-mail address above." in page

    r = form_post(client, body="Tell me more", notify="thread", author_email=ADA)
    assert r.status_code == 303
    mail = next_mail(client, inbox)
    confirmed = client.get(local(mail.link("/subscriptions/confirm")))
    assert "every new comment" in confirmed.text
    post(client, body="A follow-up")
    assert "A follow-up" in next_mail(client, inbox).text()


def test_notify_without_an_address_is_shown_in_the_form(make_client: AppFactory) -> None:
    client = make_client()
    r = form_post(client, body="kept words", notify="replies")
    assert r.status_code == 422
    assert 'role="alert"' in r.text
    assert "Give your e-mail address to be notified" in r.text
    assert "kept words" in r.text
    assert '<option value="replies" selected>new replies to my comments</option>' in r.text
    assert client.get("/api/v1/comments", params={"uri": "/story"}).json()["total"] == 0


def test_german_comment_form_offers_notify_of(make_client: AppFactory) -> None:
    client = make_client(language="de")
    page = client.get("/comments", params={"uri": "/story"}).text
    assert "Per E-Mail benachrichtigen über" in page
    assert '<option value="thread">neue Folgekommentare</option>' in page
    assert '<option value="replies">neue Antworten auf meine Kommentare</option>' in page
