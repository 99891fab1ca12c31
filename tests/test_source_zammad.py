"""The zammad kind against a fake Zammad REST API on 127.0.0.1."""

from __future__ import annotations

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
    NotFound,
    RateLimited,
    SourceError,
    Unavailable,
    Unreachable,
)
from agent.sources.zammad import ZammadSource, parse_search, search_query
from tests.fakes.web import closed_port_url, expect_failure, local_server
from tests.fakes.zammad import FakeZammad

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TOKEN = "zammad-SECRET-Yx81TmQ0wLk_3pVn"


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    with local_server() as server:
        yield server


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
                   owner=(5, "anna"))  # fmt: skip
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
    internal = next(x["id"] for x in fake.tickets if x["number"] == new)
    assert t.url == f"{fake.base}/#ticket/zoom/{internal}"
    assert by_id[back].assignee == ""  # owner "-" (id 1) is nobody
    assert snap.complete
    request = searches(fake)[0]
    assert request.args["query"] == 'state.name:("new" OR "open")'
    assert request.args["expand"] == "true"
    assert request.headers["Authorization"] == f"Token token={TOKEN}"
    # an answered ticket's articles are not even read: the contact times decided
    assert len([r for r in fake.requests if "ticket_articles" in r.path]) == 2


def test_due_time_is_the_escalation_time_or_none(fake: FakeZammad) -> None:
    sla = fake.add("SLA", created=h(2), escalation_at=NOW + timedelta(minutes=30))
    plain = fake.add("No SLA", created=h(2))
    by_id = {t.id: t for t in make(fake).fetch(None).tickets}
    assert by_id[sla].due_at == NOW + timedelta(minutes=30)
    assert by_id[plain].due_at is None


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
