"""The zendesk kind against a fake Zendesk Support API on 127.0.0.1."""

from __future__ import annotations

import base64
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
from agent.sources.zendesk import ZendeskSource, parse_ticket
from tests.fakes.web import closed_port_url, expect_failure
from tests.fakes.zendesk import FakeZendesk

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EMAIL = "anna@acme.test"
TOKEN = "zd-SECRET-6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"


@pytest.fixture
def fake(server: HTTPServer) -> FakeZendesk:
    return FakeZendesk(server, EMAIL, TOKEN)


def make(
    fake: FakeZendesk,
    categories: tuple[str, ...] = (),
    *,
    url: str = "",
    token: str = TOKEN,
    **options: object,
) -> ZendeskSource:
    config = SourceConfig(
        name="Zendesk", kind="zendesk", url=url or fake.base, user=EMAIL,
        categories=categories, timeout=5, options={"query": "", "oauth": False, **options},
    )  # fmt: skip
    return ZendeskSource(config, token, clock=lambda: NOW)


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def search_requests(fake: FakeZendesk) -> list:
    return [r for r in fake.requests if r.path == "/api/v2/search.json"]


def test_registered_with_a_description() -> None:
    assert source_class("zendesk") is ZendeskSource
    assert "Zendesk" in ZendeskSource.description


def test_waiting_follows_the_public_comments(fake: FakeZendesk) -> None:
    new = fake.add("Printer offline", status="new", created=h(6), comments=(("customer", h(6)),))
    fake.add("We replied, still open", created=h(6),
             comments=(("customer", h(6)), ("agent", h(5))))  # fmt: skip
    back = fake.add(
        "Customer came back",
        created=h(9),
        comments=(("customer", h(9)), ("agent", h(8)), ("customer", h(3)), ("note", h(2)),
                  ("customer", h(1))),
    )  # fmt: skip
    fake.add("Pending", status="pending", created=h(6), comments=(("customer", h(6)),))
    fake.add("On hold", status="hold", created=h(6), comments=(("customer", h(6)),))
    fake.add("Solved", status="solved", created=h(6), comments=(("customer", h(6)),))
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == sorted([str(new), str(back)])
    assert by_id[str(new)].waiting_since == h(6)
    assert by_id[str(back)].waiting_since == h(3)  # the oldest unanswered, notes ignored
    t = by_id[str(new)]
    assert t.category == "Support"
    assert t.status == "new"
    assert t.priority == "normal"
    assert t.requester.startswith("Customer ")
    assert t.requester_email.endswith("@example.net")  # the sideloaded user's, for [[vip]]
    assert t.url == f"{fake.base}/agent/tickets/{new}"  # the agent UI, not the API URL
    assert snap.complete
    request = search_requests(fake)[0]
    assert request.args["query"] == "type:ticket status<pending"
    assert request.args["include"] == "tickets(users,slas,metric_sets)"
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
    )


def test_due_time_is_the_active_sla_breach_or_none(fake: FakeZendesk) -> None:
    sla = fake.add(
        "With SLA",
        created=h(2),
        comments=(("customer", h(2)),),
        breach_at=(("achieved", h(1)), ("active", NOW + timedelta(hours=3)),
                   ("active", NOW + timedelta(minutes=40)), ("paused", NOW)),
    )  # fmt: skip
    plain = fake.add("No SLA policy", created=h(2), comments=(("customer", h(2)),))
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert by_id[str(sla)].due_at == NOW + timedelta(minutes=40)
    assert by_id[str(plain)].due_at is None  # the response window decides


