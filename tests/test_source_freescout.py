"""The freescout kind against a fake FreeScout API on 127.0.0.1."""

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
)
from agent.sources.freescout import FreeScoutSource
from tests.fakes.freescout import FakeFreeScout
from tests.fakes.web import closed_port_url, expect_failure

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEY = "c2ba609c687a3425SECRETfree"


@pytest.fixture
def fake(server: HTTPServer) -> FakeFreeScout:
    return FakeFreeScout(server, KEY)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def make(
    fake: FakeFreeScout,
    categories: tuple[str, ...] = (),
    url: str = "",
    clock: Clock | None = None,
) -> FreeScoutSource:
    config = SourceConfig(
        name="FreeScout", kind="freescout", url=url or fake.base, categories=categories, timeout=5
    )
    return FreeScoutSource(config, KEY, clock=clock or Clock())


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_registered_with_a_description() -> None:
    assert source_class("freescout") is FreeScoutSource
    assert "FreeScout" in FreeScoutSource.description


def test_waiting_follows_the_threads(fake: FakeFreeScout) -> None:
    new = fake.add("Invoice missing VAT id", created=h(6), threads=(("customer", h(6)),))
    fake.add(
        "We replied",
        created=h(6),
        threads=(("customer", h(6)), ("message", h(5)), ("note", h(4))),
    )
    back = fake.add(
        "Came back",
        created=h(9),
        threads=(("customer", h(9)), ("message", h(8)), ("customer", h(3)), ("customer", h(1))),
    )
    fake.add("Pending", status="pending", created=h(6), threads=(("customer", h(6)),))
    fake.add("Closed", status="closed", created=h(6), threads=(("customer", h(6)),))
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == sorted([str(new), str(back)])
    assert by_id[str(new)].waiting_since == h(6)
    assert by_id[str(back)].waiting_since == h(3)  # oldest unanswered, not the newest
    t = by_id[str(new)]
    assert t.category == "Support"
    assert t.requester == "Tom Novak"
    assert t.requester_email == "tom@example.net"  # for [[vip]]
    assert t.url == f"{fake.base}/conversation/{new}"
    assert t.due_at is None  # FreeScout has no SLA: the response window decides
    request = next(r for r in fake.requests if r.path == "/api/conversations")
    assert request.args["status"] == "active"
    assert request.args["state"] == "published"
    assert "embed" not in request.args  # the listing decides most; threads only where not
    reads = [p for p in fake.paths() if p.startswith("/api/conversations/")]
    assert reads == [f"/api/conversations/{back}"]  # one customer thread: the listing decides
    assert request.headers["X-FreeScout-API-Key"] == KEY


def test_an_agents_chat_reply_answers(fake: FakeFreeScout) -> None:
    """app/Thread.php's types: customer, message, note, lineitem, chat (phone is commented
    out: a call is a note). A chat thread does not move last_reply_from (ThreadObserver), so
    only the threads tell. Failed before: the chat reply was ignored and the ticket rang."""
    fake.add("Chat answered", created=h(3), threads=(("customer", h(3)), ("chat", h(2), "user")))
    back = fake.add(
        "Chat came back",
        created=h(5),
        threads=(("customer", h(5)), ("chat", h(4), "user"), ("chat", h(1), "customer")),
    )
    fake.add(
        "Call logged",
        kind="phone",
        created=h(4),
        threads=(("customer", h(4)), ("note", h(2), "user")),
    )
    fake.add(
        "Only an internal note",
        created=h(4),
        threads=(("customer", h(4)), ("note", h(3)), ("lineitem", h(2))),
    )
    source = make(fake)
    for poll in range(2):  # the first sync (undecided: listed again, threads embedded), then
        # an idle poll reading the two undecided ones one by one
        if poll:
            for conv in fake.conversations:  # assigned, say: updatedAt moves
                fake.reply(conv["id"], "lineitem", h(0.1))
        by_subject = {t.subject: t for t in source.fetch(None).tickets}
        assert sorted(by_subject) == ["Chat came back", "Only an internal note"]
        assert by_subject["Chat came back"].id == str(back)
        assert by_subject["Chat came back"].waiting_since == h(1)
        assert by_subject["Only an internal note"].waiting_since == h(4)
    # the call's note moved latestReplyFrom to "user" and the internal note leaves the
    # customer's message the only counted thread: both decided by the listing, never read
    assert len([p for p in fake.paths() if p.startswith("/api/conversations/")]) == 2
    embedded = [r for r in fake.requests if r.path == "/api/conversations" and "embed" in r.args]
    assert len(embedded) == 1  # the first sync's second listing, 25 a page with threads


