"""The zammad kind against a fake Zammad REST API on 127.0.0.1."""

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
    NotFound,
    RateLimited,
    SourceError,
    Unavailable,
    Unreachable,
)
from agent.sources.zammad import ZammadSource, parse_search, search_query
from tests.fakes.web import closed_port_url, expect_failure
from tests.fakes.zammad import FakeZammad

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TOKEN = "zammad-SECRET-Yx81TmQ0wLk_3pVn"


@pytest.fixture
def fake(server: HTTPServer) -> FakeZammad:
    return FakeZammad(server, TOKEN)


def make(
    fake: FakeZammad, categories: tuple[str, ...] = (), *, url: str = "", **options: object
) -> ZammadSource:
    config = SourceConfig(
        name="Zammad", kind="zammad", url=url or fake.base, categories=categories, timeout=5,
        options={"states": ["new", "open"], **options},
    )  # fmt: skip
    return ZammadSource(config, TOKEN, clock=lambda: NOW)


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def internal_id(fake: FakeZammad, number: str) -> int:
    return next(t["id"] for t in fake.tickets if t["number"] == number)


def searches(fake: FakeZammad) -> list:
    return [r for r in fake.requests if r.path == "/api/v1/tickets/search"]


def test_registered_with_a_description() -> None:
    assert source_class("zammad") is ZammadSource
    assert "Zammad" in ZammadSource.description


def test_search_query() -> None:
    assert search_query(["new", "open"], []) == 'state.name:("new" OR "open")'
    assert search_query(["open"], ["1st Level", 'Say "hi"']) == (
        'state.name:("open") AND group.name:("1st Level" OR "Say \\"hi\\"")'
    )


def test_waiting_follows_the_contact_times_and_articles(fake: FakeZammad) -> None:
    new = fake.add("VPN drops every hour", state="new", created=h(6), priority=3,
                   owner=(5, "anna"), organization="Globex")  # fmt: skip
    fake.add("We replied", created=h(6), articles=(("customer", h(6)), ("agent", h(5))))
    back = fake.add(
        "Came back",
        created=h(9),
        articles=(("customer", h(9)), ("agent", h(8)), ("customer", h(3)), ("note", h(2)),
                  ("system", h(2)), ("customer", h(1))),
    )  # fmt: skip
    fake.add("Pending reminder", state="pending reminder", created=h(6))
    fake.add("Pending close", state="pending close", created=h(6))
    fake.add("Closed", state="closed", created=h(6))
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == sorted([new, back])
    assert by_id[new].waiting_since == h(6)
    assert by_id[back].waiting_since == h(3)  # the oldest unanswered, notes ignored
    t = by_id[new]
    assert (t.category, t.priority, t.status, t.assignee) == ("1st Level", "high", "new", "anna")
    assert t.requester == "jane@example.com"
    assert t.organization == "Globex"  # for [[vip]] organisation rules
    internal = next(x["id"] for x in fake.tickets if x["number"] == new)
    assert t.url == f"{fake.base}/#ticket/zoom/{internal}"
    assert by_id[back].assignee == ""  # owner "-" (id 1) is nobody
    assert snap.complete
    request = searches(fake)[0]
    assert request.args["query"] == 'state.name:("new" OR "open")'
    assert request.args["expand"] == "true"
    assert request.headers["Authorization"] == f"Token token={TOKEN}"
    # an answered ticket's articles are not even read: the contact times decided; nor are those
    # of a ticket whose only article is the customer's: it waits since that contact
    assert [r.path for r in fake.requests if "ticket_articles" in r.path] == [
        f"/api/v1/ticket_articles/by_ticket/{internal_id(fake, back)}"
    ]