def test_only_reply_metrics_make_the_deadline(fake: FakeZendesk) -> None:
    """developer.zendesk.com/api-reference/ticketing/business-rules/sla_policies/: requester wait
    time and agent work time are resolution targets, not a reply deadline (before, the earliest
    breach of any metric was taken)."""
    tid = fake.add(
        "Reply and resolution targets",
        created=h(2),
        comments=(("customer", h(2)),),
        sla=(("requester_wait_time", "active", NOW + timedelta(minutes=10)),
             ("agent_work_time", "active", NOW + timedelta(minutes=20)),
             ("first_reply_time", "active", NOW + timedelta(hours=1))),
    )  # fmt: skip
    only_resolution = fake.add(
        "Only a resolution target",
        created=h(2),
        comments=(("customer", h(2)),),
        sla=(("requester_wait_time", "active", NOW + timedelta(minutes=10)),),
    )
    update = fake.add(
        "Periodic update",
        created=h(2),
        comments=(("customer", h(2)), ("agent", h(1)), ("customer", h(0.5))),
        sla=(("periodic_update_time", "active", NOW + timedelta(minutes=30)),
             ("agent_work_time", "active", NOW + timedelta(minutes=5))),
    )  # fmt: skip
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert by_id[str(tid)].due_at == NOW + timedelta(hours=1)
    assert by_id[str(only_resolution)].due_at is None  # the response window decides
    assert by_id[str(update)].due_at == NOW + timedelta(minutes=30)


def test_groups_filter_server_side(fake: FakeZendesk) -> None:
    fake.add("Support question", group=360001, created=h(2), comments=(("customer", h(2)),))
    bill = fake.add("Invoice", group=360002, created=h(2), comments=(("customer", h(2)),))
    sales = fake.add("Quote", group=360003, created=h(2), comments=(("customer", h(2)),))
    snap = make(fake, ("billing", "Sales")).fetch(None)
    assert sorted(t.id for t in snap.tickets) == sorted([str(bill), str(sales)])
    assert {t.category for t in snap.tickets} == {"Billing", "Sales"}
    queries = sorted(r.args["query"] for r in search_requests(fake))
    assert queries == [
        "type:ticket status<pending group:360002",
        "type:ticket status<pending group:360003",
    ]


def test_unknown_group_is_named(fake: FakeZendesk) -> None:
    with pytest.raises(NotConfigured, match="no group named 'Refunds'") as info:
        make(fake, ("Refunds",)).fetch(None)
    assert "Billing, Sales, Support" in str(info.value)


def test_extra_query_terms_are_added(fake: FakeZendesk) -> None:
    vip = fake.add("VIP", created=h(1), comments=(("customer", h(1)),))
    fake.tickets[-1]["tags"] = ["vip"]
    fake.add("Other", created=h(1), comments=(("customer", h(1)),))
    snap = make(fake, query="tags:vip").fetch(None)
    assert [t.id for t in snap.tickets] == [str(vip)]


def test_pagination_across_pages(fake: FakeZendesk) -> None:
    for n in range(250):
        fake.add(f"Q{n}", created=h(300 - n), comments=(("customer", h(300 - n)),))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 250 and snap.complete
    assert [r.args.get("page", "1") for r in search_requests(fake)] == ["1", "2", "3"]


def comment_reads(fake: FakeZendesk, tid: int) -> int:
    return sum(r.path == f"/api/v2/tickets/{tid}/comments.json" for r in fake.requests)


def test_comments_are_read_newest_first_back_to_the_last_agent_reply(fake: FakeZendesk) -> None:
    """List Comments (developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/):
    100 a page, cursor pagination, ``sort=-created_at`` newest first. A long thread costs one
    page when an agent's reply is among its newest comments; more only when the customer wrote
    more than a page since (was: every page of every thread, oldest first)."""
    thread = tuple((("customer", "agent")[n % 2], h(300 - n)) for n in range(231))
    tid = fake.add("Long thread", created=h(300), comments=thread)
    since = (("customer", h(398 - n)) for n in range(150))
    chatty = fake.add(
        "The customer wrote 150 times since",
        created=h(400),
        comments=(("customer", h(400)), ("agent", h(399)), *since),
    )
    snap = make(fake).fetch(None)
    by_id = {t.id: t.waiting_since for t in snap.tickets}
    assert by_id == {str(tid): h(300 - 230), str(chatty): h(398)}
    assert comment_reads(fake, tid) == 1
    assert comment_reads(fake, chatty) == 2
    asked = next(r for r in fake.requests if r.path == f"/api/v2/tickets/{tid}/comments.json")
    assert asked.args["sort"] == "-created_at"


