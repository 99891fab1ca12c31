"""The connector kit: the Waiting rule, the time parser, the category lookup and the cache that
every connector uses, each tested once here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agent.sources.base import BadResponse, NotConfigured
from agent.sources.kit import (
    CategoryResolver,
    Relist,
    TicketCache,
    category_name,
    earlier_clock,
    hal_active,
    hal_email,
    hal_person,
    parse_time,
    slowest,
    text_of,
    waiting_since,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# ------------------------------------------------------------------ the fields of an item


def test_text_of_is_the_first_field_that_is_set_as_text() -> None:
    item = {"name": "", "login": None, "email": "ann@acme.com", "id": 7, "zero": 0}
    assert text_of(item, "name", "login", "email") == "ann@acme.com"
    assert text_of(item, "id", "email") == "7"
    assert text_of(item, "zero", "missing") == ""
    assert text_of({}, "name") == ""


def test_a_category_is_named_by_its_id_or_shown_as_the_id_or_empty() -> None:
    names = {1: "Support", 2: "Billing"}
    assert category_name(names, 2) == "Billing"
    assert category_name(names, 9) == "9"
    assert category_name(names, None) == ""


def test_a_hal_person_is_their_name_else_their_email() -> None:
    assert hal_person({"first": "Ann", "last": "Lee", "email": "ann@acme.com"}) == "Ann Lee"
    assert hal_person({"firstName": "Ann", "lastName": None, "email": "a@x.org"}) == "Ann"
    assert hal_person({"first_name": "", "last_name": "Lee"}) == "Lee"
    assert hal_person({"first": None, "email": "ann@acme.com"}) == "ann@acme.com"
    assert hal_person(None) == hal_email("ann@acme.com") == ""
    assert hal_email({"email": "ann@acme.com"}) == "ann@acme.com"


def test_a_hal_conversation_waits_only_when_active_and_published() -> None:
    assert hal_active({"status": "active", "state": "published"})
    assert hal_active({"status": "active"})  # no state: published
    assert not hal_active({"status": "active", "state": "draft"})
    assert not hal_active({"status": "pending", "state": "published"})


# ------------------------------------------------------------------ the Waiting rule


def test_waits_since_the_oldest_customer_message_after_the_last_reply() -> None:
    messages = [(at(0), True), (at(5), False), (at(10), True), (at(20), True)]
    assert waiting_since(messages) == at(10)


def test_the_team_speaking_last_means_not_waiting() -> None:
    assert waiting_since([(at(0), True), (at(5), False)]) is None
    assert waiting_since([]) is None


def test_order_of_the_messages_does_not_matter() -> None:
    messages = [(at(20), True), (at(5), False), (at(10), True), (at(0), True)]
    assert waiting_since(messages) == at(10)


def test_a_reply_in_the_same_second_as_the_customer_never_hides_the_customer() -> None:
    assert waiting_since([(at(3), False), (at(3), True)]) == at(3)


# ------------------------------------------------------------------ one time parser


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T09:00:00Z", T0),
        ("2026-11-23T09:00:00.123z", T0 + timedelta(microseconds=123000)),
        ("2026-11-23T10:00:00+01:00", T0),
        ("2026-11-23T10:00:00+0100", T0),
        ("2026-11-23 09:00:00 +00:00", T0),
        ("2026-11-23:09:00Z", T0),  # Request Tracker's documented odd form
        (1795424400, T0),  # epoch seconds
        (1795424400000, T0),  # epoch milliseconds
        (1795424400.0, T0),
        (None, None),
        ("", None),
        ("1970-01-01T00:00:00Z", None),  # RT's "not set"
        (0, None),
        (-5, None),
    ],
)
def test_parse_time_reads_the_forms_helpdesks_send(value: object, expected: object) -> None:
    assert parse_time(value, where="x") == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2026-11-23T09:00:00", "without a time zone"),
        ("yesterday", "cannot be read"),
        (True, "cannot be read"),
        ({"at": 1}, "cannot be read"),
        (float("inf"), "cannot be read"),
        (float("nan"), "cannot be read"),
        (1e20, "out of range"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
    ],
)
def test_parse_time_refuses_what_it_cannot_read_naming_where(value: object, words: str) -> None:
    with pytest.raises(BadResponse, match=words) as info:
        parse_time(value, where="ticket 7 due_by")
    assert "ticket 7 due_by" in str(info.value)


def test_a_helpdesk_that_documents_utc_may_send_times_without_a_zone() -> None:
    assert parse_time("2026-11-23 09:00:00", where="x", assume_utc=True) == T0


# ------------------------------------------------------------------ category lookup


class Groups:
    """A helpdesk's group table that changes, counting how often it is read."""

    def __init__(self) -> None:
        self.table = {11: "Support", 12: "Billing"}
        self.reads = 0

    def __call__(self) -> dict[int, str]:
        self.reads += 1
        return dict(self.table)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_names_and_ids_are_read_once_and_looked_up_without_regard_to_case() -> None:
    groups = Groups()
    resolver = CategoryResolver(groups, what="group", helpdesk="Zendesk")
    assert resolver.ids(["billing", "SUPPORT"]) == [11, 12]
    assert resolver.name(12) == "Billing"
    assert groups.reads == 1