def test_threads_are_read_only_for_conversations_that_changed(fake: FakeFreeScout) -> None:
    """The listing carries customerWaitingSince and updatedAt (formatEntity); threads are read
    again only when updatedAt moved. Failed before: every poll embedded every thread."""
    a = fake.add("A", created=h(6), threads=(("customer", h(6)),))
    b = fake.add("B", created=h(5), threads=(("customer", h(5)),))
    c = fake.add("C", created=h(4), threads=(("customer", h(4)),))
    fake.add("Answered", created=h(4), threads=(("customer", h(4)), ("message", h(3))))
    source = make(fake)

    def poll() -> tuple[dict[str, datetime], list[str]]:
        fake.requests.clear()
        snap = source.fetch(None)
        assert snap.complete
        return {t.subject: t.waiting_since for t in snap.tickets}, fake.paths()

    waiting, paths = poll()  # the first sync: the mailbox names and one embedded listing
    assert waiting == {"A": h(6), "B": h(5), "C": h(4)}
    assert sorted(paths) == ["/api/conversations", "/api/mailboxes"]

    waiting, paths = poll()  # an idle poll: one listing, no threads
    assert waiting == {"A": h(6), "B": h(5), "C": h(4)}
    assert paths == ["/api/conversations"]
    assert "embed" not in fake.requests[0].args

    fake.reply(a, "customer", h(1))  # a follow-up: A changed, still waiting since h(6)
    fake.reply(b, "message", h(0.5))  # answered by e-mail: the listing says so
    fake.reply(c, "chat", h(0.5), "user")  # answered by chat: only its threads say so
    waiting, paths = poll()
    assert waiting == {"A": h(6)}
    threads = sorted([f"/api/conversations/{a}", f"/api/conversations/{c}"])
    assert sorted(paths) == ["/api/conversations", *threads]  # only the two that may wait

    waiting, paths = poll()
    assert waiting == {"A": h(6)} and paths == ["/api/conversations"]


def test_a_first_sync_reads_threads_only_where_the_listing_cannot_decide(
    fake: FakeFreeScout,
) -> None:
    """formatEntity gives each listed conversation ``threadsCount`` (threads_count: published
    threads but notes and line items) and ``customerWaitingSince`` (last_reply_at/_from, moved
    by customer and message threads only: ThreadObserver::created). One counted thread and the
    customer's latest reply: it waits since then; the team's latest reply: it does not. Only
    the rest read their threads. Failed before: every first sync embedded every thread, 25
    conversations a page."""
    for n in range(40):
        fake.add(f"Q{n}", created=h(100 - n), threads=(("customer", h(100 - n)),))
    noted = fake.add(
        "Internal note after the customer",
        created=h(7),
        threads=(("customer", h(7)), ("note", h(6)), ("lineitem", h(5))),
    )
    fake.add("Answered by e-mail", created=h(7), threads=(("customer", h(7)), ("message", h(6))))
    chat = fake.add(
        "Answered by chat", created=h(7), threads=(("customer", h(7)), ("chat", h(6), "user"))
    )
    back = fake.add(
        "The customer came back twice",
        created=h(9),
        threads=(("customer", h(9)), ("message", h(8)), ("customer", h(3)), ("customer", h(2))),
    )
    snap = make(fake).fetch(None)
    assert snap.complete
    waiting = {t.subject: t.waiting_since for t in snap.tickets}
    assert len(waiting) == 42
    assert waiting["Internal note after the customer"] == h(7)  # a note answers nobody
    assert waiting["The customer came back twice"] == h(3)  # the oldest unanswered
    assert "Answered by e-mail" not in waiting and "Answered by chat" not in waiting
    reads = sorted(p for p in fake.paths() if p.startswith("/api/conversations/"))
    assert reads == sorted([f"/api/conversations/{chat}", f"/api/conversations/{back}"])
    assert f"/api/conversations/{noted}" not in reads
    assert len(fake.requests) == 1 + 1 + 2  # the mailbox names, one listing page, two reads
    assert all("embed" not in r.args for r in fake.requests if r.path == "/api/conversations")


