"""The freshdesk kind against a fake Freshdesk API v2 on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import re
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
from agent.sources.freshdesk import (
    MAX_STATS_PAGES,
    FreshdeskSource,
    parse_status_field,
    search_query,
)
from tests.fakes.freshdesk import FakeFreshdesk
from tests.fakes.web import closed_port_url, expect_failure

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEY = "fdSECRETkey9Rz2xQw4"


@pytest.fixture
def fake(server: HTTPServer) -> FakeFreshdesk:
    return FakeFreshdesk(server, KEY)


def make(
    fake: FakeFreshdesk, categories: tuple[str, ...] = (), *, url: str = "", **options: object
) -> FreshdeskSource:
    config = SourceConfig(
        name="Freshdesk", kind="freshdesk", url=url or fake.base, categories=categories,
        timeout=5, options=options,
    )  # fmt: skip
    return FreshdeskSource(config, KEY, clock=lambda: NOW)


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def searches(fake: FakeFreshdesk) -> list:
    return [r for r in fake.requests if r.path == "/api/v2/search/tickets"]


def test_registered_with_a_description() -> None:
    assert source_class("freshdesk") is FreshdeskSource
    assert "Freshdesk" in FreshdeskSource.description


def test_search_query_is_quoted_and_grouped() -> None:
    assert search_query([2], []) == '"status:2"'
    assert (
        search_query([2, 6], [11, 12])
        == '"(status:2 OR status:6) AND (group_id:11 OR group_id:12)"'
    )
    assert search_query([2], [12]) == '"status:2 AND group_id:12"'


def test_waiting_follows_the_conversations(fake: FakeFreshdesk) -> None:
    new = fake.add("Cannot log in", created=h(6), priority=3)
    fake.add("We replied", created=h(6), convs=(("agent", h(5)),))
    back = fake.add(
        "Came back",
        created=h(9),
        convs=(("agent", h(8)), ("customer", h(3)), ("note", h(2)), ("customer", h(1))),
    )
    outbound = fake.add("We wrote first", source=10, created=h(4))
    answer = fake.add("Outbound answered", source=10, created=h(4), convs=(("customer", h(2)),))
    fake.add("Pending", status=3, created=h(6))
    fake.add("Resolved", status=4, created=h(6))
    fake.add("Closed", status=5, created=h(6))
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == sorted(str(x) for x in (new, back, answer))
    assert outbound not in by_id
    assert by_id[str(new)].waiting_since == h(6)
    assert by_id[str(back)].waiting_since == h(3)  # the oldest unanswered, notes ignored
    assert by_id[str(answer)].waiting_since == h(2)
    t = by_id[str(new)]
    assert (t.category, t.priority, t.status) == ("Support", "high", "open")
    assert t.url == f"{fake.base}/a/tickets/{new}"
    assert by_id[str(back)].requester == "Jane Doe"
    assert snap.complete
    # Open, and 7 "Waiting on Third Party" (shown to the customer as "Being Processed")
    assert searches(fake)[0].args["query"] == '"(status:2 OR status:7)"'
    user, _, password = (
        base64.b64decode(fake.requests[0].headers["Authorization"][6:]).decode().partition(":")
    )
    assert (user, password) == (KEY, "X")


def test_due_time_is_first_response_then_next_response_never_resolution(
    fake: FakeFreshdesk,
) -> None:
    """Tickets carry fr_due_by (first response), nr_due_by (next response) and due_by (the
    resolution, developers.freshdesk.com/api/ "Create a Ticket"): after the first reply the
    deadline is nr_due_by; it used to fall back to due_by."""
    first = fake.add("No reply yet", created=h(2), fr_due_by=NOW + timedelta(hours=1),
                     due_by=NOW + timedelta(days=2))  # fmt: skip
    later = fake.add("Replied once", created=h(5), convs=(("agent", h(4)), ("customer", h(1))),
                     fr_due_by=h(3), nr_due_by=NOW + timedelta(hours=2),
                     due_by=NOW + timedelta(hours=20))  # fmt: skip
    no_next = fake.add("No next-response SLA", created=h(5),
                       convs=(("agent", h(4)), ("customer", h(1))), fr_due_by=h(3),
                       due_by=NOW + timedelta(hours=20))  # fmt: skip
    none = fake.add("No SLA", created=h(2))
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert by_id[str(first)].due_at == NOW + timedelta(hours=1)  # first response due
    assert by_id[str(later)].due_at == NOW + timedelta(hours=2)  # then the next response due
    assert by_id[str(no_next)].due_at is None  # never the resolution: the window decides
    assert by_id[str(none)].due_at is None


@pytest.mark.parametrize("stats", [True, False], ids=["from stats", "from conversations"])
def test_the_author_decides_who_wrote_not_incoming(fake: FakeFreshdesk, stats: bool) -> None:
    """developers.freshdesk.com/api/ "Conversations": incoming is "created from outside (i.e.,
    not through web portal)", user_id is who added it. A requester's portal reply (incoming
    false) waits, and so does another contact's email; they were taken as the team's. Both the
    stats and, where the sweep did not reach, the conversations say so."""
    portal = fake.add("Replied in the portal", created=h(6),
                      convs=(("agent", h(5)), ("portal", h(2))))  # fmt: skip
    cc = fake.add("Her boss wrote", created=h(6), convs=(("agent", h(5)), ("cc", h(3))))
    answered = fake.add("Answered", created=h(6), convs=(("portal", h(5)), ("agent", h(4))))
    source = make(fake)
    source.stats_pages = MAX_STATS_PAGES if stats else 0
    snap = source.fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == sorted([str(portal), str(cc)])
    assert by_id[str(portal)].waiting_since == h(2)
    assert by_id[str(cc)].waiting_since == h(3)
    assert answered
    lookups = sorted(p for p in fake.paths() if "/contacts/" in p)
    if stats:
        assert lookups == [] and not [p for p in fake.paths() if p.endswith("/conversations")]
    else:  # the other contact and the agent, each looked up once: 200 a contact, 404 an agent
        assert lookups == ["/api/v2/contacts/5002", "/api/v2/contacts/77"]


def test_a_key_that_cannot_view_contacts_is_told_so(fake: FakeFreshdesk) -> None:
    fake.contacts_forbidden = True
    fake.add("Came back", created=h(6), convs=(("agent", h(5)), ("customer", h(2))))
    source = make(fake)
    source.stats_pages = 0  # its conversations are read
    with pytest.raises(Forbidden, match="view contacts"):
        source.fetch(None)


def test_many_groups_are_split_into_queries_of_at_most_512_characters(
    fake: FakeFreshdesk,
) -> None:
    """developers.freshdesk.com/api/ "Filter Tickets": the query "can have up to 512
    characters"; 40 groups made one longer query that Freshdesk refused (400)."""
    fake.groups = {43000100000 + n: f"Team {n:02}" for n in range(40)}
    ids = [fake.add(f"Q{n}", group=43000100000 + n, created=h(2)) for n in range(40)]
    snap = make(fake, tuple(f"Team {n:02}" for n in range(40))).fetch(None)
    assert sorted(t.id for t in snap.tickets) == sorted(str(i) for i in ids) and snap.complete
    queries = [r.args["query"] for r in searches(fake)]
    assert len(queries) > 1 and all(len(q) <= 512 for q in queries)
    asked = {int(g) for q in queries for g in re.findall(r"group_id:(\d+)", q)}
    assert asked == set(fake.groups)