def test_metric_sets_settle_unanswered_tickets_without_reading_comments(
    fake: FakeZendesk,
) -> None:
    """Ticket Metrics (developer.zendesk.com/api-reference/ticketing/tickets/ticket_metrics/)
    sideloaded on the search (``include=tickets(metric_sets)``): ``replies`` counts an agent's
    public replies only, and the submitter is the author of the first comment (Tickets,
    "Requesters and submitters"). A ticket with no reply that its requester submitted waits
    since it was created, with no comments request (was: one per open ticket); every other one
    is decided by its comments, so an internal note never answers and a public reply does."""
    noted = fake.add(
        "Only an internal note since", created=h(5), comments=(("customer", h(5)), ("note", h(4)))
    )
    answered = fake.add(
        "Answered publicly", created=h(5), comments=(("customer", h(5)), ("agent", h(4)))
    )
    back = fake.add(
        "The customer came back",
        created=h(9),
        comments=(("customer", h(9)), ("agent", h(8)), ("customer", h(3)), ("note", h(2))),
    )
    outbound = fake.add(
        "An agent opened it for the customer",
        created=h(6),
        submitter="agent",
        comments=(("agent", h(6)),),
    )
    outbound_back = fake.add(
        "Opened by an agent, the customer replied",
        created=h(6),
        submitter="agent",
        comments=(("agent", h(6)), ("customer", h(2))),
    )
    snap = make(fake).fetch(None)
    assert {t.id: t.waiting_since for t in snap.tickets} == {
        str(noted): h(5),
        str(back): h(3),
        str(outbound_back): h(2),
    }
    assert comment_reads(fake, noted) == 0  # settled by the listing
    for tid in (answered, back, outbound, outbound_back):
        assert comment_reads(fake, tid) == 1  # the listing cannot tell: its comments decide


def test_without_metric_sets_every_open_ticket_reads_its_comments(fake: FakeZendesk) -> None:
    """A Zendesk answer without the ``metric_sets`` sideload (the export search documents no
    sideloads) proves nothing: the comments decide, so an answered ticket never rings."""
    fake.metric_sets = False
    waiting = fake.add("Waiting", created=h(5), comments=(("customer", h(5)), ("note", h(4))))
    answered = fake.add("Answered", created=h(5), comments=(("customer", h(5)), ("agent", h(4))))
    snap = make(fake).fetch(None)
    assert [(t.id, t.waiting_since) for t in snap.tickets] == [(str(waiting), h(5))]
    assert comment_reads(fake, waiting) == comment_reads(fake, answered) == 1


def test_page_cap_marks_the_snapshot_incomplete(fake: FakeZendesk) -> None:
    for n in range(250):
        fake.add(f"Q{n}", created=h(300 - n), comments=(("customer", h(300 - n)),))
    source = make(fake)
    source.client.max_pages = 2
    snap = source.fetch(None)
    assert len(snap.tickets) == 200 and not snap.complete