def test_only_communication_articles_answer(fake: FakeZammad) -> None:
    """A public note is not an answer; a phone call logged by an agent is.

    Zammad's own rule (zammad/zammad app/models/ticket/article/has_ticket_contact_attributes_
    impact.rb): ``last_contact_agent_at`` moves only for a non-internal article whose type is a
    communication type (db/seeds/ticket_article_types.rb: every seeded type but ``note``).
    Failed before: the public note was taken as the team's answer and the ticket vanished.
    """
    noted = fake.add("Public note only", created=h(5),
                     articles=(("customer", h(5)), ("public note", h(4))))  # fmt: skip
    phoned = fake.add("Phoned back", created=h(5),
                      articles=(("customer", h(5)), ("agent/phone", h(4))))  # fmt: skip
    chat = fake.add("Chat, then a note", created=h(9),
                    articles=(("customer/chat", h(9)), ("agent/chat", h(8)),
                              ("customer/web", h(3)), ("public note", h(2))))  # fmt: skip
    ticket = next(t for t in fake.tickets if t["number"] == noted)
    assert ticket["last_contact_agent_at"] is None  # Zammad did not count the note either
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert sorted(by_id) == sorted([noted, chat])
    assert phoned not in by_id
    assert by_id[noted].waiting_since == h(5)
    assert by_id[chat].waiting_since == h(3)


def test_deadline_is_first_response_then_update_never_close(fake: FakeZammad) -> None:
    """lib/escalation.rb: ``escalation_at`` is the earliest of first response, update and close
    escalation; the close (solution) time is a resolution target, not a response deadline.
    Failed before: ``escalation_at`` was used, so the solution time rang as a late reply."""
    first = fake.add("Not answered yet", created=h(1), sla=(120, 240, 30))
    again = fake.add(
        "Customer came back",
        created=h(10),
        articles=(("customer", h(10)), ("agent", h(9)), ("customer", h(1))),
        sla=(60, 240, 120),
    )
    plain = fake.add("No SLA", created=h(2))
    tickets = {t["number"]: t for t in fake.tickets}
    assert tickets[first]["escalation_at"] == tickets[first]["close_escalation_at"]
    assert tickets[again]["first_response_escalation_at"] is None  # answered once
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert by_id[first].due_at == NOW + timedelta(hours=1)  # created + 120 min
    assert by_id[again].due_at == NOW + timedelta(hours=3)  # customer's return + 240 min
    assert by_id[plain].due_at is None


def test_empty_search_is_checked_against_the_plain_listing(fake: FakeZammad) -> None:
    """Zammad's search runs on Elasticsearch, "highly recommended"
    (https://docs.zammad.org/en/latest/install-elasticsearch.html), not required: without it
    the search falls back to SQL text matching (app/models/ticket/search.rb) and finds nothing.
    Failed before: that empty answer was believed and showed "0 waiting"."""
    fake.search_index = False
    for n in range(120):
        fake.add(f"Closed {n}", state="closed", group=2, created=h(200 - n))
    waiting = fake.add("Invoice wrong", group=3, created=h(2))
    fake.add("Other group", group=1, created=h(2))
    fake.add("Pending", state="pending reminder", group=3, created=h(2))
    snap = make(fake, ("Billing", "1st Level")).fetch(None)
    assert [t.id for t in snap.tickets] == [waiting]
    assert snap.tickets[0].category == "Billing"
    assert snap.complete
    listing = [r for r in fake.requests if r.path == "/api/v1/tickets"]
    assert [r.args["page"] for r in listing] == ["1", "2"]  # 123 tickets, 100 a page


def test_an_empty_search_confirmed_by_the_listing_is_believed(fake: FakeZammad) -> None:
    """With Elasticsearch: the listing's first ticket is found by number, so the empty search is
    believed at the cost of two more requests, however long the listing."""
    for n in range(150):
        fake.add(f"Closed {n}", state="closed", created=h(300 - n))
    snap = make(fake).fetch(None)
    assert snap.tickets == () and snap.complete
    assert fake.paths() == ["/api/v1/tickets/search", "/api/v1/tickets", "/api/v1/tickets/search"]
    assert fake.requests[2].args["query"] == "number:31057"
    fake.requests.clear()
    fake.tickets.clear()  # no tickets at all: the empty listing says so
    assert make(fake).fetch(NOW).complete
    assert fake.paths() == ["/api/v1/tickets/search", "/api/v1/tickets"]


