"""The helpscout kind against a fake Help Scout Mailbox API 2.0 on 127.0.0.1."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from pytest_httpserver import HTTPServer

from agent.config import SourceConfig
from agent.sources import source_class
from agent.sources.base import (
    AuthError,
    BadResponse,
    Forbidden,
    NotConfigured,
    NotFound,
    RateLimited,
    SourceError,
    Unavailable,
    Unreachable,
    fetch_budget,
)
from agent.sources.helpscout import HelpScoutSource
from tests.fakes.helpscout import FakeHelpScout
from tests.fakes.web import closed_port_url

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
APP_ID = "hs-app-7f3c"
APP_SECRET = "hs-SECRET-a8d1e6b0c4f2"


@pytest.fixture
def fake(server: HTTPServer) -> FakeHelpScout:
    return FakeHelpScout(server, APP_ID, APP_SECRET)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def make(
    fake: FakeHelpScout,
    categories: tuple[str, ...] = (),
    url: str | None = None,
    secret: str = APP_SECRET,
    clock: Clock | None = None,
) -> HelpScoutSource:
    config = SourceConfig(
        name="Help Scout", kind="helpscout", url=url or fake.api, user=APP_ID,
        categories=categories, timeout=5,
    )  # fmt: skip
    return HelpScoutSource(config, secret, clock=clock or Clock())


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_registered_with_a_description() -> None:
    assert source_class("helpscout") is HelpScoutSource
    assert "Help Scout" in HelpScoutSource.description


def test_waiting_conversations(fake: FakeHelpScout) -> None:
    fake.add(5120, "Refund for order 7781", created=h(30), waiting=h(2))
    fake.add(5121, "We replied", created=h(5), waiting=h(4), reply_from="user")
    fake.add(5122, "Pending on the customer", status="pending", created=h(5), waiting=h(4))
    fake.add(5123, "Closed", status="closed", created=h(9), waiting=h(8))
    fake.add(5124, "Snoozed", created=h(5), waiting=h(4), snoozed_until=NOW + timedelta(hours=3))
    fake.add(5125, "Snooze ran out", created=h(5), waiting=h(4), snoozed_until=h(1))
    fake.add(5126, "Brand new", mailbox=102, created=h(1))
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == ["5120", "5125", "5126"]
    t = by_id["5120"]
    assert t.waiting_since == h(2)  # Help Scout's own customerWaitingSince
    assert t.created_at == h(30)
    assert t.category == "Support"  # the mailbox's name
    assert t.requester == "Ana Diaz"
    assert t.requester_email == "ana@example.com"  # for [[vip]]
    assert t.assignee == "Sam Lee"
    assert t.url.startswith("https://secure.helpscout.net/conversation/")
    assert t.due_at is None  # Help Scout has no SLA: the response window decides
    assert by_id["5126"].waiting_since == h(1)  # no waiting time given: since created
    assert by_id["5126"].category == "Billing"
    conversations = [r for r in fake.requests if r.path == "/v2/conversations"]
    assert conversations[0].args["status"] == "active"
    assert "mailbox" not in conversations[0].args


@pytest.mark.parametrize("mailbox_filter", ["list", "first", "ignored"])
def test_exactly_the_watched_mailboxes_count(fake: FakeHelpScout, mailbox_filter: str) -> None:
    """One mailbox per request, and only conversations whose mailboxId is watched.

    developer.helpscout.com/mailbox-api/endpoints/conversations/list/ shows mailbox=123,567;
    the official PHP client (ConversationFilters::withMailbox(int)) and the team's reference
    read the filter as one id: the fake plays each reading. Failed before under "first" (the
    Sales conversation was lost) and "ignored" (the Support one rang)."""
    fake.mailbox_filter = mailbox_filter
    fake.add(1, "Support question", mailbox=101, created=h(3))
    fake.add(2, "Invoice", mailbox=102, created=h(3))
    fake.add(3, "Quote", mailbox=103, created=h(3))
    snap = make(fake, categories=("billing", "Sales")).fetch(None)
    assert sorted(t.id for t in snap.tickets) == ["2", "3"]
    assert {t.category for t in snap.tickets} == {"Billing", "Sales"}
    asked = [r.args["mailbox"] for r in fake.requests if r.path == "/v2/conversations"]
    assert sorted(asked) == ["102", "103"]  # one id per request


def test_unknown_mailbox_is_named(fake: FakeHelpScout) -> None:
    with pytest.raises(NotConfigured, match="no mailbox named 'Refunds'") as info:
        make(fake, categories=("Refunds",)).fetch(None)
    assert "Billing, Sales, Support" in str(info.value)


def test_pagination_of_25(fake: FakeHelpScout) -> None:
    for n in range(1, 61):
        fake.add(n, f"Conversation {n}", created=h(100 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 60
    pages = [r.args.get("page", "1") for r in fake.requests if r.path == "/v2/conversations"]
    assert pages == ["1", "2", "3"]
    assert snap.complete


def test_endless_pages_are_cut_and_marked_incomplete(fake: FakeHelpScout) -> None:
    for n in range(1, 61):
        fake.add(n, f"Conversation {n}", created=h(100 - n))
    source = make(fake)
    source.client.max_pages = 2
    snap = source.fetch(None)
    assert len(snap.tickets) == 50 and not snap.complete


def test_token_is_bought_once_and_reused(fake: FakeHelpScout) -> None:
    fake.add(1, "Q", created=h(1))
    source = make(fake)
    source.fetch(None)
    source.fetch(None)
    assert fake.token_requests == 1
    token = fake.requests[0]
    assert token.method == "POST" and token.path == "/v2/oauth2/token"
    assert token.form["client_id"] == APP_ID
    assert token.form["grant_type"] == "client_credentials"


def test_expired_token_is_replaced_before_use(fake: FakeHelpScout) -> None:
    fake.add(1, "Q", created=h(1))
    fake.expires_in = 3600
    clock = Clock()
    source = make(fake, clock=clock)
    source.fetch(None)
    clock.now += timedelta(minutes=59, seconds=30)  # within a minute of expiry: renew
    source.fetch(None)
    assert fake.token_requests == 2


def test_revoked_token_is_bought_again_once(fake: FakeHelpScout) -> None:
    fake.add(1, "Q", created=h(1))
    source = make(fake)
    source.fetch(None)
    fake.revoke_tokens()
    snap = source.fetch(None)
    assert [t.id for t in snap.tickets] == ["1"]
    assert fake.token_requests == 2


def test_wrong_app_secret_is_an_auth_error(
    fake: FakeHelpScout, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "hs-WRONG-secret-77"
    with pytest.raises(AuthError, match="Invalid client credentials") as info:
        make(fake, secret=wrong).fetch(None)
    assert not isinstance(info.value, Forbidden)
    assert fake.token_requests == 1  # no retry loop on bad credentials
    assert wrong not in str(info.value) + info.value.detail + caplog.text


def test_rate_limit_headers(fake: FakeHelpScout) -> None:
    fake.add(1, "Q", created=h(1))
    fake.remaining = 10
    assert make(fake).fetch(None).throttle is not None  # 10 of 400 left: slow down


def test_list_categories_lists_mailboxes(fake: FakeHelpScout) -> None:
    assert make(fake).list_categories() == ["Billing", "Sales", "Support"]


ERRORS = [
    (401, {}, AuthError, "credentials"),
    (403, {}, Forbidden, "does not have access"),
    (404, {}, NotFound, "check the URL"),
    (429, {}, RateLimited, "slow down"),
    (500, {}, Unavailable, "problem of its own"),
    (503, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "no list of"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_secrets(
    fake: FakeHelpScout,
    caplog: pytest.LogCaptureFixture,
    failure: str | int,
    headers: dict[str, str],
    error: type[SourceError],
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add(1, "Q", created=h(1))
    source = make(fake)
    source.fetch(None)  # a token is held; the API now starts failing
    fake.failure = failure
    fake.failure_headers = headers
    # in a fetch of 10 s, as the engine gives one: Help Scout's 17 s wait does not fit in it,
    # so the error comes at once, carrying the wait (not after waiting it out first)
    with fetch_budget(10), pytest.raises(error) as info:
        source.fetch(None)
    assert words in str(info.value)
    if failure == 401:
        assert not isinstance(info.value, Forbidden)
    if failure == 429:
        assert info.value.retry_after == 17  # type: ignore[attr-defined] # X-RateLimit-Retry-After
    tokens = [f"hs-access-{n:04d}-0f9e8d7c6b5a" for n in range(1, 4)]
    for text in (str(info.value), info.value.detail, caplog.text):
        for secret in (APP_SECRET, *tokens):
            assert secret not in text


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig("Help Scout", "helpscout", url=closed_port_url() + "/v2", user=APP_ID)
    with pytest.raises(Unreachable, match="refused") as info:
        HelpScoutSource(config, APP_SECRET).fetch(None)
    assert APP_SECRET not in str(info.value) + info.value.detail + caplog.text


def test_a_conversation_that_starts_waiting_on_page_ten_is_seen_by_the_idle_poll(
    fake: FakeHelpScout,
) -> None:
    """300 conversations (12 pages of 25) in two watched mailboxes. Between full listings one
    ``status=all&modifiedSince=`` request (the last look less 15 minutes) in every mailbox:
    a conversation on page ten that the team had answered and the customer writes to again comes
    in, one closed and one moved to an unwatched mailbox leave, and an idle poll is one request.
    Failed before: every page of every mailbox, every poll."""
    clock = Clock()
    for n in range(1, 300):
        fake.add(n, f"Q{n}", mailbox=101 if n % 2 else 102, created=h(400 - n), waiting=h(300 - n))
    fake.add(300, "Answered", status="pending", created=h(2), reply_from="user")
    source = make(fake, ("Support", "Billing"), clock=clock)
    first = source.fetch(None)
    assert len(first.tickets) == 299 and first.complete
    fake.requests.clear()
    assert len(source.fetch(NOW).tickets) == 299
    (idle,) = fake.requests
    assert idle.args["status"] == "all" and "mailbox" not in idle.args
    assert idle.args["modifiedSince"] == "2026-11-23T09:45:00Z"
    clock.now = NOW + timedelta(minutes=1)
    later = NOW + timedelta(seconds=30)
    waiting = {"time": "2026-11-23T10:00:30Z", "latestReplyFrom": "customer"}
    fake.change(300, later, status="active", customerWaitingSince=waiting)
    fake.change(250, later, status="closed")
    fake.change(251, later, mailboxId=103)
    fake.requests.clear()
    snap = source.fetch(NOW)
    by_id = {t.id: t for t in snap.tickets}
    assert by_id["300"].waiting_since == later
    assert "250" not in by_id and "251" not in by_id and len(by_id) == 298 and snap.complete
    assert [r.path for r in fake.requests] == ["/v2/conversations"]


def test_every_fifteen_minutes_everything_is_listed_again(fake: FakeHelpScout) -> None:
    """A deleted conversation never shows as modified: the full listing every 15 minutes (as
    Freshdesk's) drops it."""
    clock = Clock()
    fake.add(1, "Stays", created=h(2))
    fake.add(2, "Deleted", created=h(2))
    source = make(fake, clock=clock)
    assert len(source.fetch(None).tickets) == 2
    fake.conversations = [c for c in fake.conversations if c["number"] != 2]
    clock.now = NOW + timedelta(minutes=14)
    assert len(source.fetch(NOW).tickets) == 2
    clock.now = NOW + timedelta(minutes=15)
    fake.requests.clear()
    assert [t.id for t in source.fetch(NOW).tickets] == ["1"]
    assert fake.requests[0].args["status"] == "active"


def test_an_absurd_token_lifetime_neither_breaks_the_poll_nor_keeps_the_token_for_ever(
    fake: FakeHelpScout,
) -> None:
    fake.add(1, "Q", created=h(1))
    fake.expires_in = 1e300  # a number from the server: no timedelta holds it
    clock = Clock()
    source = make(fake, clock=clock)
    assert [t.id for t in source.fetch(None).tickets] == ["1"]
    clock.now += timedelta(days=2)  # the documented lifetime at most: renew by then
    source.fetch(None)
    assert fake.token_requests == 2
