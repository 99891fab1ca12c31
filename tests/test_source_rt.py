"""The rt kind against a fake Request Tracker 5 REST2 API on 127.0.0.1."""

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
from agent.sources.rt import RTSource, _time, ticket_sql
from tests.fakes.rt import FakeRT
from tests.fakes.web import closed_port_url, expect_failure

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TOKEN = "1-14-SECRETrt9a8b7c6d5e4f3a2b1c0d9e8f"


@pytest.fixture
def fake(server: HTTPServer) -> FakeRT:
    return FakeRT(server, TOKEN)


def make(
    fake: FakeRT, categories: tuple[str, ...] = (), *, url: str = "", **options: object
) -> RTSource:
    config = SourceConfig(
        name="RT", kind="rt", url=url or fake.base, categories=categories, timeout=5,
        options={"statuses": ["new", "open"], **options},
    )  # fmt: skip
    return RTSource(config, TOKEN, clock=lambda: NOW)


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def searches(fake: FakeRT) -> list:
    return [r for r in fake.requests if r.path == "/REST/2.0/tickets"]


def test_registered_with_a_description() -> None:
    assert source_class("rt") is RTSource
    assert "Request Tracker" in RTSource.description


def test_ticket_sql() -> None:
    assert ticket_sql(["new", "open"], []) == "(Status = 'new' OR Status = 'open')"
    assert ticket_sql(["open"], ["Support", "O'Brien"]) == (
        "(Status = 'open') AND (Queue = 'Support' OR Queue = 'O\\'Brien')"
    )


def test_dates_in_the_odd_documented_form_are_read() -> None:
    assert _time("2018-06-29:10:25Z", "x") == datetime(2018, 6, 29, 10, 25, tzinfo=UTC)
    assert _time("1970-01-01T00:00:00Z", "x") is None
    with pytest.raises(BadResponse):
        _time("next week", "x")


def test_waiting_follows_told_and_the_history(fake: FakeRT) -> None:
    new = fake.add("Disk quota request", status="new", created=h(6), owner="anna",
                   events=(("comment", h(5)), ("customer", h(4))))  # fmt: skip
    fake.add("We replied", created=h(6), events=(("reply", h(5)),))
    fake.add("Only a comment since", created=h(6), events=(("reply", h(5)), ("comment", h(2))))
    back = fake.add(
        "Came back",
        created=h(9),
        events=(("reply", h(8)), ("customer", h(3)), ("comment", h(2)), ("customer", h(1))),
    )
    fake.add("Stalled", status="stalled", created=h(6))
    fake.add("Resolved", status="resolved", created=h(6))
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == sorted([str(new), str(back)])
    assert by_id[str(new)].waiting_since == h(6)  # never answered: since created
    assert by_id[str(back)].waiting_since == h(3)  # the oldest unanswered, comments ignored
    t = by_id[str(new)]
    assert (t.category, t.status, t.assignee) == ("Support", "new", "Anna")
    assert t.requester == "Alice"
    assert t.requester_email == "alice@example.org"  # fields[Requestor] EmailAddress: [[vip]]
    assert t.url == f"{fake.base}/Ticket/Display.html?id={new}"
    assert by_id[str(back)].assignee == ""  # Nobody
    assert snap.complete
    request = searches(fake)[0]
    assert request.args["query"] == "(Status = 'new' OR Status = 'open')"
    assert request.headers["Authorization"] == f"token {TOKEN}"
    # history is read only where Told and LastUpdated cannot decide
    histories = sorted(r.path for r in fake.requests if r.path.endswith("/history"))
    assert len(histories) == 2


def test_a_colleague_on_cc_is_not_an_answer(fake: FakeRT) -> None:
    """RT sets ``Told`` for correspondence from anyone but a requestor (bestpractical/rt
    lib/RT/Ticket.pm, Correspond: "this will wrongly ack mail from any non-requestor"); only
    the team answers. Failed before: the colleague's mail moved ``Told`` and the ticket was
    taken as answered."""
    cc_only = fake.add("Colleague chimed in", created=h(6), events=(("cc", h(5)),))
    after_us = fake.add("Colleague after our reply", created=h(9),
                        events=(("reply", h(8)), ("cc", h(3)), ("customer", h(2))))  # fmt: skip
    answered = fake.add("Answered by staff", created=h(6), events=(("cc", h(5)), ("reply", h(4))))
    assert {t["id"]: t["Told"] for t in fake.tickets}[cc_only] != "1970-01-01T00:00:00Z"
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert sorted(by_id) == sorted([str(cc_only), str(after_us)])
    assert str(answered) not in by_id
    assert by_id[str(cc_only)].waiting_since == h(6)
    assert by_id[str(after_us)].waiting_since == h(3)


