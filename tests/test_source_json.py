"""The generic json kind against a fake JSON helpdesk on 127.0.0.1."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from agent import config as config_module
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
from agent.sources.jsonapi import JsonSource, lookup
from tests.fakes.jsonapi import FIELDS, FakeJsonHelpdesk
from tests.fakes.web import closed_port_url, expect_failure

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KEY = "jsonkey-SECRET-4f1c9a7e2b"


@pytest.fixture
def fake(server: HTTPServer) -> FakeJsonHelpdesk:
    return FakeJsonHelpdesk(server, KEY)


def make(
    fake: FakeJsonHelpdesk,
    url: str | None = None,
    categories: tuple[str, ...] = (),
    **options: Any,
) -> JsonSource:
    opts: dict[str, Any] = {
        "auth_header": "X-Api-Key",
        "items": "data.tickets",
        "next": "links.next",
        "fields": dict(FIELDS),
        "waiting_statuses": ["open", "new"],
    }
    opts.update(options)
    config = SourceConfig(
        name="In-house desk",
        kind="json",
        url=url or fake.url,
        categories=categories,
        options=opts,
        timeout=5,
    )
    return JsonSource(config, KEY, clock=lambda: NOW)


def h(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_registered_with_a_description() -> None:
    assert source_class("json") is JsonSource
    assert "JSON" in JsonSource.description


def test_lookup_follows_dotted_paths() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": None}]}}
    assert lookup(data, "a.b.0.c") == 1
    assert lookup(data, "a.b.1.c") is None  # present, null
    assert lookup(data, "a.b.-1.c") is None
    assert lookup(data, "a.x") is not None and lookup(data, "a.x") is lookup(data, "a.b.5")
    assert lookup(data, "") is data


def test_mapping_waiting_statuses_and_due(fake: FakeJsonHelpdesk) -> None:
    fake.add(1, "Refund", opened=h(5), customer_wrote=h(2), due=NOW + timedelta(hours=1))
    fake.add(2, "Answered", state="pending", opened=h(5))
    fake.add(3, "Done", state="closed", opened=h(9))
    fake.add(4, "New one", state="new", queue="Billing", opened=h(1), prio="urgent")
    snap = make(fake).fetch(None)
    by_id = {t.id: t for t in snap.tickets}
    assert sorted(by_id) == ["1", "4"]
    one = by_id["1"]
    assert one.subject == "Refund"
    assert one.requester == "Ana Diaz"
    assert one.category == "Support"
    assert one.created_at == h(5)
    assert one.waiting_since == h(2)  # from epoch milliseconds
    assert one.due_at == NOW + timedelta(hours=1)  # the helpdesk's own deadline
    assert one.url == "https://desk.example.com/t/1"
    four = by_id["4"]
    assert four.waiting_since == h(1)  # no customer time: since it was opened
    assert four.due_at is None  # no deadline from the helpdesk: the window decides
    assert four.priority == "urgent"
    assert snap.complete
    assert fake.requests[0].headers["X-Api-Key"] == KEY


def test_without_waiting_statuses_every_listed_ticket_waits(fake: FakeJsonHelpdesk) -> None:
    fake.add(1, "A", opened=h(2))
    fake.add(2, "B", state="whatever", opened=h(2))
    assert len(make(fake, waiting_statuses=[]).fetch(None).tickets) == 2


def test_categories_filter(fake: FakeJsonHelpdesk) -> None:
    fake.add(1, "Refund", queue="Billing", opened=h(5))
    fake.add(2, "Crash", queue="Technical", opened=h(5))
    fake.add(3, "Invoice", queue="billing", opened=h(5))
    snap = make(fake, categories=("Billing",)).fetch(None)
    assert sorted(t.id for t in snap.tickets) == ["1", "3"]


def test_pagination_follows_the_next_path(fake: FakeJsonHelpdesk) -> None:
    for n in range(1, 8):
        fake.add(n, f"T{n}", opened=h(n))
    snap = make(fake).fetch(None)
    assert sorted(int(t.id) for t in snap.tickets) == list(range(1, 8))
    assert [r.args.get("page") for r in fake.requests] == [None, "2", "3", "4"]


def test_endless_next_links_are_cut_and_marked_incomplete(fake: FakeJsonHelpdesk) -> None:
    for n in range(1, 4):
        fake.add(n, f"T{n}", opened=h(n))
    fake.endless_next = True
    source = make(fake)
    source.client.max_pages = 5
    snap = source.fetch(None)
    assert len(fake.requests) == 5
    assert not snap.complete


def test_next_link_back_to_a_read_page_stops(fake: FakeJsonHelpdesk) -> None:
    fake.add(1, "T1", opened=h(1))
    fake.loop_next = True
    with pytest.raises(BadResponse, match="page already read"):
        make(fake).fetch(None)


def test_items_path_that_finds_nothing_is_named(fake: FakeJsonHelpdesk) -> None:
    fake.add(1, "T1", opened=h(1))
    with pytest.raises(BadResponse, match=re.escape('items = "data.ticket" finds nothing')) as info:
        make(fake, items="data.ticket").fetch(None)
    assert "data" in str(info.value)  # says what the answer has instead


def test_id_path_that_finds_nothing_is_named(fake: FakeJsonHelpdesk) -> None:
    fake.add(1, "T1", opened=h(1))
    fields = {**FIELDS, "id": "id"}
    with pytest.raises(BadResponse, match=re.escape('fields.id = "id" finds nothing in ticket 1')):
        make(fake, fields=fields).fetch(None)


def test_a_typo_that_would_change_the_count_is_an_error(fake: FakeJsonHelpdesk) -> None:
    fake.add(1, "T1", opened=h(1))
    with pytest.raises(BadResponse, match=re.escape('fields.status = "status" finds nothing')):
        make(fake, fields={**FIELDS, "status": "status"}).fetch(None)
    with pytest.raises(
        BadResponse, match=re.escape('fields.category = "group.name" finds nothing')
    ):
        make(fake, categories=("Support",), fields={**FIELDS, "category": "group.name"}).fetch(None)


def test_a_typo_in_a_display_field_is_logged(
    fake: FakeJsonHelpdesk, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(1, "T1", opened=h(1))
    snap = make(fake, fields={**FIELDS, "url": "links.html"}).fetch(None)
    assert len(snap.tickets) == 1 and snap.tickets[0].url == ""
    assert 'fields.url = "links.html" finds nothing' in caplog.text


def test_config_mistakes_are_named() -> None:
    with pytest.raises(NotConfigured, match=re.escape("fields.ticket is not a ticket field")):
        JsonSource(
            SourceConfig(
                "x", "json", url="http://127.0.0.1:1", options={"fields": {"ticket": "a"}}
            ),
            "key-123456",
        )
    with pytest.raises(NotConfigured, match=re.escape("fields.created is missing")):
        JsonSource(
            SourceConfig("x", "json", url="http://127.0.0.1:1", options={"fields": {"id": "a"}}),
            "key-123456",
        )


def test_toml_config_reaches_the_source(tmp_path: Path) -> None:
    path = tmp_path / "ticketbell.toml"
    path.write_text(
        """
