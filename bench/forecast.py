"""The forecast's backtest and the scorecard's rendering time (issue 16).

    python bench/forecast.py               both loads and the rendering, as table rows

A backtest walks through a history of waiting cycles minute by minute (``STEP``). At each step
the forecast sees only what the agent would see then: the tickets waiting (with the policy's due
times) and the daily aggregates of the days before. Each ticket is judged once, at the first
step its due time is at most ``LEAD`` ahead (or, when it is seen later, the first step it is
seen at all): it is *flagged* when the forecast then calls it at risk. It *breached* when it
was answered after its due time. Precision: flagged tickets that breached / flagged. Recall:
breached tickets that were flagged / breached tickets the forecast could see in time (visible
before their due time).

Two loads:
- the demo helpdesk's deterministic history (``agent.sources.demo``) with the demo's windows;
- a synthetic team (seeded): two people answering in due order, 5-15 min a ticket, in business
  hours (Mon-Fri 09-17, London), arrivals at 4 an hour with two-hour bursts of 15 an hour and
  quiet days of 1.5 an hour, a window of 1 h (20 min for urgent tickets).
"""

from __future__ import annotations

import heapq
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent import policy
from agent.config import Config, demo_config, from_dict
from agent.escalation import display_zone
from agent.insight.aggregates import Day, add_outcomes
from agent.insight.forecast import Pace, forecast, learn
from agent.insight.record import outcome
from agent.insight.replay import demo_cycles
from agent.model import Ticket
from agent.queue import QueuedTicket
from agent.sources.demo import SLOT

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
LEAD = timedelta(minutes=30)
STEP = timedelta(minutes=1)


@dataclass(frozen=True)
class Cycle:
    ticket: Ticket
    visible: datetime  # when the agent first sees it
    answered: datetime


@dataclass(frozen=True)
class Score:
    flagged: int
    breached: int
    hits: int

    @property
    def precision(self) -> float:
        return self.hits / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.hits / self.breached if self.breached else 0.0


def history(cycles: Iterable[Cycle], config: Config) -> list[Day]:
    tz = display_zone(config)
    days: dict[date, Day] = {}
    cycles = list(cycles)
    add_outcomes(days, (outcome(c.ticket, c.answered, config, tz) for c in cycles))
    for c in cycles:
        at = c.ticket.waiting_since.astimezone(tz)
        days.setdefault(at.date(), Day(at.date())).arrivals[at.hour] += 1
    return sorted(days.values(), key=lambda d: d.day)


def backtest(cycles: list[Cycle], config: Config, start: datetime, end: datetime) -> Score:
    """Precision and recall of ``at_risk`` ``LEAD`` ahead from ``start`` to ``end``."""
    days = history(cycles, config)
    tz = display_zone(config)
    paces: dict[date, Pace | None] = {}
    order = sorted(cycles, key=lambda c: c.visible)
    due = {c.ticket.key: policy.deadline(c.ticket, config).due_at for c in cycles}
    flagged: set[str] = set()
    seen: set[str] = set()
    active: list[Cycle] = []
    i = 0
    t = start
    while t < end:
        while i < len(order) and order[i].visible <= t:
            active.append(order[i])
            i += 1
        active = [c for c in active if c.answered > t]
        today = t.astimezone(tz).date()
        if today not in paces:
            paces[today] = learn(days, today)
        queued = [QueuedTicket(c.ticket, c.visible) for c in active]
        waiting = policy.evaluate(queued, config, t)
        predictions = forecast(waiting, paces[today], t, config.business_hours)
        for w in waiting:
            if w.due_at - LEAD <= t < w.due_at and w.ticket.key not in seen:
                seen.add(w.ticket.key)  # judged once: at the first step within LEAD of due
                p = predictions.get(w.ticket.key)
                if p is not None and p.at_risk:
                    flagged.add(w.ticket.key)
        t += STEP
    breached = {c.ticket.key for c in cycles if c.answered > due[c.ticket.key]} & seen
    return Score(len(flagged), len(breached), len(flagged & breached))