def test_privileged_users_owner_and_admincc_answer(fake: FakeRT) -> None:
    """The team is RT's privileged users (/REST/2.0/users/privileged, read once an hour;
    bestpractical/rt lib/RT/REST2/Resource/Users.pm, forbidden to unprivileged users), and the
    ticket's Owner and AdminCc even when the token may not list users (403). Failed before:
    any non-requestor's reply counted, and the staff list was never read."""
    by_staff = fake.add("Staff replied", created=h(6), events=(("reply:bert", h(5)),))
    by_owner = fake.add("Owner replied", created=h(6), owner="dora",
                        events=(("reply:dora", h(5)),))  # fmt: skip
    by_admincc = fake.add("AdminCc replied", created=h(6), admincc=("erik",),
                          events=(("reply:erik", h(5)),))  # fmt: skip
    source = make(fake)
    assert source.fetch(None).tickets == ()
    assert fake.paths().count("/REST/2.0/users/privileged") == 1
    fake.token_privileged = False
    for t in fake.tickets:
        t["LastUpdated"] = "2026-11-23T09:30:00Z"  # moved: decided again from the history
    snap = make(fake).fetch(None)
    # staff cannot be told apart without the list: that ticket rings rather than hides
    assert [t.id for t in snap.tickets] == [str(by_staff)]
    assert str(by_owner) not in [t.id for t in snap.tickets]
    assert str(by_admincc) not in [t.id for t in snap.tickets]


def test_due_is_the_deadline_only_when_configured(fake: FakeRT) -> None:
    """RT's Due is often a resolution date: RT's SLA sets it from a "Resolve" level, a
    "Response" level, or the earlier of both (bestpractical/rt docs/customizing/sla.pod), so it
    is the response deadline only with the ``due_is_response_deadline`` option. Failed before:
    Due was always taken."""
    due = fake.add("Due set", created=h(2), due=NOW + timedelta(hours=4))
    plain = fake.add("No due", created=h(2))
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert by_id[str(due)].due_at is None  # the response window decides
    by_id = {t.id: t for t in make(fake, due_is_response_deadline=True).fetch(None).tickets}
    assert by_id[str(due)].due_at == NOW + timedelta(hours=4)
    assert by_id[str(plain)].due_at is None  # 1970 sentinel


def test_queues_filter_server_side(fake: FakeRT) -> None:
    fake.add("General", queue=1, created=h(2))
    support = fake.add("Support", queue=4, created=h(2))
    bill = fake.add("Billing", queue=5, created=h(2))
    snap = make(fake, ("Support", "Billing")).fetch(None)
    assert sorted(t.id for t in snap.tickets) == sorted([str(support), str(bill)])
    assert searches(fake)[0].args["query"].endswith("AND (Queue = 'Support' OR Queue = 'Billing')")


def test_custom_statuses(fake: FakeRT) -> None:
    fake.add("Open", created=h(2))
    stalled = fake.add("Stalled", status="stalled", created=h(2))
    snap = make(fake, statuses=["stalled"]).fetch(None)
    assert [t.id for t in snap.tickets] == [str(stalled)]