[[sources]]
name = "In-house desk"
kind = "json"
url = "http://127.0.0.1:9/api/v1/tickets"
auth_header = "X-Api-Key"
items = "data.tickets"
next = "links.next"
waiting_statuses = ["open"]
fields = { id = "ticket_id", subject = "title", status = "state", created = "opened_at", \
due = "sla.due" }
""",
        encoding="utf-8",
    )
    source_config = config_module.load(path).sources[0]
    source = JsonSource(source_config, KEY)
    assert source.fields["due"] == "sla.due"
    assert source.waiting_statuses == ("open",)
    assert source.client.session.headers["X-Api-Key"] == KEY


ERRORS = [
    (401, {}, AuthError, "invalid api key"),
    (403, {}, Forbidden, "tickets:read"),
    (404, {}, NotFound, "check the URL"),
    (429, {"Retry-After": "45"}, RateLimited, "slow down"),
    (503, {"Retry-After": "120"}, RateLimited, "slow down"),
    (500, {}, Unavailable, "problem of its own"),
    ("html_login", {}, AuthError, "web page"),
    ("redirect_login", {}, AuthError, "login page"),
    ("bad_shape", {}, BadResponse, "not a list"),
    ("endless", {}, BadResponse, "refused"),
]


@pytest.mark.parametrize(("failure", "headers", "error", "words"), ERRORS)
def test_every_failure_is_classified_without_leaking_the_key(
    fake: FakeJsonHelpdesk,
    caplog: pytest.LogCaptureFixture,
    failure: str | int,
    headers: dict[str, str],
    error: type[SourceError],
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add(1, "T1", opened=h(1))
    raised = expect_failure(
        lambda: make(fake).fetch(None), fake, failure, headers, error, words,
        [KEY], lambda: caplog.text,
    )  # fmt: skip
    if "Retry-After" in headers:
        assert raised.retry_after == float(headers["Retry-After"])  # type: ignore[attr-defined]


def test_connection_refused_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = SourceConfig(
        "In-house desk",
        "json",
        url=closed_port_url() + "/api/v1/tickets",
        options={"fields": {"id": "id", "created": "c"}, "auth_header": "X-Api-Key"},
    )
    with pytest.raises(Unreachable, match="refused") as info:
        JsonSource(config, KEY).fetch(None)
    assert KEY not in str(info.value) + info.value.detail + caplog.text


def test_unmodified_pages_are_reused_and_a_changed_page_is_read_again(
    fake: FakeJsonHelpdesk,
) -> None:
    fake.add(1, "Refund", opened=h(5))
    fake.add(2, "Invoice", opened=h(4))
    fake.add(3, "Login", opened=h(3))
    source = make(fake)
    first = {t.id: t for t in source.fetch(None).tickets}
    second = {t.id: t for t in source.fetch(None).tickets}
    # no ETag from this helpdesk: identical bodies still mean "not modified"
    assert all(second[i] is first[i] for i in first)
    fake.tickets[2]["title"] = "Login fails, urgent"  # on the second page
    third = {t.id: t for t in source.fetch(None).tickets}
    assert third["3"].subject == "Login fails, urgent"
    assert third["1"] is first["1"]


def test_a_broken_answer_repeated_is_not_mistaken_for_the_last_good_one(
    fake: FakeJsonHelpdesk,
) -> None:
    fake.add(1, "Refund", opened=h(5))
    source = make(fake)
    assert [t.id for t in source.fetch(None).tickets] == ["1"]
    fake.failure = "bad_shape"
    for _ in range(2):  # the second identical body counts as "not modified"
        with pytest.raises(BadResponse):
            source.fetch(None)


@pytest.mark.parametrize("value", [1, 86_400, 31_000_000, "1970-12-27T00:00:00Z"])
def test_a_time_in_1970_reads_as_unset_at_fetch_as_at_reload(value: Any) -> None:
    """1970 is the "unset" sentinel of ISO text and of the queue's reload; an epoch number in
    1970 was kept at fetch and dropped at reload, so a restart saw the ticket change."""
    from agent.model import Ticket
    from agent.queue import ticket_from_record, ticket_record
    from agent.sources.kit import parse_time

    created = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    since = parse_time(value, where="waiting_since")  # the json kind's parser of every time
    due = parse_time(value, where="due")
    fetched = Ticket(
        source="Desk",
        id="1",
        subject="s",
        created_at=created,
        waiting_since=since or created,
        due_at=due,
    )
    assert since is None and due is None
    assert ticket_from_record(ticket_record(fetched)) == fetched


def test_with_since_param_an_idle_poll_is_one_request_and_page_three_changes_are_seen(
    fake: FakeJsonHelpdesk,
) -> None:
    """``since_param`` names the endpoint's own "changed since" parameter: between full
    listings one request with it. A ticket on page three that starts waiting comes in, one
    closed there leaves, and an idle poll is one request. Failed before: every page, every
    poll."""
    fake.page_size = 100
    clock = [NOW]
    for n in range(1, 301):
        fake.add(n, f"T{n}", state="pending" if n == 250 else "open", opened=h(400 - n / 10))
    source = make(fake, since_param="updated_since")
    source.clock = lambda: clock[0]
    first = source.fetch(None)
    assert len(first.tickets) == 299 and first.complete
    fake.requests.clear()
    assert len(source.fetch(NOW).tickets) == 299
    (idle,) = fake.requests
    assert idle.args["updated_since"] == "2026-11-23T09:55:00Z"
    clock[0] = NOW + timedelta(minutes=1)
    later = NOW + timedelta(seconds=30)
    fake.change(250, later, state="open", last_customer_message_at=int(later.timestamp() * 1000))
    fake.change(260, later, state="closed")
    fake.requests.clear()
    snap = source.fetch(NOW)
    by_id = {t.id: t for t in snap.tickets}
    assert by_id["250"].waiting_since == later
    assert "260" not in by_id and len(by_id) == 299 and snap.complete
    assert len(fake.requests) == 1


def test_with_since_param_everything_is_listed_again_every_fifteen_minutes(
    fake: FakeJsonHelpdesk,
) -> None:
    """A deleted ticket never shows as changed: the full listing every 15 minutes (as
    Freshdesk's) drops it. Without ``since_param`` every poll reads every page."""
    clock = [NOW]
    fake.add(1, "Stays", opened=h(2))
    fake.add(2, "Deleted", opened=h(2))
    source = make(fake, since_param="updated_since")
    source.clock = lambda: clock[0]
    assert len(source.fetch(None).tickets) == 2
    fake.tickets = [t for t in fake.tickets if t["ticket_id"] != 2]
    clock[0] = NOW + timedelta(minutes=14)
    assert len(source.fetch(NOW).tickets) == 2
    clock[0] = NOW + timedelta(minutes=15)
    fake.requests.clear()
    assert [t.id for t in source.fetch(NOW).tickets] == ["1"]
    assert "updated_since" not in fake.requests[0].args
    plain = make(fake)
    plain.fetch(None)
    fake.requests.clear()
    plain.fetch(NOW)
    assert all("updated_since" not in r.args for r in fake.requests)
