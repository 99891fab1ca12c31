from datetime import datetime, timedelta, timezone

import pytest

from agent import i18n
from agent.model import (
    Alert,
    DueState,
    Health,
    SourceHealth,
    Status,
    Ticket,
    WaitingTicket,
    notification_text,
    parse_time,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def ticket(**kw) -> Ticket:
    base = dict(source="S", id="1", subject="Help", created_at=T0, waiting_since=T0)
    base.update(kw)
    return Ticket(**base)


def test_naive_datetime_is_rejected_where_it_enters():
    with pytest.raises(ValueError, match="naive"):
        ticket(created_at=datetime(2026, 11, 23, 9, 0))
    with pytest.raises(ValueError, match="waiting_since"):
        ticket(waiting_since=datetime(2026, 11, 23, 9, 0))
    with pytest.raises(ValueError, match="due_at"):
        ticket(due_at=datetime(2026, 11, 23, 9, 0))


def test_times_are_converted_to_utc():
    plus_two = timezone(timedelta(hours=2))
    t = ticket(waiting_since=datetime(2026, 11, 23, 11, 0, tzinfo=plus_two))
    assert t.waiting_since == T0
    assert t.waiting_since.utcoffset() == timedelta(0)


def test_ticket_is_frozen_and_normalises_priority_and_id():
    t = ticket(id=4711, priority="Medium")
    assert t.id == "4711"
    assert t.priority == "normal"
    assert ticket(priority="weird").priority == ""
    with pytest.raises(AttributeError):
        t.subject = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T09:00:00Z", T0),
        ("2026-11-23T09:00:00.000+0000", T0),
        ("2026-11-23T10:00:00+01:00", T0),
        ("2026-11-23T09:00:00.123456Z", T0 + timedelta(microseconds=123456)),
        (None, None),
        ("", None),
        ("1970-01-01T00:00:00Z", None),
    ],
)
def test_parse_time_accepts_helpdesk_forms(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["2026-11-23T09:00:00", "yesterday", "2026-13-45T00:00:00Z"])
def test_parse_time_refuses_ambiguous_or_broken_values(text):
    with pytest.raises(ValueError, match="ts"):
        parse_time(text, "ts")


def test_status_never_claims_to_see_when_a_source_is_failing():
    ok = SourceHealth("A", "demo", Health.OK)
    bad = SourceHealth("B", "demo", Health.FAILING, message="401")
    assert not Status(T0, sources=(ok,)).blind
    assert Status(T0, sources=(ok, bad)).blind
    assert Status(T0, sources=(SourceHealth("C", "demo"),)).blind  # not read yet


def test_status_counts_by_state_and_source():
    w = [
        WaitingTicket(ticket(id="1", category="Billing"), T0, DueState.OVERDUE, T0),
        WaitingTicket(ticket(id="2", category="Billing"), T0, DueState.DUE_SOON, T0),
        WaitingTicket(ticket(id="3", category=""), T0, DueState.FINE, T0),
    ]
    s = Status(T0, tuple(w), (SourceHealth("S", "demo", Health.OK), SourceHealth("E", "demo")))
    assert (s.waiting, s.overdue, s.due_soon) == (3, 1, 1)
    assert s.by_source() == {"S": 3, "E": 0}


def _alert(kind, subject, category):
    return Alert(kind=kind, at=T0, key=subject, source="S", subject=subject, category=category)


def test_one_notification_per_burst_names_categories_and_subjects():
    alerts = [
        _alert("new", "Invoice wrong", "Billing"),
        _alert("new", "Refund please", "Billing"),
        _alert("new", "Quote for 50 seats", "Sales"),
    ]
    title, body = notification_text(alerts)
    assert title == "3 new tickets: Billing ×2, Sales ×1"
    assert body.splitlines() == ["Invoice wrong", "Refund please", "Quote for 50 seats"]


def test_overdue_outranks_new_and_long_subjects_are_cut():
    alerts = [_alert("new", "x" * 500, "Billing"), _alert("overdue", "y\x00" * 300, "Sales")]
    title, body = notification_text(alerts)
    assert title == "1 overdue ticket: Sales"
    assert len(body) <= 60 and "\x00" not in body
    assert notification_text([_alert("answered", "done", "Sales")]) is None


def test_a_summary_is_one_notification_with_the_first_waiting_subjects():
    summary = Alert(
        "summary",
        T0,
        "k",
        "Zendesk",
        subject="Zendesk: 312 waiting, 4 overdue",
        message="",
        counts=(("waiting", 312), ("new", 312), ("overdue", 4), ("due_soon", 0)),
    )
    overdue = [_alert("overdue", f"Late {i}", "") for i in range(4)]
    title, body = notification_text([summary, *overdue])
    assert title == "Zendesk: 312 waiting, 4 overdue"
    assert body.splitlines() == ["Late 0", "Late 1", "Late 2", "…and 1 more"]
    assert summary.to_json()["event"] == "summary"
    with i18n.speaking("de"):  # the person's language; the event keeps its English subject
        title, body = notification_text([summary, *overdue])
    assert title == "Zendesk: 312 Tickets warten, 4 überfällig"
    assert body.splitlines()[-1] == "…und 1 weiteres"
    assert summary.to_json()["subject"] == "Zendesk: 312 waiting, 4 overdue"


def test_tickets_with_the_same_subject_share_a_line_of_the_notification():
    """Two customers asking the same: the demo's first notification listed "Bulk pricing for
    50 seats" twice, as if one ticket were shown twice."""
    same = ["Bulk pricing for 50 seats", "Refund for an accidental purchase"]
    overdue = [_alert("overdue", s, "Sales") for s in (same[0], same[1], same[0])]
    title, body = notification_text(overdue)
    assert title == "3 overdue tickets: Sales ×3"
    assert body.splitlines() == [f"{same[0]} ×2", same[1]]
    subjects = ["Help", "Help", "Order 1", "Help", "Order 2", "Order 3", "Order 4"]
    _title, body = notification_text([_alert("new", s, "Billing") for s in subjects])
    # "…and N more" counts the tickets on no line: Order 3 and Order 4
    assert body.splitlines() == ["Help ×3", "Order 1", "Order 2", "…and 2 more"]


def test_parse_time_turns_out_of_range_dates_into_a_clear_error():
    with pytest.raises(ValueError, match="out of range"):
        parse_time("0001-01-01T00:00:00+01:00", "ts")


def test_the_watching_line_shows_categories_as_plain_short_text() -> None:
    """The hub's categories come from another computer: a direction override, a line break or
    500 characters in one went into the owner's menu as they were."""
    from agent.model import watching_text

    line = watching_text((("Anna", ("Bill\u202eing\nX", "Y" * 500)),))
    assert "\u202e" not in line and "\n" not in line
    assert line.startswith("Watching: Anna (Bill ing X, YYY") and len(line) < 80