def demo_load(end: datetime, days: int = 60) -> tuple[list[Cycle], Config]:
    config = demo_config()
    cycles = [
        Cycle(t, datetime.fromtimestamp(int(t.id[1:]) * SLOT, UTC), answered)
        for t, answered in demo_cycles("Demo helpdesk", end - timedelta(days=days), end)
        if answered <= end
    ]
    return cycles, config


SYNTHETIC = {
    "windows": {"default": "1h", "rules": [{"priority": "urgent", "window": "20m"}]},
    "business_hours": {"timezone": "Europe/London", "days": "Mon-Fri", "hours": "09:00-17:00"},
}


def _arrivals(rng: random.Random, first: date, days: int) -> list[datetime]:
    """Arrival times: 4 an hour in business hours, two-hour bursts of 15 an hour on two days in
    five, quiet days of 1.5 an hour, 0.2 an hour at night and at weekends."""
    out = []
    for n in range(days):
        day = first + timedelta(days=n)
        quiet = rng.random() < 0.2
        burst = None if quiet or rng.random() < 0.6 else rng.randrange(9, 16)
        for hour in range(24):
            business = day.weekday() < 5 and 9 <= hour < 17
            rate = (1.5 if quiet else 4.0) if business else 0.2
            rate = 15.0 if burst is not None and hour in (burst, burst + 1) else rate
            at = datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)
            t = rng.expovariate(rate)
            while t < 1:
                out.append(at + timedelta(hours=t))
                t += rng.expovariate(rate)
    return out


def synthetic_load(seed: int, first: date, days: int) -> tuple[list[Cycle], Config]:
    """Two people answering in due order, in business hours, 5-15 minutes a ticket."""
    config = from_dict(SYNTHETIC)
    rng = random.Random(seed)
    tickets = []
    for n, at in enumerate(_arrivals(rng, first, days)):
        prio = "urgent" if rng.random() < 0.1 else "normal"
        cat = rng.choice(("Billing", "Support", "Sales"))
        tickets.append(Ticket("Synthetic", f"S{n}", f"S{n}", at, at, category=cat, priority=prio))
    due = {t.key: policy.deadline(t, config).due_at for t in tickets}
    free = [
        policy.add_business_time(tickets[0].waiting_since, timedelta(0), config.business_hours)
    ] * 2
    pending: list[tuple[datetime, int]] = []
    cycles = []
    i = 0
    while i < len(tickets) or pending:
        agent = min(range(len(free)), key=lambda a: free[a])
        now = policy.add_business_time(free[agent], timedelta(0), config.business_hours)
        while i < len(tickets) and tickets[i].waiting_since <= now:
            heapq.heappush(pending, (due[tickets[i].key], i))
            i += 1
        if not pending:
            free[agent] = tickets[i].waiting_since
            continue
        _, k = heapq.heappop(pending)
        took = timedelta(minutes=rng.uniform(5, 15))
        answered = policy.add_business_time(now, took, config.business_hours)
        cycles.append(Cycle(tickets[k], tickets[k].waiting_since, answered))
        free[agent] = answered
    return cycles, config


def render_seconds() -> float:
    """Seconds to build and render (text, HTML, CSV, JSON) a year of a busy team's aggregates."""
    from agent.insight import report
    from agent.insight.aggregates import Outcome

    rng = random.Random(1)
    today = date(2026, 12, 1)
    days = []
    for n in range(365):
        d = Day(today - timedelta(days=n))
        for _ in range(300):
            w = rng.lognormvariate(3.5, 1.0)
            who = (
                f"S{rng.randrange(3)}",
                f"C{rng.randrange(8)}",
                "normal",
                f"A{rng.randrange(10)}",
            )
            d.add(Outcome(d.day, rng.randrange(8, 18), *who, w, w < 120, max(0.0, w - 120)))
        days.append(d)
    began = time.perf_counter()
    card = report.scorecard(days, report.period_for(today, first=today - timedelta(days=364)))
    for render in (report.as_text, report.as_html, report.as_csv, report.as_json_text):
        render(card)
    return time.perf_counter() - began


