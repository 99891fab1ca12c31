"""The freescout kind against a fake FreeScout API on 127.0.0.1."""

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
    NotConfigured,
    NotFound,
    RateLimited,
    SourceError,
    Unavailable,
    Unreachable,
)
from agent.sources.freescout import FreeScoutSource
from tests.fakes.freescout import FakeFreeScout
from tests.fakes.web import closed_port_url, expect_failure, local_server

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEY = "c2ba609c687a3425SECRETfree"


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    with local_server() as server:
        yield server


@pytest.fixture
def fake(server: HTTPServer) -> FakeFreeScout:
    return FakeFreeScout(server, KEY)


def make(fake: FakeFreeScout, categories: tuple[str, ...] = (), url: str = "") -> FreeScoutSource:
    config = SourceConfig(
        name="FreeScout", kind="freescout", url=url or fake.base, categories=categories, timeout=5
    )
    return FreeScoutSource(config, KEY, clock=lambda: NOW)


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
    assert t.url == f"{fake.base}/conversation/{new}"
    assert t.due_at is None  # FreeScout has no SLA: the response window decides
    request = next(r for r in fake.requests if r.path == "/api/conversations")
    assert request.args["status"] == "active"
    assert request.args["embed"] == "threads"
    assert request.headers["X-FreeScout-API-Key"] == KEY


def test_url_with_api_suffix_is_accepted(fake: FakeFreeScout) -> None:
    cid = fake.add("Q", created=h(1), threads=(("customer", h(1)),))
    snap = make(fake, url=fake.base + "/api/").fetch(None)
    assert snap.tickets[0].url == f"{fake.base}/conversation/{cid}"


def test_mailboxes_filter_server_side(fake: FakeFreeScout) -> None:
    fake.add("Support question", mailbox=3, created=h(2), threads=(("customer", h(2)),))
    bill = fake.add("Invoice", mailbox=4, created=h(2), threads=(("customer", h(2)),))
    snap = make(fake, categories=("billing",)).fetch(None)
    assert [t.id for t in snap.tickets] == [str(bill)]
    assert snap.tickets[0].category == "Billing"
    request = next(r for r in fake.requests if r.path == "/api/conversations")
    assert request.args["mailboxId"] == "4"


def test_unknown_mailbox_is_named(fake: FakeFreeScout) -> None:
    with pytest.raises(NotConfigured, match="no mailbox named 'Sales'"):
        make(fake, categories=("Sales",)).fetch(None)


def test_pagination(fake: FakeFreeScout) -> None:
    for n in range(120):
        fake.add(f"Q{n}", created=h(200 - n), threads=(("customer", h(200 - n)),))
    snap = make(fake).fetch(None)
    assert len(snap.tickets) == 120 and snap.complete
    pages = [r.args.get("page", "1") for r in fake.requests if r.path == "/api/conversations"]
    assert pages == ["1", "2", "3"]
    assert all(r.args["status"] == "active" for r in fake.requests if r.path.endswith("tions"))


def test_endless_pages_are_cut_and_marked_incomplete(fake: FakeFreeScout) -> None:
    for n in range(120):
        fake.add(f"Q{n}", created=h(200 - n), threads=(("customer", h(200 - n)),))
    source = make(fake)
    source.client.max_pages = 2
    snap = source.fetch(None)
    assert len(snap.tickets) == 100 and not snap.complete


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