def test_more_than_1000_waiting_are_all_listed_through_the_export_search(
    fake: FakeZendesk,
) -> None:
    """developer.zendesk.com/api-reference/ticketing/ticket-management/search/: the Search API
    stops at 1,000 results and answers page 11 with 422 (failed the poll before: page 10 links
    page 11); "Export Search Results" lists them all with cursor pagination."""
    for n in range(1003):
        fake.add(f"Q{n}", status="new", created=h(2000 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 1003 and snap.complete
    assert snap.tickets[0].waiting_since == h(2000)
    assert len(search_requests(fake)) == 1  # page 1 says count 1003: no page 11 (a 422)
    exports = [r for r in fake.requests if r.path == "/api/v2/search/export"]
    assert len(exports) == 11  # 100 a page, cursor pagination
    assert exports[0].args["query"] == "status<pending"  # the type goes in filter[type]
    assert exports[0].args["filter[type]"] == "ticket"
    assert len(fake.requests) == 13  # groups + 1 search + 11 export pages: new needs no comments


def test_idle_poll_is_cheap(fake: FakeZendesk) -> None:
    tid = fake.add("Q", created=h(2), comments=(("customer", h(2)),))
    source = make(fake)
    source.fetch(None)
    before = len(fake.requests)
    again = source.fetch(NOW)
    assert [t.id for t in again.tickets] == [str(tid)]
    assert fake.paths()[before:] == ["/api/v2/search.json"]  # no groups, no comments
    assert fake.not_modified == 1  # answered 304 thanks to the ETag
    fake.touch(tid, "agent", h(1))  # the team answers: the ticket changed, comments re-read
    assert source.fetch(NOW).tickets == ()


def test_idle_poll_of_a_long_listing_costs_one_request(fake: FakeZendesk) -> None:
    """Newest change first, page 1 answered 304 means nothing changed: pages 2 and 3 are not
    asked again (they were, one conditional request each)."""
    ids = [fake.add(f"Q{n}", created=h(300 - n), comments=(("customer", h(300 - n)),))
           for n in range(250)]  # fmt: skip
    source = make(fake)
    assert len(source.fetch(None).tickets) == 250
    assert search_requests(fake)[0].args["sort_by"] == "updated_at"
    before = len(fake.requests)
    assert len(source.fetch(NOW).tickets) == 250
    assert fake.paths()[before:] == ["/api/v2/search.json"]
    fake.touch(ids[5], "agent", h(1))  # an answer deep in the list moves it to page 1
    before = len(fake.requests)
    assert len(source.fetch(NOW).tickets) == 249
    assert fake.paths()[before:].count("/api/v2/search.json") == 3


def test_oauth_token_is_sent_as_bearer(fake: FakeZendesk) -> None:
    fake.oauth_token = "zd-oauth-SECRET-8c1f"
    tid = fake.add("Q", created=h(1), comments=(("customer", h(1)),))
    source = make(fake, token=fake.oauth_token, oauth=True)
    assert [t.id for t in source.fetch(None).tickets] == [str(tid)]
    assert fake.requests[0].headers["Authorization"] == "Bearer zd-oauth-SECRET-8c1f"


def test_email_is_required_for_an_api_token(fake: FakeZendesk) -> None:
    config = SourceConfig(name="Zendesk", kind="zendesk", url=fake.base, options={"oauth": False})
    with pytest.raises(NotConfigured, match="email"):
        ZendeskSource(config, TOKEN)


def test_url_with_api_suffix_is_accepted(fake: FakeZendesk) -> None:
    tid = fake.add("Q", created=h(1), comments=(("customer", h(1)),))
    snap = make(fake, url=fake.base + "/api/v2/").fetch(None)
    assert snap.tickets[0].url == f"{fake.base}/agent/tickets/{tid}"


def test_list_categories(fake: FakeZendesk) -> None:
    assert make(fake).list_categories() == ["Billing", "Sales", "Support"]


def test_rate_limit_headers_slow_us_down(fake: FakeZendesk) -> None:
    fake.add("Q", created=h(1), comments=(("customer", h(1)),))
    fake.remaining = 20  # of 700: under 10% left
    assert make(fake).fetch(None).throttle is not None


def test_parse_ticket_rejects_a_ticket_without_creation_time() -> None:
    with pytest.raises(BadResponse, match="without an id or creation time"):
        parse_ticket({"id": 1, "status": "open"}, None, source="Z", web="w", groups={}, users={})
    with pytest.raises(BadResponse, match="date that cannot be read"):
        parse_ticket({"id": 1, "status": "open", "created_at": "yesterday"}, None,
                     source="Z", web="w", groups={}, users={})  # fmt: skip


ERRORS = [
    (401, {}, AuthError, "Couldn't authenticate you"),
    (403, {}, Forbidden, "do not have access"),
    (404, {}, NotFound, "check the URL"),
    (422, {}, BadResponse, "Invalid search"),
    (429, {"Retry-After": "37"}, RateLimited, "slow down"),
    (500, {}, Unavailable, "problem of its own"),
    (503, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "no list of"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_the_token(
    fake: FakeZendesk,
    caplog: pytest.LogCaptureFixture,
    failure: str | int,
    headers: dict[str, str],
    error: type[SourceError],
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add("Q", created=h(1), comments=(("customer", h(1)),))
    raised = expect_failure(
        lambda: make(fake).fetch(None), fake, failure, headers, error, words,
        [TOKEN, base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()], lambda: caplog.text,
    )  # fmt: skip
    if failure == 429:
        assert raised.retry_after == 37  # type: ignore[attr-defined]


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig("Zendesk", "zendesk", url=closed_port_url(), user=EMAIL)
    with pytest.raises(Unreachable, match="refused") as info:
        ZendeskSource(config, TOKEN).fetch(None)
    assert TOKEN not in str(info.value) + info.value.detail + caplog.text