def test_an_unknown_id_reads_the_table_again_once_per_fetch_and_not_too_often() -> None:
    groups, clock = Groups(), Clock()
    resolver = CategoryResolver(groups, refresh_every=timedelta(minutes=5), clock=clock)
    resolver.new_fetch()
    assert resolver.name(11) == "Support"
    groups.table[13] = "Sales"  # added at the helpdesk after we read the table
    clock.now += 301
    resolver.new_fetch()
    assert resolver.name(13) == "Sales"
    assert groups.reads == 2
    # a ticket in a group this token cannot list: not one request per ticket or per poll
    for _ in range(5):
        resolver.new_fetch()
        assert resolver.name(99) == "99"
    assert groups.reads == 2
    clock.now += 301
    resolver.new_fetch()
    assert resolver.name(99, "") == ""
    assert resolver.name(98) == "98"  # the second unknown id of the same fetch reads nothing
    assert groups.reads == 3


def test_an_unknown_name_says_which_and_lists_the_known_ones() -> None:
    resolver = CategoryResolver(Groups(), what="group", helpdesk="Freshdesk")
    with pytest.raises(NotConfigured, match=r"Freshdesk has no group named 'Sales'.*Billing"):
        resolver.ids(["Sales"])


def test_reload_reads_the_newest_table_for_the_settings_form() -> None:
    groups = Groups()
    resolver = CategoryResolver(groups)
    resolver.table()
    groups.table[13] = "Sales"
    assert resolver.reload()[13] == "Sales"


# ------------------------------------------------------------------ per-ticket cache


def test_the_cache_reads_once_per_updated_at_and_keeps_only_a_complete_read() -> None:
    cache: TicketCache[int, list[str]] = TicketCache()
    reads: list[bool] = []

    def read(complete: bool) -> tuple[list[str], bool]:
        reads.append(complete)
        return ["hello"], complete

    assert cache.read(1, "09:00", lambda: read(False)) == (["hello"], False)
    assert cache.read(1, "09:00", lambda: read(True)) == (["hello"], True)  # read again
    assert cache.read(1, "09:00", lambda: read(True)) == (["hello"], True)  # kept
    assert reads == [False, True]
    cache.read(1, "09:05", lambda: read(True))  # the ticket changed
    assert reads == [False, True, True]


def test_the_cache_answers_while_updated_at_stays_and_forgets_unlisted_tickets() -> None:
    cache: TicketCache[int, list[str]] = TicketCache()
    cache.put(1, "2026-11-23T09:00:00Z", ["hello"])
    cache.put(2, "2026-11-23T09:00:00Z", ["hi"])
    assert cache.get(1, "2026-11-23T09:00:00Z") == ["hello"]
    assert cache.get(1, "2026-11-23T09:05:00Z") is None  # the ticket changed
    cache.prune([1])
    assert 2 not in cache and len(cache) == 1


def test_slowest_throttle_wins_and_none_is_no_hint() -> None:
    assert slowest(None, 5.0, None, 30.0) == 30.0
    assert slowest(None, None) is None


def test_relist_is_due_first_after_fifteen_minutes_and_after_an_incomplete_listing() -> None:
    at = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    relist = Relist()
    assert relist.due(at)
    relist.done(at, complete=True)
    assert not relist.due(at + timedelta(minutes=14, seconds=59))
    assert relist.due(at + timedelta(minutes=15))
    relist.done(at, complete=False)  # a cut listing proves nothing: list again next poll
    assert relist.due(at)
    relist.done(at, complete=True)
    relist.reset()  # a "since" request came back incomplete
    assert relist.due(at)


def test_earlier_clock_never_runs_ahead_of_the_servers_date() -> None:
    ours = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    behind = {"Date": "Mon, 23 Nov 2026 09:58:00 GMT"}
    assert earlier_clock(behind, ours) == ours - timedelta(minutes=2)
    assert earlier_clock({"Date": "Mon, 23 Nov 2026 10:03:00 GMT"}, ours) == ours
    assert earlier_clock({}, ours) == ours
    assert earlier_clock({"Date": "yesterday-ish"}, ours) == ours