def test_pagination_across_pages(fake: FakeRT) -> None:
    for n in range(230):
        fake.add(f"Q{n}", created=h(300 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 230 and snap.complete
    assert [r.args["page"] for r in searches(fake)] == ["1", "2", "3"]


def test_page_cap_marks_the_snapshot_incomplete(fake: FakeRT) -> None:
    for n in range(230):
        fake.add(f"Q{n}", created=h(300 - n))
    source = make(fake)
    source.client.max_pages = 2
    snap = source.fetch(None)
    assert len(snap.tickets) == 200 and not snap.complete


def test_idle_poll_reads_no_history(fake: FakeRT) -> None:
    fake.add("Back", created=h(5), events=(("reply", h(4)), ("customer", h(2))))
    source = make(fake)
    source.fetch(None)
    before = len(fake.requests)
    assert len(source.fetch(NOW).tickets) == 1
    assert fake.paths()[before:] == ["/REST/2.0/tickets"]


def test_url_with_rest_suffix_is_accepted(fake: FakeRT) -> None:
    tid = fake.add("Q", created=h(1))
    snap = make(fake, url=fake.api).fetch(None)
    assert snap.tickets[0].url == f"{fake.base}/Ticket/Display.html?id={tid}"


def test_list_categories(fake: FakeRT) -> None:
    assert make(fake).list_categories() == ["Billing", "General", "Support"]


ERRORS = [
    (401, {}, AuthError, "Unauthorized"),
    (403, {}, Forbidden, "Forbidden"),
    (404, {}, NotFound, "check the URL"),
    (429, {"Retry-After": "120"}, RateLimited, "slow down"),  # too long to wait out in a poll
    (500, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "no list of items"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_the_token(
    fake: FakeRT,
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
        assert raised.retry_after == 120  # type: ignore[attr-defined]


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig("RT", "rt", url=closed_port_url())
    with pytest.raises(Unreachable, match="refused") as info:
        RTSource(config, TOKEN).fetch(None)
    assert TOKEN not in str(info.value) + info.value.detail + caplog.text


def test_idle_poll_is_one_relative_lastupdated_search(fake: FakeRT) -> None:
    """Between full listings only tickets updated since the last look are asked for, with a
    date relative to RT's clock (RT reads an absolute TicketSQL date in the user's time zone:
    lib/RT/Date.pm, t/api/date.t). Failed before: every page of the listing, every poll."""
    fake.now = NOW
    for n in range(250):
        fake.add(f"Q{n}", created=h(300 - n))
    source = make(fake)
    assert len(source.fetch(None).tickets) == 250
    fake.requests.clear()
    assert len(source.fetch(NOW).tickets) == 250
    assert [r.args["query"] for r in searches(fake)] == ["LastUpdated > '5 minutes ago'"]
    assert fake.paths() == ["/REST/2.0/tickets"]


def test_a_ticket_that_starts_waiting_on_page_three_is_seen_by_the_idle_poll(fake: FakeRT) -> None:
    """The team had answered a ticket on page three of the listing (so it did not wait); the
    customer writes again: the one "since" search brings it back. A ticket resolved, and one
    moved to an unwatched queue, leave though the listing's pages are not read again."""
    clock = [NOW]
    fake.now = NOW
    ids = [fake.add(f"Q{n}", created=h(300 - n)) for n in range(299)]
    answered = fake.add("Answered", created=h(1), events=(("reply", h(0.9)),))
    source = make(fake, ("Support",))
    source.clock = lambda: clock[0]
    first = source.fetch(None)
    assert len(first.tickets) == 299 and str(answered) not in {t.id for t in first.tickets}
    clock[0] = fake.now = NOW + timedelta(minutes=1)
    fake.touch(answered, "customer", NOW + timedelta(seconds=30))
    fake.touch(ids[250], "status", NOW + timedelta(seconds=40), Status="resolved")
    fake.touch(ids[260], "status", NOW + timedelta(seconds=50), Queue=5)
    fake.requests.clear()
    snap = source.fetch(NOW)
    by_id = {t.id: t for t in snap.tickets}
    assert by_id[str(answered)].waiting_since == NOW + timedelta(seconds=30)
    assert str(ids[250]) not in by_id and str(ids[260]) not in by_id
    assert len(by_id) == 298 and snap.complete
    assert [r.args["query"] for r in searches(fake)] == ["LastUpdated > '6 minutes ago'"]
    assert fake.paths() == ["/REST/2.0/tickets", f"/REST/2.0/ticket/{answered}/history"]


def test_every_fifteen_minutes_everything_is_listed_again(fake: FakeRT) -> None:
    """A ticket gone without a transaction the search could show (here: deleted from the
    fake) is dropped by the full listing every 15 minutes, as Freshdesk's."""
    clock = [NOW]
    fake.now = NOW
    fake.add("Stays", created=h(2))
    gone = fake.add("Gone", created=h(2))
    source = make(fake)
    source.clock = lambda: clock[0]
    assert len(source.fetch(None).tickets) == 2
    fake.tickets = [t for t in fake.tickets if t["id"] != gone]
    clock[0] = fake.now = NOW + timedelta(minutes=14)
    assert len(source.fetch(NOW).tickets) == 2
    clock[0] = fake.now = NOW + timedelta(minutes=15)
    fake.requests.clear()
    assert len(source.fetch(NOW).tickets) == 1
    assert searches(fake)[0].args["query"].startswith("(Status = 'new'")