def test_many_undecided_conversations_are_listed_again_with_their_threads(
    fake: FakeFreeScout,
) -> None:
    """When more conversations need their threads than pages of 25 would carry them, the
    first sync lists again with ``embed=threads`` (ApiController::listConversations) instead
    of reading each one: 60 back-and-forth conversations cost 3 pages, not 60 reads."""
    for n in range(60):
        fake.add(
            f"Back {n}",
            created=h(100 - n),
            threads=(("customer", h(100 - n)), ("message", h(50)), ("customer", h(10 - n / 10))),
        )
    fake.add("Answered by chat", created=h(7), threads=(("customer", h(7)), ("chat", h(6), "user")))
    snap = make(fake).fetch(None)
    assert snap.complete
    waiting = {t.subject: t.waiting_since for t in snap.tickets}
    assert len(waiting) == 60 and "Answered by chat" not in waiting
    assert waiting["Back 7"] == h(10 - 0.7)
    listings = [r for r in fake.requests if r.path == "/api/conversations"]
    assert [(r.args.get("embed"), r.args["pageSize"]) for r in listings] == [
        (None, "100"),
        ("threads", "25"),
        ("threads", "25"),
        ("threads", "25"),
    ]
    assert not [p for p in fake.paths() if p.startswith("/api/conversations/")]


def test_url_with_api_suffix_is_accepted(fake: FakeFreeScout) -> None:
    cid = fake.add("Q", created=h(1), threads=(("customer", h(1)),))
    snap = make(fake, url=fake.base + "/api/").fetch(None)
    assert snap.tickets[0].url == f"{fake.base}/conversation/{cid}"


def test_an_idle_poll_asks_only_for_what_changed(fake: FakeFreeScout) -> None:
    """updatedSince (ApiController::listConversations: updated_at >= the date) with every
    status, so closed, deleted and moved conversations show up as changed; a full listing every
    30 minutes finds the ones deleted for good. Failed before: every poll listed everything."""
    clock = Clock()
    stays = fake.add("Stays", created=h(9), threads=(("customer", h(9)),))
    closed = fake.add("Closed later", created=h(8), threads=(("customer", h(8)),))
    moved = fake.add("Moved to Billing", created=h(7), threads=(("customer", h(7)),))
    deleted = fake.add("Deleted", created=h(6), threads=(("customer", h(6)),))
    gone = fake.add("Deleted for good", created=h(5), threads=(("customer", h(5)),))
    source = make(fake, categories=("Support",), clock=clock)

    def poll() -> list[str]:
        fake.requests.clear()
        snap = source.fetch(None)
        assert snap.complete
        return sorted(t.subject for t in snap.tickets)

    assert len(poll()) == 5
    assert poll() == ["Closed later", "Deleted", "Deleted for good", "Moved to Billing", "Stays"]
    (listing,) = fake.requests  # nothing changed: one request
    assert listing.args["updatedSince"] == "2026-11-23T04:59:00Z"  # the newest updatedAt - 1 min
    assert listing.args["status"] == "active,pending,closed,spam"
    assert "mailboxId" not in listing.args  # a conversation moved away must show up too

    clock.now += timedelta(minutes=5)
    fake.change(closed, NOW, status="closed")
    fake.change(moved, NOW, mailboxId=4)
    fake.change(deleted, NOW, state="deleted")
    fake.conversations = [c for c in fake.conversations if c["id"] != gone]
    fake.add("New", created=NOW, threads=(("customer", NOW),))
    assert poll() == ["Deleted for good", "New", "Stays"]
    assert fake.paths() == ["/api/conversations"]  # one customer thread: no threads read
    assert stays and poll() == ["Deleted for good", "New", "Stays"]

    clock.now += timedelta(minutes=30)  # a full listing: the one deleted for good is gone
    assert poll() == ["New", "Stays"]
    assert "updatedSince" not in fake.requests[0].args


def test_a_server_that_ignores_updated_since_is_listed_in_full(fake: FakeFreeScout) -> None:
    """A module that does not read updatedSince answers with every conversation: noticed by
    an updatedAt older than asked for, and from then on every poll lists in full."""
    fake.unknown_params = {"updatedSince"}
    fake.add("Closed long ago", status="closed", created=h(50), threads=(("customer", h(50)),))
    first = fake.add("First", created=h(3), threads=(("customer", h(3)),))
    fake.add("Second", created=h(2), threads=(("customer", h(2)),))
    source = make(fake)
    assert len(source.fetch(None).tickets) == 2
    fake.change(first, h(1), status="closed")
    assert [t.subject for t in source.fetch(None).tickets] == ["Second"]
    fake.requests.clear()
    assert [t.subject for t in source.fetch(None).tickets] == ["Second"]
    assert [r.args.get("status") for r in fake.requests] == ["active"]