def test_first_sync_reads_stats_not_each_tickets_conversations(fake: FakeFreshdesk) -> None:
    """The tickets list with include=stats (python-freshdesk's recorded ticket_1.json) says who
    responded last and since when the customer waits: a first sync of 75 tickets cost 75
    conversation reads; now the filter pages and one stats page."""
    fake.now = NOW
    for n in range(73):
        convs = (("customer", h(150 - n)), ("agent", h(100 - n))) if n % 2 else ()
        fake.add(f"Q{n}", created=h(200 - n), convs=convs)  # every other one answered
    back = fake.add("Came back twice", created=h(9),
                    convs=(("agent", h(8)), ("customer", h(3)), ("customer", h(1))))  # fmt: skip
    old = fake.add("Open for two months", created=NOW - timedelta(days=60))
    source = make(fake)
    snap = source.fetch(None)
    assert len(snap.tickets) == 37 + 2 and snap.complete
    by_id = {t.id: t for t in snap.tickets}
    assert by_id[str(back)].waiting_since == h(3)
    assert by_id[str(old)].waiting_since == NOW - timedelta(days=60)
    paths = fake.paths()
    assert paths.count("/api/v2/search/tickets") == 3  # 75 tickets, 30 a page
    assert paths.count("/api/v2/tickets") == 1  # 100 a page, updated since the oldest
    assert len(paths) == 2 + 3 + 1  # groups, ticket fields, search pages, one stats page
    stats = next(r for r in fake.requests if r.path == "/api/v2/tickets")
    assert stats.args["include"] == "stats,requester"
    assert stats.args["order_by"] == "updated_at" and stats.args["order_type"] == "desc"
    before = len(fake.requests)
    fake.touch(back, "agent", h(0.5))  # answered: one request for what changed since
    assert len(source.fetch(NOW).tickets) == 37 + 1
    assert fake.paths()[before:] == ["/api/v2/tickets"]
    before = len(fake.requests)
    assert len(source.fetch(NOW).tickets) == 37 + 1  # idle: that one request
    assert fake.paths()[before:] == ["/api/v2/tickets"]


