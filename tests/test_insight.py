"""The daily aggregates against a hand-computed history: business hours (Mon-Fri 09-17 in
London), the change from summer time on 25 Oct 2026, the Christmas holidays (25 and 28 Dec)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.config import Config, from_dict
from agent.insight.aggregates import (
    KEEP_DAYS,
    Cell,
    Day,
    Outcome,
    cell_key,
    unreadable_minutes,
    unreadable_spans,
)
from agent.insight.record import business_minutes, record_changes, record_unreadable
from agent.model import Snapshot, Ticket
from agent.queue import LocalQueue

UTC = timezone.utc
LONDON_HOURS = {"timezone": "Europe/London", "days": "Mon-Fri", "hours": "09:00-17:00"}


def config() -> Config:
    return from_dict(
        {
            "windows": {"default": "2h", "rules": [{"category": "Billing", "window": "1h"}]},
            "business_hours": {**LONDON_HOURS, "holidays": "GB"},
        }
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ticket(tid: str, since: str, category: str, assignee: str, **kw: Any) -> Ticket:
    w = at(since)
    return Ticket("Desk", tid, f"T{tid}", w, w, category=category, assignee=assignee, **kw)


# (ticket, answered at): see each one's comment for the hand-computed numbers
HISTORY = [
    # Fri 23 Oct 16:30 BST; 1 h: 30 min on Friday, 30 on Monday (after the clocks went back)
    # -> due Mon 26 Oct 09:30 GMT; answered 10:00: waited 90 business minutes, 30 late
    (ticket("A", "2026-10-23T15:30", "Billing", "ann", priority="high"), "2026-10-26T10:00"),
    # Mon 09:00, 2 h -> due 11:00; answered 10:54: 114 min, within, a near miss (>= 108)
    (ticket("B", "2026-10-26T09:00", "Support", "bob", priority="normal"), "2026-10-26T10:54"),
    # Mon 12:00, answered 12:30: 30 min, within, no near miss
    (ticket("C", "2026-10-26T12:00", "Support", "ann", priority="normal"), "2026-10-26T12:30"),
    # Thu 24 Dec 16:30, 1 h: 30 min on Thursday; Christmas, the weekend and Boxing Day
    # (observed, Mon 28) closed -> due Tue 29 Dec 09:30; answered 09:20: 50 min, within
    (ticket("D", "2026-12-24T16:30", "Billing", "bob"), "2026-12-29T09:20"),
    # the helpdesk's own due time 10:30 wins; answered 11:00: 60 min, 30 late
    (
        ticket(
            "E", "2026-12-29T10:00", "Support", "", priority="urgent", due_at=at("2026-12-29T10:30")
        ),
        "2026-12-29T11:00",
    ),
]


def replay(queue: LocalQueue, cfg: Config) -> None:
    for t, answered in HISTORY:
        ch = queue.apply(Snapshot("Desk", (t,), t.waiting_since), t.waiting_since)
        record_changes(queue, cfg, ch, t.waiting_since)
        queue.commit()
        ch = queue.apply(Snapshot("Desk", (), at(answered)), at(answered))
        assert [x.id for x in ch.ended] == [t.id]
        record_changes(queue, cfg, ch, at(answered))
        queue.commit()


def cells(queue: LocalQueue, day: date) -> dict[str, Cell]:
    (found,) = [d for d in queue.aggregates.days() if d.day == day]
    return found.cells


def test_business_minutes_across_the_clock_change_and_the_holidays() -> None:
    hours = config().business_hours
    assert business_minutes(at("2026-10-23T15:30"), at("2026-10-26T10:00"), hours) == 90
    assert business_minutes(at("2026-12-24T16:30"), at("2026-12-29T09:20"), hours) == 50
    assert business_minutes(at("2026-12-25T10:00"), at("2026-12-25T12:00"), hours) == 0
    assert business_minutes(at("2026-12-25T10:00"), at("2026-12-25T12:00"), None) == 120


def test_aggregates_match_the_hand_computed_history(tmp_path: Path, open_queue: Any) -> None:
    cfg = config()
    replay(open_queue(tmp_path / "q"), cfg)
    queue = open_queue(tmp_path / "again")  # what was saved, read back
    (tmp_path / "again" / "queue.json").write_bytes((tmp_path / "q" / "queue.json").read_bytes())
    queue.close()
    queue = open_queue(tmp_path / "again")
    oct26 = cells(queue, date(2026, 10, 26))
    team = oct26["*"]
    assert (team.answered, team.within, team.breaches, team.near) == (3, 2, 1, 1)
    assert (team.late_total, team.late_max, team.wait_max) == (30, 30, 114)
    # a bucket is 18 % wide: with three waits, the value is its bucket's middle (within 9 %)
    assert team.percentile(0.5) == pytest.approx(90, rel=0.09)
    assert team.percentile(0.9) == pytest.approx(114, rel=0.09)
    billing, support = (
        oct26[cell_key("category", "Billing")],
        oct26[cell_key("category", "Support")],
    )
    assert (billing.answered, billing.breaches, support.answered, support.near) == (1, 1, 2, 1)
    assert oct26[cell_key("assignee", "ann")].answered == 2
    assert oct26[cell_key("assignee", "ann")].within == 1
    assert oct26[cell_key("priority", "normal")].answered == 2
    dec29 = cells(queue, date(2026, 12, 29))["*"]
    assert (dec29.answered, dec29.within, dec29.breaches, dec29.late_total) == (2, 1, 1, 30)
    assert dec29.wait_max == 60
    assert date(2026, 12, 25) not in {d.day for d in queue.aggregates.days() if d.cells}
    # October is more than eight weeks before the last answer (29 Dec): kept as whole weeks
    days = {d.day: d for d in queue.aggregates.days()}
    assert days[date(2026, 10, 19)].week and days[date(2026, 10, 26)].week
    assert days[date(2026, 10, 19)].arrivals[16] == 1  # Fri 23 Oct 16:30 BST, local time
    assert days[date(2026, 10, 26)].answers[10] == 2  # 10:00 and 10:54 GMT
    assert not days[date(2026, 12, 29)].week


def test_aggregates_are_saved_in_the_same_write_as_the_ledger(
    tmp_path: Path, open_queue: Any
) -> None:
    cfg = config()
    queue = open_queue(tmp_path)
    t, answered = HISTORY[1]
    queue.apply(Snapshot("Desk", (t,), t.waiting_since), t.waiting_since)
    queue.commit()
    ch = queue.apply(Snapshot("Desk", (), at(answered)), at(answered))
    record_changes(queue, cfg, ch, at(answered))
    saved = orjson.loads(queue.path.read_bytes())
    assert not saved.get("aggregates", {}).get("2026-10-26")  # neither is on disk yet
    assert not [r for r in saved.get("ledger", {}).values() if r["kind"] == "answered"]
    queue.commit()
    saved = orjson.loads(queue.path.read_bytes())
    assert saved["aggregates"]["2026-10-26"]["cells"]["*"][0] == 1
    assert [r["ticket"] for r in saved["ledger"].values() if r["kind"] == "answered"] == ["B"]


def test_unreadable_minutes_are_split_at_local_midnight(tmp_path: Path, open_queue: Any) -> None:
    cfg = config()
    queue = open_queue(tmp_path)
    # 23:30 to 00:45 London time in winter (UTC): 30 minutes on the 1st, 45 on the 2nd
    record_unreadable(queue, cfg, "Desk", at("2026-12-01T23:30"), at("2026-12-02T00:45"))
    record_unreadable(queue, cfg, "Desk", at("2026-12-02T00:45"), at("2026-12-02T01:00"))
    days = queue.aggregates.days()
    assert unreadable_minutes(days, date(2026, 12, 1), date(2026, 12, 1)) == {"Desk": 30}
    assert unreadable_minutes(days, date(2026, 12, 2), date(2026, 12, 2)) == {"Desk": 60}
    summer = unreadable_spans(at("2026-07-01T22:30"), at("2026-07-01T23:30"), _london())
    assert summer == [(date(2026, 7, 1), 1800), (date(2026, 7, 2), 1800)]  # BST: UTC+1


def _london() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/London")


def test_days_older_than_400_are_forgotten(tmp_path: Path, open_queue: Any) -> None:
    queue = open_queue(tmp_path)
    today = date(2026, 12, 1)
    old = Outcome(today - timedelta(days=KEEP_DAYS + 1), 9, "Desk", "", "", "", 5.0, True)
    kept = Outcome(today - timedelta(days=KEEP_DAYS), 9, "Desk", "", "", "", 5.0, True)
    queue.aggregates.add([old, kept], today)
    assert [d.day for d in queue.aggregates.days()] == [kept.day]


def test_damaged_aggregates_are_moved_aside_and_the_queue_goes_on(
    tmp_path: Path, open_queue: Any
) -> None:
    queue = open_queue(tmp_path)
    t = ticket("W", "2026-12-01T10:00", "Support", "")
    queue.apply(Snapshot("Desk", (t,), t.waiting_since), t.waiting_since)
    queue.aggregates.add(
        [Outcome(date(2026, 11, 30), 9, "Desk", "", "", "", 5.0, True)], date(2026, 12, 1)
    )
    queue.close()
    data = orjson.loads(queue.path.read_bytes())
    data["aggregates"]["2026-11-30"]["cells"]["*"] = "garbled"
    queue.path.write_bytes(orjson.dumps(data))
    again = open_queue(tmp_path)
    assert [q.ticket.id for q in again.waiting()] == ["W"]  # the tickets are all there
    assert again.recovered_from is None
    aside = again.aggregates.recovered_from
    assert aside is not None and aside.name.startswith("aggregates.corrupt-")
    assert b"garbled" in aside.read_bytes()
    assert again.aggregates.days() == []
    again.aggregates.add(
        [Outcome(date(2026, 12, 1), 9, "Desk", "", "", "", 5.0, True)], date(2026, 12, 1)
    )
    again.commit()
    assert orjson.loads(again.path.read_bytes())["aggregates"]["2026-12-01"]["cells"]["*"][0] == 1


def test_a_table_that_is_no_table_is_moved_aside_too(tmp_path: Path, open_queue: Any) -> None:
    (tmp_path / "queue.json").write_bytes(orjson.dumps({"aggregates": [1, 2], "tickets": {}}))
    queue = open_queue(tmp_path)
    assert queue.recovered_from is None
    assert queue.aggregates.recovered_from is not None


def test_a_day_survives_its_stored_form() -> None:
    day = Day(date(2026, 12, 1))
    day.add(Outcome(date(2026, 12, 1), 9, "Desk", "Billing", "high", "ann", 42.0, False, 7.0))
    again = Day.of(orjson.loads(orjson.dumps(day.stored())))
    assert again == day


def test_percentiles_of_many_waits_are_close_to_the_exact_ones() -> None:
    import random
    import statistics

    rng = random.Random(7)
    waits = [rng.lognormvariate(3.5, 1.0) for _ in range(2000)]
    cell = Cell()
    for w in waits:
        cell.add(Outcome(date(2026, 12, 1), 9, "Desk", "", "", "", w, True))
    exact = statistics.quantiles(waits, n=10)
    assert cell.percentile(0.5) == pytest.approx(exact[4], rel=0.03)
    assert cell.percentile(0.9) == pytest.approx(exact[8], rel=0.03)


def test_days_older_than_eight_weeks_become_weeks_and_keep_their_totals(
    tmp_path: Path, open_queue: Any
) -> None:
    queue = open_queue(tmp_path)
    today = date(2026, 12, 2)  # a Wednesday; days before Mon 5 Oct become weeks
    outcomes = [
        Outcome(today - timedelta(days=n), 9, "Desk", "Billing", "", "", 10.0 + n, n % 3 > 0)
        for n in range(120)
    ]
    queue.aggregates.add(outcomes, today)
    queue.commit()
    saved = orjson.loads(queue.path.read_bytes())["aggregates"]
    weeks = [Day.of(row) for row in saved.values() if row.get("week")]
    daily = [Day.of(row) for row in saved.values() if not row.get("week")]
    assert min(d.day for d in daily) == date(2026, 10, 5)
    assert all(w.day.weekday() == 0 and w.day < date(2026, 10, 5) for w in weeks)
    assert sum(d.cells["*"].answered for d in weeks + daily) == 120
    assert sum(d.cells["*"].within for d in weeks + daily) == sum(o.within for o in outcomes)
    assert sum(d.answers[9] for d in weeks + daily) == 120