def test_mailboxes_filter_server_side(fake: FakeFreeScout) -> None:
    fake.add("Support question", mailbox=3, created=h(2), threads=(("customer", h(2)),))
    bill = fake.add("Invoice", mailbox=4, created=h(2), threads=(("customer", h(2)),))
    snap = make(fake, categories=("billing",)).fetch(None)
    assert [t.id for t in snap.tickets] == [str(bill)]
    assert snap.tickets[0].category == "Billing"
    request = next(r for r in fake.requests if r.path == "/api/conversations")
    assert request.args["mailboxId"] == "4"
    fake.requests.clear()
    snap = make(fake, categories=("Support", "billing")).fetch(None)
    assert len(snap.tickets) == 2
    listings = [r for r in fake.requests if r.path == "/api/conversations"]
    assert [r.args["mailboxId"] for r in listings] == ["3,4"]  # a comma list: one listing


def test_mailboxes_are_filtered_on_our_side_as_well(fake: FakeFreeScout) -> None:
    """The module's listConversations ignores parameters it does not read; a module (or a
    proxy) that drops mailboxId answers with every mailbox. Failed before: Support rang."""
    fake.unknown_params = {"mailboxId"}
    fake.add("Support question", mailbox=3, created=h(2), threads=(("customer", h(2)),))
    bill = fake.add("Invoice", mailbox=4, created=h(2), threads=(("customer", h(2)),))
    source = make(fake, categories=("Billing",))
    assert [t.id for t in source.fetch(None).tickets] == [str(bill)]
    assert [t.id for t in source.fetch(None).tickets] == [str(bill)]  # and without threads


def test_unknown_mailbox_is_named(fake: FakeFreeScout) -> None:
    with pytest.raises(NotConfigured, match="no mailbox named 'Sales'"):
        make(fake, categories=("Sales",)).fetch(None)


def test_pagination(fake: FakeFreeScout) -> None:
    for n in range(120):
        fake.add(f"Q{n}", created=h(200 - n), threads=(("customer", h(200 - n)),))
    source = make(fake)
    snap = source.fetch(None)
    assert len(snap.tickets) == 120 and snap.complete
    pages = [r.args.get("page", "1") for r in fake.requests if r.path == "/api/conversations"]
    assert pages == ["1", "2"]  # 100 a page: each decided by the listing, no threads
    assert all(r.args["status"] == "active" for r in fake.requests if r.path.endswith("tions"))
    fake.requests.clear()
    source._full_at = None  # a full listing again (as every 30 minutes): 100 a page
    assert len(source.fetch(None).tickets) == 120
    assert [r.args.get("page", "1") for r in fake.requests] == ["1", "2"]


def test_endless_pages_are_cut_and_marked_incomplete(fake: FakeFreeScout) -> None:
    for n in range(120):
        fake.add(f"Q{n}", created=h(200 - n), threads=(("customer", h(200 - n)),))
    source = make(fake)
    source.client.max_pages = 1
    snap = source.fetch(None)
    assert len(snap.tickets) == 100 and not snap.complete
    fake.requests.clear()
    snap = source.fetch(None)  # not all of it: listed in full again, never "since"
    assert len(snap.tickets) == 100 and not snap.complete
    assert all("updatedSince" not in r.args for r in fake.requests)


def test_list_categories(fake: FakeFreeScout) -> None:
    assert make(fake).list_categories() == ["Billing", "Support"]


ERRORS = [
    (401, {}, AuthError, "not valid"),
    (403, {}, Forbidden, "denied access"),
    (404, {}, NotFound, "check the URL"),
    (405, {}, BadResponse, "HTTP 405"),
    (429, {"Retry-After": "20"}, RateLimited, "slow down"),
    (500, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "API & Webhooks module"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_the_key(
    fake: FakeFreeScout,
    caplog: pytest.LogCaptureFixture,
    failure: str | int,
    headers: dict[str, str],
    error: type[SourceError],
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add("Q", created=h(1), threads=(("customer", h(1)),))
    raised = expect_failure(
        lambda: make(fake).fetch(None), fake, failure, headers, error, words,
        [KEY], lambda: caplog.text,
    )  # fmt: skip
    if failure == 429:
        assert raised.retry_after == 20  # type: ignore[attr-defined]


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig("FreeScout", "freescout", url=closed_port_url())
    with pytest.raises(Unreachable, match="refused") as info:
        FreeScoutSource(config, KEY).fetch(None)
    assert KEY not in str(info.value) + info.value.detail + caplog.text
