from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from agent import config as cfg
from agent.model import DueState, Ticket
from agent.policy import (
    add_business_time,
    alerts_owed,
    deadline,
    escalation_level,
    evaluate,
    in_quiet_hours,
    next_change,
    tomorrow_morning,
    window_for,
)
from agent.queue import QueuedTicket

UTC = timezone.utc
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday; London is on UTC in November


def conf(**sections) -> cfg.Config:
    data = {"sources": [{"name": "S", "kind": "demo"}], **sections}
    return cfg.from_dict(data)


def ticket(waiting_since=MON_9, **kw) -> Ticket:
    base = dict(
        source="S", id="1", subject="Help", created_at=waiting_since, waiting_since=waiting_since
    )
    base.update(kw)
    return Ticket(**base)


def queued(t: Ticket, **kw) -> QueuedTicket:
    return QueuedTicket(ticket=t, first_seen=t.waiting_since, **kw)


WINDOWS = {
    "default": "2h",
    "rules": [
        {"priority": "urgent", "window": "10m"},
        {"category": "Sales", "window": "30m"},
        {"category": "Sales", "priority": "urgent", "window": "5m"},
        {"source": "Other", "window": "1h"},
    ],
}


@pytest.mark.parametrize(
    ("kw", "minutes"),
    [
        ({}, 120),
        ({"priority": "urgent"}, 10),
        ({"category": "sales"}, 30),  # case-insensitive
        ({"category": "Sales", "priority": "urgent"}, 5),  # two fields beat one
        ({"source": "Other"}, 60),
        ({"source": "Other", "priority": "urgent"}, 10),  # equally specific: first rule wins
    ],
)
def test_most_specific_rule_wins(kw, minutes):
    c = conf(windows=WINDOWS)
    assert window_for(ticket(**kw), c.windows) == timedelta(minutes=minutes)


HOURS = {"timezone": "Europe/London", "days": "Mon-Fri", "hours": "09:00-17:00"}


def test_business_time_skips_the_weekend():
    c = conf(business_hours=HOURS)
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    due = add_business_time(friday_4pm, timedelta(hours=2), c.business_hours)
    assert due == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday 10:00


def test_business_time_starts_at_opening_when_a_ticket_arrives_at_night():
    c = conf(business_hours=HOURS)
    tue_3am = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert add_business_time(tue_3am, timedelta(minutes=30), c.business_hours) == datetime(
        2026, 11, 24, 9, 30, tzinfo=UTC
    )


def test_business_time_skips_public_holidays():
    c = conf(business_hours={**HOURS, "holidays": "GB"})
    # Christmas Eve 2026 is a Thursday; 25 Dec (Fri) and 28 Dec (Mon, Boxing Day substitute)
    # are bank holidays in England.
    thu_4pm = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)
    due = add_business_time(thu_4pm, timedelta(hours=2), c.business_hours)
    assert due == datetime(2026, 12, 29, 10, 0, tzinfo=UTC)


def test_business_hours_follow_the_local_clock_across_dst():
    c = conf(
        business_hours={"timezone": "Europe/Berlin", "days": "Mon-Fri", "hours": "09:00-17:00"}
    )
    # Friday 27 March 2026, 16:00 Berlin (CET, UTC+1); DST starts Sunday 29 March.
    fri = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)
    due = add_business_time(fri, timedelta(hours=2), c.business_hours)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # Monday 10:00 CEST


def test_without_business_hours_the_clock_always_runs():
    c = conf()
    fri = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    assert deadline(ticket(fri), c).due_at == fri + timedelta(hours=2)


def test_helpdesk_due_wins_when_configured():
    own = MON_9 + timedelta(minutes=45)
    assert deadline(ticket(due_at=own), conf()).due_at == own
    assert deadline(ticket(due_at=own), conf(windows={"use_helpdesk_due": False})).due_at == (
        MON_9 + timedelta(hours=2)
    )


def test_states_fine_due_soon_overdue():
    c = conf(alerts={"due_soon": 0.8})
    t = [queued(ticket())]
    at = lambda minutes: evaluate(t, c, MON_9 + timedelta(minutes=minutes))[0].state  # noqa: E731
    assert at(95) is DueState.FINE
    assert at(96) is DueState.DUE_SOON  # 80 % of 2 h
    assert at(119) is DueState.DUE_SOON
    assert at(120) is DueState.OVERDUE


def test_evaluate_sorts_by_due_time_and_marks_stale_sources():
    c = conf(windows=WINDOWS)
    a = queued(ticket(id="a"))
    b = queued(ticket(id="b", priority="urgent"))
    out = evaluate([a, b], c, MON_9, stale_sources={"S"})
    assert [w.ticket.id for w in out] == ["b", "a"]
    assert all(w.stale for w in out)


def owed_kinds(waiting, c, now, done, last=None):
    return [a.kind for a in alerts_owed(waiting, c, now, done, last)]