def test_without_a_search_index_a_cut_listing_is_incomplete(fake: FakeZammad) -> None:
    """A listing cut short by the page cap cannot prove "nothing waiting"."""
    fake.search_index = False
    for n in range(250):
        fake.add(f"Closed {n}", state="closed", created=h(300 - n))
    source = make(fake)
    source.client.max_pages = 1
    snap = source.fetch(None)
    assert snap.tickets == () and not snap.complete


def test_groups_filter_server_side(fake: FakeZammad) -> None:
    fake.add("Users", group=1, created=h(2))
    first = fake.add("First", group=2, created=h(2))
    bill = fake.add("Invoice", group=3, created=h(2))
    snap = make(fake, ("1st Level", "Billing")).fetch(None)
    assert sorted(t.id for t in snap.tickets) == sorted([first, bill])
    assert searches(fake)[0].args["query"].endswith('AND group.name:("1st Level" OR "Billing")')


def test_token_permissions_decide_what_is_seen(fake: FakeZammad) -> None:
    fake.add("Users", group=1, created=h(2))
    bill = fake.add("Invoice", group=3, created=h(2))
    fake.visible_groups = {3}
    assert [t.id for t in make(fake).fetch(None).tickets] == [bill]


def test_pagination_until_a_short_page(fake: FakeZammad) -> None:
    for n in range(230):
        fake.add(f"Q{n}", state="new", created=h(300 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 230 and snap.complete
    assert [r.args["page"] for r in searches(fake)] == ["1", "2", "3"]


def test_page_cap_marks_the_snapshot_incomplete(fake: FakeZammad) -> None:
    for n in range(230):
        fake.add(f"Q{n}", state="new", created=h(300 - n))
    source = make(fake)
    source.client.max_pages = 2
    snap = source.fetch(None)
    assert len(snap.tickets) == 200 and not snap.complete


def test_idle_poll_reads_no_articles(fake: FakeZammad) -> None:
    fake.add("Q", created=h(2))
    source = make(fake)
    source.fetch(None)
    before = len(fake.requests)
    assert len(source.fetch(NOW).tickets) == 1
    assert fake.paths()[before:] == ["/api/v1/tickets/search"]


def test_search_without_expand_is_understood() -> None:
    data = {"tickets": [57], "tickets_count": 1, "assets": {"Ticket": {"57": {"id": 57}}}}
    assert parse_search(data) == [{"id": 57}]
    with pytest.raises(BadResponse):
        parse_search({"tickets": [57]})


def test_list_categories(fake: FakeZammad) -> None:
    assert make(fake).list_categories() == ["1st Level", "Billing", "Users"]


ERRORS = [
    (401, {}, AuthError, "Authentication failed"),
    (403, {}, Forbidden, "Not authorized"),
    (404, {}, NotFound, "check the URL"),
    (422, {}, BadResponse, "HTTP 422"),
    (429, {"Retry-After": "30"}, RateLimited, "slow down"),
    (502, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "not a list of tickets"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_the_token(
    fake: FakeZammad,
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
        [TOKEN], lambda: caplog.text,
    )  # fmt: skip
    if failure == 429:
        assert raised.retry_after == 30  # type: ignore[attr-defined]


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig("Zammad", "zammad", url=closed_port_url())
    with pytest.raises(Unreachable, match="refused") as info:
        ZammadSource(config, TOKEN).fetch(None)
    assert TOKEN not in str(info.value) + info.value.detail + caplog.text


def test_a_first_sync_reads_no_articles_for_tickets_with_only_the_customers_article(
    fake: FakeZammad,
) -> None:
    """300 new tickets, each the customer's one article: pages of the search only. Two
    customer articles still read the articles: under ``based_on_customer_reaction`` the contact
    time would be the later one (has_ticket_contact_attributes_impact.rb). Failed before: one
    article request per ticket (304 requests for 300)."""
    for n in range(299):
        fake.add(f"Q{n}", created=h(300 - n))
    twice = fake.add("Wrote twice", created=h(5), articles=(("customer", h(5)), ("customer", h(4))))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 300 and snap.complete
    assert {t.id: t.waiting_since for t in snap.tickets}[twice] == h(5)
    assert [r.path for r in fake.requests if "ticket_articles" in r.path] == [
        f"/api/v1/ticket_articles/by_ticket/{internal_id(fake, twice)}"
    ]
    assert len(searches(fake)) == 4  # three full pages and the empty fourth


def test_a_ticket_that_starts_waiting_on_page_three_is_seen_by_the_idle_poll(
    fake: FakeZammad,
) -> None:
    """Between full searches one "since" search (``updated_at:>now-Nm``) in every state: a
    ticket on page three of the listing that the team had answered and the customer writes to
    again comes in, one closed by an agent's reply leaves, and an idle poll is one request.
    Failed before: every page every poll, and nothing cheaper to fall back on."""
    clock = [NOW]
    fake.now = NOW
    numbers = [fake.add(f"Q{n}", created=h(300 - n)) for n in range(299)]
    answered = fake.add("Answered", created=h(2), articles=(("customer", h(2)), ("agent", h(1))))
    source = make(fake)
    source.clock = lambda: clock[0]
    first = source.fetch(None)
    assert len(first.tickets) == 299 and answered not in {t.id for t in first.tickets}
    fake.requests.clear()
    assert len(source.fetch(NOW).tickets) == 299
    assert [r.args["query"] for r in fake.requests] == ["updated_at:>now-15m"]
    clock[0] = fake.now = NOW + timedelta(minutes=2)
    fake.write(answered, "customer", NOW + timedelta(minutes=1))
    fake.write(numbers[250], "agent", NOW + timedelta(minutes=1), state="closed")
    fake.requests.clear()
    snap = source.fetch(NOW)
    by_id = {t.id: t for t in snap.tickets}
    assert by_id[answered].waiting_since == NOW + timedelta(minutes=1)
    assert numbers[250] not in by_id and len(by_id) == 299 and snap.complete
    assert [r.args.get("query") for r in searches(fake)] == ["updated_at:>now-17m"]
    assert [r.path for r in fake.requests if "ticket_articles" in r.path] == [
        f"/api/v1/ticket_articles/by_ticket/{internal_id(fake, answered)}"
    ]


def test_every_fifteen_minutes_everything_is_searched_again(fake: FakeZammad) -> None:
    """A ticket the "since" search cannot show (here: deleted) is dropped by the full search
    every 15 minutes, as Freshdesk's."""
    clock = [NOW]
    fake.now = NOW
    fake.add("Stays", created=h(2))
    gone = fake.add("Gone", created=h(2))
    source = make(fake)
    source.clock = lambda: clock[0]
    assert len(source.fetch(None).tickets) == 2
    fake.tickets = [t for t in fake.tickets if t["number"] != gone]
    clock[0] = fake.now = NOW + timedelta(minutes=15)
    fake.requests.clear()
    assert len(source.fetch(NOW).tickets) == 1
    assert searches(fake)[0].args["query"].startswith("state.name:")


def test_without_a_search_index_every_poll_reads_the_listing(fake: FakeZammad) -> None:
    """Without Elasticsearch a "since" search finds nothing: a ticket that starts waiting
    would be missed until the next full search, so the listing is read every poll."""
    fake.search_index = False
    fake.add("Waiting", created=h(2))
    source = make(fake)
    assert len(source.fetch(None).tickets) == 1
    late = fake.add("New", created=h(1))
    assert {t.id for t in source.fetch(NOW).tickets} >= {late}