def aggregate_kib(per_day: int, sources: int, categories: int, assignees: int) -> float:
    """KiB of a year of aggregates in the queue file for a team answering ``per_day`` a day."""
    import tempfile

    import orjson

    from agent.insight.aggregates import AggregateTable, Outcome
    from agent.storage import AGGREGATES_TABLE, AtomicJSONStorage, MemoryTables

    rng = random.Random(1)
    today = date(2026, 12, 31)
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryTables(AtomicJSONStorage(Path(tmp) / "queue.json"))
        table = AggregateTable(store, Path(tmp))
        for n in range(365):
            d = today - timedelta(days=n)
            outcomes = []
            for _ in range(per_day):
                w = rng.lognormvariate(3.5, 1.0)
                who = (
                    f"Source {rng.randrange(sources)}",
                    f"Category {rng.randrange(categories)}",
                    rng.choice(("low", "normal", "high", "urgent")),
                    f"Assignee {rng.randrange(assignees)}",
                )
                outcomes.append(Outcome(d, rng.randrange(8, 18), *who, w, w < 120, 0.0))
            table.add(outcomes, today)
        return len(orjson.dumps(store.read()[AGGREGATES_TABLE])) / 1024


def figures() -> list[tuple[str, Score]]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    cycles, config = demo_load(end, days=21)
    demo = backtest(cycles, config, end - timedelta(days=2), end)
    first = date(2026, 9, 7)
    cycles, config = synthetic_load(16, first, 35)
    start = datetime(2026, 9, 28, tzinfo=UTC)  # after three weeks of history
    synthetic = backtest(cycles, config, start, start + timedelta(days=14))
    return [
        ("demo helpdesk, last 2 days of 21", demo),
        ("synthetic bursty team, 14 days", synthetic),
    ]


def rows() -> list:  # type: ignore[type-arg]
    from bench.run import Row

    out = []
    for name, s in figures():
        passed = s.recall >= 0.8 and s.precision >= 0.5
        out.append(
            Row(
                f"forecast at_risk 30 min ahead: {name}",
                f"recall {s.recall:.2f}, precision {s.precision:.2f}",
                "—",
                None,
                "recall ≥ 0.8 at precision ≥ 0.5",
                None,
                passed,
                f"{s.breached} breaches seen in time, {s.flagged} flagged, {s.hits} of them right",
            )
        )
    for per_day, shape in ((100, (2, 6, 6)), (300, (3, 8, 10))):
        kib = aggregate_kib(per_day, *shape)
        out.append(
            Row(
                f"daily aggregates kept for a year, {per_day} answers a day",
                f"{kib:.0f} KiB",
                "—",
                None,
                "≤ 500 KiB",
                None,
                kib <= 500,
                f"{shape[0]} sources, {shape[1]} categories, 4 priorities, {shape[2]} assignees;"
                " 8 weeks of days, then whole weeks",
            )
        )
    took = render_seconds()
    out.append(
        Row(
            "scorecard for a year of aggregates (300 answers a day), all four formats",
            f"{took:.3f} s",
            "—",
            None,
            "< 1 s",
            None,
            took < 1.0,
        )
    )
    return out


if __name__ == "__main__":
    for name, s in figures():
        print(f"{name}: recall {s.recall:.2f} precision {s.precision:.2f} ({s})")
    print(f"render a year: {render_seconds():.3f} s")
    print(
        f"a year of aggregates: {aggregate_kib(100, 2, 6, 6):.0f} KiB at 100 a day, "
        f"{aggregate_kib(300, 3, 8, 10):.0f} KiB at 300 a day"
    )