def test_the_stats_sweep_stops_after_ten_pages(fake: FakeFreshdesk) -> None:
    """A ticket waiting for weeks behind 1,050 newer changes: ten pages of stats at most, then
    its conversations are read instead of paging through the whole account."""
    thread = (("agent", h(1990)), ("customer", h(1900)))
    old = fake.add("Waiting for weeks", created=h(2000), convs=thread)
    for n in range(1050):
        fake.add(f"Done {n}", status=4, created=h(1500 - n))
    new = fake.add("New", created=h(1))
    snap = make(fake).fetch(None)
    assert sorted(t.id for t in snap.tickets) == sorted([str(old), str(new)]) and snap.complete
    assert {t.id: t.waiting_since for t in snap.tickets}[str(old)] == h(1900)
    assert fake.paths().count("/api/v2/tickets") == 10
    assert f"/api/v2/tickets/{old}/conversations" in fake.paths()


def test_statuses_come_from_the_status_field(fake: FakeFreshdesk) -> None:
    """developers.freshdesk.com/api/ "List All Ticket Fields": the status choices say how each
    status is shown to the customer. A custom status shown like Pending ("Awaiting your Reply")
    waits on the customer; one shown like Open waits on the team. Before, only 2 counted unless
    the statuses were typed in by hand."""
    fake.status_choices["8"] = ["Escalated to second line", "Being Processed"]
    second = fake.add("With the second line", status=8, created=h(1))
    fake.add("Waiting on customer", status=6, created=h(1))
    fake.add("Pending", status=3, created=h(1))
    snap = make(fake).fetch(None)
    assert [t.id for t in snap.tickets] == [str(second)]
    assert snap.tickets[0].status == "8"
    assert searches(fake)[0].args["query"] == '"(status:2 OR status:7 OR status:8)"'
    fields = [r for r in fake.requests if r.path == "/api/v2/ticket_fields"]
    assert [r.args["type"] for r in fields] == ["default_status"]


