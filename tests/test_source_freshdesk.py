"""The freshdesk kind against a fake Freshdesk API v2 on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
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
from agent.sources.freshdesk import FreshdeskSource, search_query
from tests.fakes.freshdesk import FakeFreshdesk
from tests.fakes.web import closed_port_url, expect_failure, local_server

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEY = "fdSECRETkey9Rz2xQw4"


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    with local_server() as server:
        yield server


@pytest.fixture
def fake(server: HTTPServer) -> FakeFreshdesk:
    return FakeFreshdesk(server, KEY)


def make(
    fake: FakeFreshdesk, categories: tuple[str, ...] = (), *, url: str = "", **options: object
) -> FreshdeskSource:
    config = SourceConfig(
        name="Freshdesk", kind="freshdesk", url=url or fake.base, categories=categories,
        timeout=5, options={"statuses": ["2"], **options},
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
    assert by_id[str(back)].requester == "jane@example.org"
    assert snap.complete
    assert searches(fake)[0].args["query"] == '"status:2"'
    user, _, password = (
        base64.b64decode(fake.requests[0].headers["Authorization"][6:]).decode().partition(":")
    )
    assert (user, password) == (KEY, "X")


def test_due_time_from_freshdesk_or_none(fake: FakeFreshdesk) -> None:
    first = fake.add("No reply yet", created=h(2), fr_due_by=NOW + timedelta(hours=1),
                     due_by=NOW + timedelta(days=2))  # fmt: skip
    later = fake.add("Replied once", created=h(5), convs=(("agent", h(4)), ("customer", h(1))),
                     fr_due_by=h(3), due_by=NOW + timedelta(hours=20))  # fmt: skip
    none = fake.add("No SLA", created=h(2))
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert by_id[str(first)].due_at == NOW + timedelta(hours=1)  # first response due
    assert by_id[str(later)].due_at == NOW + timedelta(hours=20)  # then the resolution due
    assert by_id[str(none)].due_at is None  # the response window decides


def test_custom_waiting_statuses(fake: FakeFreshdesk) -> None:
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
    assert searches(fake)[0].args["query"] == '"status:2 AND (group_id:12 OR group_id:13)"'


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
    assert [t.waiting_since for t in source.fetch(None).tickets] == [h(300 - 230)]
    reads = [r for r in fake.requests if r.path.endswith("/conversations")]
    assert len(reads) == 3
    before = len(fake.requests)
    source.fetch(NOW)
    assert fake.paths()[before:] == ["/api/v2/search/tickets"]  # an idle poll: one request
    assert tid


def test_more_than_300_is_incomplete(fake: FakeFreshdesk) -> None:
    for n in range(305):
        fake.add(f"Q{n}", created=h(400 - n))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 300 and not snap.complete
    assert len(searches(fake)) == 10  # page 11 would be refused (400)


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
    ("bad_shape", {}, BadResponse, "no list of results"),
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
