"""What the daily aggregates learn from the engine: each waiting cycle that ended, measured
against the deadline the policy gave it; the cycles that started; the time a source could not
be read.

The engine calls :func:`record_changes` after a snapshot is applied and :func:`record_unreadable`
when a source fails or reads again; both only change the queue in memory, so the aggregates
land in the same write as the ledger rows of the same snapshot.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from agent import policy
from agent.config import BusinessHours, Config
from agent.escalation import display_zone
from agent.insight.aggregates import NEAR_MISS, Outcome, unreadable_spans
from agent.model import UTC, Ticket
from agent.queue import Changes, LocalQueue


@lru_cache(maxsize=4096)
def _open_hours(day: date, hours: BusinessHours) -> tuple[datetime, datetime] | None:
    """When ``day``'s business hours open and close (UTC), or None on a closed day
    (remembered: the forecast asks for the same few days for every waiting ticket)."""
    if not policy.is_business_day(day, hours):
        return None
    tz = ZoneInfo(hours.timezone)
    opens = datetime.combine(day, hours.start, tz).astimezone(UTC)
    closes = datetime.combine(day, hours.end, tz).astimezone(UTC)
    return opens, closes


def business_minutes(start: datetime, end: datetime, hours: BusinessHours | None) -> float:
    """Minutes from ``start`` to ``end`` counted only in business hours (all of them without
    business hours; 0 when ``end`` is not after ``start``)."""
    if end <= start:
        return 0.0
    if hours is None:
        return (end - start).total_seconds() / 60
    tz = ZoneInfo(hours.timezone)
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    total = timedelta(0)
    while day <= last:
        span = _open_hours(day, hours)
        if span is not None:
            overlap = min(span[1], end) - max(span[0], start)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total.total_seconds() / 60


def outcome(ticket: Ticket, answered_at: datetime, config: Config, tz: tzinfo | None) -> Outcome:
    """How one waiting cycle that ended at ``answered_at`` did against its deadline."""
    hours = config.business_hours
    due = policy.deadline(ticket, config).due_at
    wait = business_minutes(ticket.waiting_since, answered_at, hours)
    window = business_minutes(ticket.waiting_since, due, hours)
    within = answered_at <= due
    local = answered_at.astimezone(tz)
    return Outcome(
        day=local.date(),
        hour=local.hour,
        source=ticket.source,
        category=ticket.category,
        priority=ticket.priority,
        assignee=ticket.assignee,
        wait=wait,
        within=within,
        late=0.0 if within else business_minutes(due, answered_at, hours),
        near=within and window > 0 and wait >= NEAR_MISS * window,
    )


def record_changes(queue: LocalQueue, config: Config, changes: Changes, now: datetime) -> None:
    """Add a snapshot's ended cycles and arrivals to the daily aggregates (in memory)."""
    if not (changes.ended or changes.new):
        return
    tz = display_zone(config)
    today = now.astimezone(tz).date()
    if changes.ended:
        queue.aggregates.add([outcome(t, now, config, tz) for t in changes.ended], today)
    if changes.new:
        queue.aggregates.arrived([t.waiting_since.astimezone(tz) for t in changes.new], today)


def record_unreadable(
    queue: LocalQueue, config: Config, source: str, start: datetime | None, end: datetime
) -> None:
    """Add the time from ``start`` to ``end`` to what ``source`` could not be read."""
    if start is None or end <= start:
        return
    tz = display_zone(config)
    queue.aggregates.unreadable(source, unreadable_spans(start, end, tz), end.astimezone(tz).date())
