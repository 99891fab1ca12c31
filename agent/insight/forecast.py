"""The forecast: when each waiting ticket is expected to breach its window (pure functions).

From the daily aggregates it learns (:func:`learn`) how long tickets of each category usually
wait, how many arrive in each hour of the week, and how many answers an hour the team manages
when it is busy. For each waiting ticket (:func:`forecast`) it then takes the later of two
expectations:

- *its own kind*: how long tickets of its category that have already waited as long as this one
  go on to wait (a quantile of the histogram's part above the time waited so far);
- *the queue*: the tickets due before it are answered first, at the team's busy pace — scaled
  by who is watching, when the team hub says so (nobody watching: nobody answers).

A ticket expected to be answered after its due time is *at risk* (until that time: then it is
overdue); it is expected to breach at its due time. Nothing is forecast until the history
covers two weeks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo

from agent.config import BusinessHours, Config
from agent.escalation import display_zone
from agent.insight.aggregates import BUCKETS_PER_E, DIMENSIONS, TEAM, Cell, Day, cell_key
from agent.insight.record import business_minutes
from agent.model import Alert, WaitingTicket
from agent.storage import alert_key

HISTORY_NEEDED = 14  # days of history before anything is forecast
LEARN_DAYS = 28  # the days the pace is learned from
QUANTILE = 0.5  # of the waits longer than the one so far: the wait expected
MIN_SAMPLES = 30  # fewer answers of a category than this: the team's waits stand in
CATEGORY = DIMENSIONS[1]


@dataclass(frozen=True, slots=True)
class Pace:
    """What the history says about the team (see the module's description)."""

    days: int  # how many days the history covers
    waits: dict[str, dict[int, int]]  # category ("*": all) -> wait histogram
    arrivals: tuple[float, ...]  # per hour of the week (Monday 0:00 first): mean arrivals
    capacity: float  # answers per hour when busy
    staff: float  # people answering on a usual day

    def usual_arrivals(self, at: datetime) -> float:
        return self.arrivals[at.weekday() * 24 + at.hour]


@dataclass(frozen=True, slots=True)
class Prediction:
    at_risk: bool  # expected to be answered after its due time
    predicted_breach_at: datetime | None  # its due time when at risk
    cause: str


def learn(days: Iterable[Day], today: date) -> Pace | None:
    """The team's pace from the days before ``today``; None before two weeks of history."""
    past = [d for d in days if d.day < today and (d.cells or any(d.arrivals))]
    if not past or (today - min(d.day for d in past)).days < HISTORY_NEEDED:
        return None
    recent = [d for d in past if d.day >= today - timedelta(days=LEARN_DAYS)]
    waits: dict[str, Cell] = {}
    for d in recent:
        for key, cell in d.cells.items():
            if key == TEAM or key.startswith(cell_key(CATEGORY, "")):
                waits.setdefault(key, Cell()).merge(cell)
    first = max(min(d.day for d in past), today - timedelta(days=LEARN_DAYS))
    seen = [0] * 7  # how many of each weekday the days learned from hold
    for n in range((today - first).days):
        seen[(first + timedelta(days=n)).weekday()] += 1
    arrivals = [0.0] * 168
    for d in recent:
        for hour, count in enumerate(d.arrivals):
            arrivals[d.day.weekday() * 24 + hour] += count / seen[d.day.weekday()]
    busy = sorted(n for d in recent for n in d.answers if n)
    capacity = float(busy[int(0.9 * (len(busy) - 1))]) if busy else 0.0
    staffed = [sum(1 for k in d.cells if k.startswith("assignee")) for d in recent if d.cells]
    return Pace(
        days=(today - min(d.day for d in past)).days,
        waits={k: c.hist for k, c in waits.items()},
        arrivals=tuple(arrivals),
        capacity=capacity,
        staff=max(1.0, sum(staffed) / len(staffed)) if staffed else 1.0,
    )


def expected_wait(hist: dict[int, int], waited: float) -> float | None:
    """Minutes a ticket that has waited ``waited`` is expected to wait in all: the QUANTILE of
    the waits in ``hist`` longer than that (None: none was ever that long)."""
    above = {}
    for b, n in hist.items():
        low, high = math.expm1(b / BUCKETS_PER_E), math.expm1((b + 1) / BUCKETS_PER_E)
        if high > waited:
            above[b] = n * min(1.0, (high - waited) / (high - low))
    total = sum(above.values())
    if total <= 0:
        return None
    seen = 0.0
    for b in sorted(above):
        if seen + above[b] >= QUANTILE * total:
            part = (QUANTILE * total - seen) / above[b]
            return max(waited, math.expm1((b + part) / BUCKETS_PER_E))
        seen += above[b]
    return waited


def forecast(
    waiting: Sequence[WaitingTicket],
    pace: Pace | None,
    now: datetime,
    hours: BusinessHours | None = None,
    watchers: int | None = None,
) -> dict[str, Prediction]:
    """Per waiting ticket (by its key) whether it is at risk, and why. Empty without a pace."""
    if pace is None:
        return {}
    arrived = sum(1 for w in waiting if now - w.ticket.waiting_since <= timedelta(hours=1))
    cause_head = _pressure(arrived, pace.usual_arrivals(now), watchers)
    rate = pace.capacity if watchers is None else pace.capacity * watchers / pace.staff
    out: dict[str, Prediction] = {}
    own_wait: dict[tuple[str, int], float | None] = {}  # by category and minute waited
    ahead = 0
    for w in sorted(waiting, key=lambda w: w.due_at):
        if w.snoozed_until is not None:
            continue
        t = w.ticket
        waited = business_minutes(t.waiting_since, now, hours)
        left = business_minutes(now, w.due_at, hours) - business_minutes(w.due_at, now, hours)
        memo = (t.category, int(waited))
        if memo not in own_wait:
            own_wait[memo] = expected_wait(_waits_of(pace, t.category), waited)
        own = own_wait[memo]
        needs = [] if own is None else [own - waited]  # minutes from now, in business time
        if rate > 0:
            needs.append(60 * (ahead + 1) / rate)
        elif watchers == 0:
            needs.append(math.inf)
        at_risk = left > 0 and (not needs or max(needs) > left)  # overdue: breached already
        cause = f"{cause_head}; {ahead} due before it" if ahead else cause_head
        if own is None:
            cause += "; waited longer than any ticket of the last weeks"
        out[t.key] = Prediction(at_risk, w.due_at if at_risk else None, cause)
        ahead += 1
    return out


def _waits_of(pace: Pace, category: str) -> dict[int, int]:
    """The wait histogram of ``category``, or the team's when it has too few answers."""
    hist = pace.waits.get(cell_key(CATEGORY, category), {})
    return hist if sum(hist.values()) >= MIN_SAMPLES else pace.waits.get(TEAM, {})


def _pressure(arrived: int, usual: float, watchers: int | None) -> str:
    """The cause's words: "3 arrivals in the last hour (usually 1), 1 assistant watching"."""
    words = f"{arrived} arrival{'s' if arrived != 1 else ''} in the last hour (usually {usual:.0f})"
    if watchers is not None:
        words += f", {watchers} assistant{'s' if watchers != 1 else ''} watching"
    return words


RECENT_DAYS = 91  # thirteen weeks


def team_days(days: Iterable[Day], today: date) -> tuple[tuple[date, int, int, int], ...]:
    """(day, answered, within window, breaches) of the team for the last RECENT_DAYS days."""
    first = today - timedelta(days=RECENT_DAYS - 1)
    out = []
    for d in days:
        cell = d.cells.get(TEAM)
        if cell is not None and first <= d.day <= today:
            out.append((d.day, cell.answered, cell.within, cell.breaches))
    return tuple(sorted(out))


def at_risk_alerts(
    waiting: Iterable[WaitingTicket],
    predictions: dict[str, Prediction],
    lead: timedelta,
    now: datetime,
    done: Collection[str],
    tz: tzinfo | None = None,
) -> list[Alert]:
    """The ``at_risk`` alerts owed: once per ticket and cycle, ``lead`` before the due time of
    a ticket the forecast calls at risk (not once it is overdue, nor while snoozed)."""
    owed = []
    for w in waiting:
        t = w.ticket
        p = predictions.get(t.key)
        if p is None or not p.at_risk or w.snoozed_until is not None:
            continue
        if not w.due_at - lead <= now < w.due_at:
            continue
        key = alert_key(t.source, t.id, t.cycle, "at_risk")
        if key in done:
            continue
        message = f"expected to breach at {w.due_at.astimezone(tz):%H:%M}: {p.cause}"
        owed.append(Alert.of_ticket("at_risk", now, key, w, message))
    return owed


def next_look(waiting: Iterable[WaitingTicket], lead: timedelta, now: datetime) -> datetime | None:
    """When the forecast must look again: the next moment a ticket comes within ``lead`` of
    its due time."""
    times = [w.due_at - lead for w in waiting if w.due_at - lead > now]
    return min(times) if times else None


class Outlook:
    """The forecast as the engine uses it: the pace learned once a day from the aggregates,
    each evaluation's tickets marked, and the owner's ``at_risk`` alerts."""

    def __init__(self) -> None:
        self._pace: tuple[date, Pace | None] | None = None
        #: the last look's predictions, by ticket key
        self.predictions: dict[str, Prediction] = {}
        #: the team's last RECENT_DAYS days as Status.history carries them
        self.recent: tuple[tuple[date, int, int, int], ...] = ()

    def look(
        self,
        waiting: list[WaitingTicket],
        days: Callable[[], list[Day]],
        config: Config,
        now: datetime,
        watchers: int | None = None,
    ) -> list[WaitingTicket]:
        """``waiting`` with ``at_risk`` and ``predicted_breach_at`` set where the forecast says
        so (``watchers``: how many assistants watch, when the team hub says)."""
        today = now.astimezone(display_zone(config)).date()
        history = days()
        self.recent = team_days(history, today)
        if self._pace is None or self._pace[0] != today:
            self._pace = (today, learn(history, today))
        self.predictions = forecast(waiting, self._pace[1], now, config.business_hours, watchers)
        if not self.predictions:
            return waiting
        marked = []
        for w in waiting:
            p = self.predictions.get(w.ticket.key)
            if p is not None and p.at_risk:
                w = replace(w, at_risk=True, predicted_breach_at=p.predicted_breach_at)
            marked.append(w)
        return marked

    def alerts(
        self, waiting: Iterable[WaitingTicket], config: Config, now: datetime, done: Collection[str]
    ) -> list[Alert]:
        """The ``at_risk`` alerts owed now: an owner's only."""
        if config.role != "owner" or not self.predictions:
            return []
        lead, tz = config.alerts.forecast_lead, display_zone(config)
        return at_risk_alerts(waiting, self.predictions, lead, now, done, tz)

    def next_look(
        self, waiting: Iterable[WaitingTicket], config: Config, now: datetime, then: datetime | None
    ) -> datetime | None:
        """``then``, or earlier when a ticket comes within the lead of its due time before."""
        if config.role != "owner" or not self.predictions:
            return then
        at = next_look(waiting, config.alerts.forecast_lead, now)
        return at if then is None or (at is not None and at < then) else then