def test_each_alert_is_owed_exactly_once_per_waiting_cycle():
    c = conf(alerts={"remind_every": "off"})
    done: set[str] = set()
    t = [queued(ticket())]
    seen = []
    for minutes in range(0, 240, 5):
        now = MON_9 + timedelta(minutes=minutes)
        for alert in alerts_owed(evaluate(t, c, now), c, now, done):
            assert alert.key not in done
            done.add(alert.key)
            seen.append((minutes, alert.kind))
    assert seen == [(0, "new"), (100, "due_soon"), (120, "overdue")]
    # The customer writes again after a reply: a new cycle owes its alerts afresh.
    later = MON_9 + timedelta(hours=5)
    t2 = [queued(ticket(waiting_since=later))]
    assert owed_kinds(evaluate(t2, c, later), c, later, done) == ["new"]


def test_a_ticket_first_seen_overdue_owes_no_stale_due_soon_warning():
    c = conf()
    now = MON_9 + timedelta(hours=3)
    assert owed_kinds(evaluate([queued(ticket())], c, now), c, now, set()) == ["new", "overdue"]


def test_a_clock_set_back_owes_no_due_soon_for_a_ticket_announced_overdue():
    c = conf(alerts={"remind_every": "off"})
    t = [queued(ticket())]
    late = MON_9 + timedelta(hours=3)
    done = {a.key for a in alerts_owed(evaluate(t, c, late), c, late, set())}
    back = MON_9 + timedelta(minutes=110)  # the clock went back into the "due soon" span
    assert evaluate(t, c, back)[0].state is DueState.DUE_SOON
    assert owed_kinds(evaluate(t, c, back), c, back, done) == []


def test_a_summarised_source_owes_one_summary_then_its_due_alerts_one_by_one():
    c = conf(alerts={"remind_every": "15m"})
    now = MON_9 + timedelta(hours=3)
    tickets = [queued(ticket(waiting_since=now - timedelta(minutes=m), id=str(m))) for m in (1, 2)]
    tickets += [queued(ticket(id="late")), queued(ticket(id="x", source="Other"))]
    owed = alerts_owed(evaluate(tickets, c, now), c, now, set(), MON_9, summarise={"S"})
    assert owed[0].kind == "summary"  # first, before the alerts that follow it
    summary = owed[0]
    assert summary.subject == "S: 3 waiting, 1 overdue"
    assert {w.ticket.id for w in summary.tickets} == {"1", "2", "late"}
    assert dict(summary.counts) == {"waiting": 3, "new": 3, "overdue": 1, "due_soon": 0}
    # then S's overdue ticket on its own; Other is not summarised
    assert sorted((a.kind, a.ticket) for a in owed[1:]) == [
        ("new", "x"),
        ("overdue", "late"),
        ("overdue", "x"),
    ]
    # a summary, like a new alert, resets the reminder: no reminder in the same breath
    assert "reminder" not in [a.kind for a in owed]


def test_a_summarised_source_with_one_new_ticket_owes_its_new_alert():
    c = conf()
    done = {a.key for a in alerts_owed(evaluate([queued(ticket())], c, MON_9), c, MON_9, set())}
    later = MON_9 + timedelta(minutes=5)
    two = [queued(ticket()), queued(ticket(waiting_since=later, id="2"))]
    owed = alerts_owed(evaluate(two, c, later), c, later, done, summarise={"S"})
    assert [(a.kind, a.ticket) for a in owed] == [("new", "2")]


def test_snoozed_ticket_owes_nothing_until_the_snooze_ends():
    c = conf()
    now = MON_9 + timedelta(hours=3)
    done = {a.key for a in alerts_owed(evaluate([queued(ticket())], c, MON_9), c, MON_9, set())}
    snoozed = [queued(ticket(), snoozed_until=now + timedelta(minutes=15))]
    assert owed_kinds(evaluate(snoozed, c, now), c, now, done) == []
    after = now + timedelta(minutes=16)
    assert owed_kinds(evaluate(snoozed, c, after), c, after, done) == ["overdue"]


def test_reminders_come_every_interval_while_tickets_wait():
    c = conf(alerts={"remind_every": "15m"})
    t = [queued(ticket())]
    now = MON_9 + timedelta(minutes=14)
    first = {a.key for a in alerts_owed(evaluate(t, c, MON_9), c, MON_9, set())}
    assert owed_kinds(evaluate(t, c, now), c, now, first, last=MON_9) == []
    now = MON_9 + timedelta(minutes=15)
    assert owed_kinds(evaluate(t, c, now), c, now, first, last=MON_9) == ["reminder"]
    # nobody to remind about: all acknowledged
    acked = [queued(ticket(), acknowledged=True)]
    assert owed_kinds(evaluate(acked, c, now), c, now, first, last=MON_9) == []