def test_status_choices_that_stop_the_sla_timer_do_not_wait() -> None:
    """Freshdesk's newer choice objects say whether a status stops the SLA timer."""
    field = {"name": "status", "type": "default_status", "choices": [
        {"value": 2, "customer_display_name": "Being Processed", "stop_sla_timer": False},
        {"value": 3, "customer_display_name": "Awaiting your Reply", "stop_sla_timer": True},
        {"value": 4, "customer_display_name": "Resolved", "stop_sla_timer": True},
        {"value": 9, "customer_display_name": "Being Processed", "stop_sla_timer": True},
        {"value": 10, "customer_display_name": "Being Processed", "stop_sla_timer": False},
        {"value": 11, "customer_display_name": "In review", "stop_sla_timer": False,
         "deleted": True},
    ]}  # fmt: skip
    assert parse_status_field([field]) == {2, 10}
    with pytest.raises(BadResponse, match="no status field"):
        parse_status_field([{"name": "priority", "choices": {}}])


def test_statuses_typed_in_override_the_status_field(fake: FakeFreshdesk) -> None:
    custom = fake.add("Waiting on second line", status=6, created=h(1))
    fake.add("Pending", status=3, created=h(1))
    snap = make(fake, statuses=["2", "6"]).fetch(None)
    assert [t.id for t in snap.tickets] == [str(custom)]
    assert snap.tickets[0].status == "6"
    assert searches(fake)[0].args["query"] == '"(status:2 OR status:6)"'


def test_bad_statuses_are_named(fake: FakeFreshdesk) -> None:
    with pytest.raises(NotConfigured, match="status numbers"):
        make(fake, statuses=["open"])


def test_groups_filter_server_side(fake: FakeFreshdesk) -> None:
    fake.add("Support", group=11, created=h(2))
    bill = fake.add("Invoice", group=12, created=h(2))
    sales = fake.add("Quote", group=13, created=h(2))
    snap = make(fake, ("billing", "Sales")).fetch(None)
    assert sorted(t.id for t in snap.tickets) == sorted([str(bill), str(sales)])
    assert searches(fake)[0].args["query"] == (
        '"(status:2 OR status:7) AND (group_id:12 OR group_id:13)"'
    )


def test_unknown_group_is_named(fake: FakeFreshdesk) -> None:
    with pytest.raises(NotConfigured, match="no group named 'Refunds'") as info:
        make(fake, ("Refunds",)).fetch(None)
    assert "Billing, Sales, Support" in str(info.value)


def test_pagination_across_pages(fake: FakeFreshdesk) -> None:
    for n in range(75):
        fake.add(f"Q{n}", created=h(100 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 75 and snap.complete
    assert [r.args.get("page", "1") for r in searches(fake)] == ["1", "2", "3"]


def test_conversations_are_paged_and_read_only_when_the_ticket_changed(
    fake: FakeFreshdesk,
) -> None:
    thread = tuple((("customer", "agent")[n % 2], h(300 - n)) for n in range(1, 231))
    tid = fake.add("Long thread", created=h(300), convs=thread)
    source = make(fake)
    source.stats_pages = 0  # no stats sweep: the conversations are read
    assert [t.waiting_since for t in source.fetch(None).tickets] == [h(300 - 230)]
    reads = [r for r in fake.requests if r.path.endswith("/conversations")]
    assert len(reads) == 3
    before = len(fake.requests)
    source.fetch(NOW)
    assert fake.paths()[before:] == ["/api/v2/tickets"]  # an idle poll: one request
    assert tid


def test_between_full_listings_only_changes_are_read(fake: FakeFreshdesk) -> None:
    """ "List All Tickets" with updated_since (developers.freshdesk.com/api/): a new ticket, an
    answer and a status change each arrive through one request; every 15 minutes the filter
    API lists them all again (a deleted ticket leaves the tickets list without a trace)."""
    clock = [NOW]
    config = SourceConfig(name="Freshdesk", kind="freshdesk", url=fake.base, timeout=5)
    source = FreshdeskSource(config, KEY, clock=lambda: clock[0])
    answered = fake.add("Will be answered", created=h(5))
    pending = fake.add("Will be pending", created=h(5))
    deleted = fake.add("Will be deleted", created=h(5))
    assert len(source.fetch(None).tickets) == 3
    fake.touch(answered, "agent", NOW + timedelta(minutes=1))
    fake.tickets[1].update(status=3, updated_at="2026-11-23T10:02:00Z")
    new = fake.add("Arrived", created=NOW + timedelta(minutes=3))
    fake.tickets.remove(next(t for t in fake.tickets if t["id"] == deleted))
    clock[0] = NOW + timedelta(minutes=5)
    before = len(fake.requests)
    snap = source.fetch(None)
    assert sorted(t.id for t in snap.tickets) == sorted([str(deleted), str(new)])
    assert fake.paths()[before:] == ["/api/v2/tickets"]
    assert fake.requests[before].args["order_type"] == "asc"
    clock[0] = NOW + timedelta(minutes=16)
    before = len(fake.requests)
    snap = source.fetch(None)
    assert [t.id for t in snap.tickets] == [str(new)] and snap.complete
    assert fake.paths()[before:] == ["/api/v2/search/tickets"]
    assert pending


def test_more_than_300_is_incomplete(fake: FakeFreshdesk) -> None:
    for n in range(305):
        fake.add(f"Q{n}", created=h(400 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 300 and not snap.complete
    assert len(searches(fake)) == 10  # page 11 would be refused (400)


def test_after_an_incomplete_poll_everything_is_listed_again(fake: FakeFreshdesk) -> None:
    """A poll that could not read every waiting ticket (past the filter API's 300) is followed by
    a full listing, not a look for changes only: what it missed is read at the next poll."""
    for n in range(305):
        fake.add(f"Q{n}", created=h(400 - n))
    source = make(fake)
    assert not source.fetch(None).complete
    before = len(fake.requests)
    source.fetch(None)
    assert "/api/v2/tickets" not in fake.paths()[before:]
    assert len(searches(fake)) == 20


def test_page_cap_marks_the_snapshot_incomplete(fake: FakeFreshdesk) -> None:
    for n in range(75):
        fake.add(f"Q{n}", created=h(100 - n))
    source = make(fake)
    source.client.max_pages = 2
    snap = source.fetch(None)
    assert len(snap.tickets) == 60 and not snap.complete


def test_list_categories(fake: FakeFreshdesk) -> None:
    assert make(fake).list_categories() == ["Billing", "Sales", "Support"]


def test_rate_limit_headers_slow_us_down(fake: FakeFreshdesk) -> None:
    fake.add("Q", created=h(1))
    fake.remaining = 100  # of 3000
    assert make(fake).fetch(None).throttle is not None


ERRORS = [
    (400, {}, BadResponse, "HTTP 400"),
    (401, {}, AuthError, "have to be logged in"),
    (403, {}, Forbidden, "not authorized"),
    (404, {}, NotFound, "check the URL"),
    (429, {"Retry-After": "55"}, RateLimited, "exceeded the limit"),
    (500, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "not a list of ticket fields"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_the_key(
    fake: FakeFreshdesk,
    caplog: pytest.LogCaptureFixture,
    failure: str | int,
    headers: dict[str, str],
    error: type[SourceError],
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add("Q", created=h(1))
    raised = expect_failure(
        lambda: make(fake).fetch(None), fake, failure, headers, error, words,
        [KEY, base64.b64encode(f"{KEY}:X".encode()).decode()], lambda: caplog.text,
    )  # fmt: skip
    if failure == 429:
        assert raised.retry_after == 55  # type: ignore[attr-defined]


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig("Freshdesk", "freshdesk", url=closed_port_url())
    with pytest.raises(Unreachable, match="refused") as info:
        FreshdeskSource(config, KEY).fetch(None)
    assert KEY not in str(info.value) + info.value.detail + caplog.text