def test_escalation_levels_and_repeats():
    c = conf(
        escalation={
            "levels": [
                {"after": "0m", "notify": ["owner-desktop"]},
                {"after": "30m", "notify": ["ntfy://topic"]},
            ],
            "repeat_every": "1h",
        }
    )
    esc = c.escalation
    assert escalation_level(timedelta(minutes=-1), esc) is None
    assert escalation_level(timedelta(0), esc) == (0, 0)
    assert escalation_level(timedelta(minutes=31), esc) == (1, 0)
    assert escalation_level(timedelta(minutes=95), esc) == (1, 1)
    done: set[str] = set()
    t = [queued(ticket())]
    sent = []
    for minutes in range(0, 300, 5):
        now = MON_9 + timedelta(minutes=minutes)
        for alert in alerts_owed(evaluate(t, c, now), c, now, done):
            done.add(alert.key)
            if alert.kind == "escalated":
                sent.append(minutes)
    # due at 120; level 0 at 120, level 1 at 150, repeats at 210, 270
    assert sent == [120, 150, 210, 270]


def test_acknowledged_tickets_get_no_repeats():
    c = conf(
        escalation={"levels": [{"after": "0m", "notify": ["owner-desktop"]}], "repeat_every": "1h"}
    )
    now = MON_9 + timedelta(hours=2)
    done = {a.key for a in alerts_owed(evaluate([queued(ticket())], c, now), c, now, set())}
    later = now + timedelta(hours=1, minutes=1)
    acked = [queued(ticket(), acknowledged=True)]
    assert "escalated" not in owed_kinds(evaluate(acked, c, later), c, later, done)
    assert "escalated" in owed_kinds(evaluate([queued(ticket())], c, later), c, later, done)


def test_next_change_says_when_to_wake_up():
    c = conf(alerts={"remind_every": "off"})
    t = [queued(ticket())]
    assert next_change(evaluate(t, c, MON_9), c, MON_9) == MON_9 + timedelta(minutes=96)
    soon = MON_9 + timedelta(minutes=100)
    assert next_change(evaluate(t, c, soon), c, soon) == MON_9 + timedelta(hours=2)
    late = MON_9 + timedelta(hours=3)
    assert next_change(evaluate(t, c, late), c, late) is None
    assert next_change([], c, MON_9) is None


def test_quiet_hours_across_midnight():
    quiet = cfg.parse_time_range("22:00-07:00")
    at = lambda h, m=0: in_quiet_hours(datetime(2026, 11, 23, h, m), quiet)  # noqa: E731
    assert at(23) and at(2) and at(6, 59)
    assert not at(7) and not at(12) and not at(21, 59)
    assert not in_quiet_hours(datetime(2026, 11, 23, 23, 0), None)


def test_mute_until_tomorrow_ends_at_seven_the_next_morning_in_the_person_s_time():
    berlin = ZoneInfo("Europe/Berlin")
    late = datetime(2026, 11, 23, 23, 40, tzinfo=berlin)
    assert tomorrow_morning(late) == datetime(2026, 11, 24, 7, 0, tzinfo=berlin)
    # just after midnight is already "tomorrow": the mute lasts until the morning after
    early = datetime(2026, 11, 24, 0, 10, tzinfo=berlin)
    assert tomorrow_morning(early) == datetime(2026, 11, 25, 7, 0, tzinfo=berlin)
    # the person's 07:00, not UTC's: 06:00 UTC in Berlin's winter
    assert tomorrow_morning(late).astimezone(UTC) == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def test_each_ticket_gets_its_own_rule_and_business_time_in_one_evaluation():
    """evaluate() works out each (source, category, priority) window once and carries the
    due-soon moment, so next_change() wakes up exactly when deadline() says, no later."""
    c = conf(windows=WINDOWS, business_hours=HOURS, alerts={"remind_every": "off"})
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    tickets = [
        ticket(friday_4pm, id="plain"),
        ticket(friday_4pm, id="sales", category="Sales"),
        ticket(friday_4pm, id="urgent-sales", category="sales", priority="urgent"),
        ticket(friday_4pm, id="plain-again"),
    ]
    waiting = evaluate([queued(t) for t in tickets], c, friday_4pm)
    by_id = {w.ticket.id: w for w in waiting}
    assert by_id["plain"].due_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday 10:00
    assert by_id["plain-again"].due_at == by_id["plain"].due_at
    assert by_id["sales"].due_at == datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    assert by_id["urgent-sales"].due_at == datetime(2026, 11, 27, 16, 5, tzinfo=UTC)
    for w in waiting:
        assert (w.due_at, w.soon_at) == (
            deadline(w.ticket, c).due_at,
            deadline(w.ticket, c).soon_at,
        )
    # the first to become due soon: 80 % of 5 minutes after 16:00
    assert next_change(waiting, c, friday_4pm) == friday_4pm + timedelta(minutes=4)
    # a WaitingTicket made without soon_at (not by evaluate) is worked out the same
    bare = [replace(w, soon_at=None) for w in waiting]
    assert next_change(bare, c, friday_4pm) == friday_4pm + timedelta(minutes=4)
