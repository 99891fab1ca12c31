"""Daily aggregates: what each day's answered tickets add up to, kept for 400 days.

Why it is built this way:
- *Per dimension, not per combination.* A day keeps one cell for every value of each dimension
  (source, category, priority, assignee) and one for the whole team ("*"), not one per
  combination of the four: the scorecard shows each dimension on its own, and the product of
  four dimensions costs megabytes a year where the cells cost a few hundred kilobytes.
- *A histogram of waits.* Waits go into logarithmic buckets (each about 13 % wider than the
  last, stored densely from the first bucket used), so p50 and p90 come out within about 9 %
  of the exact value, usually much closer (interpolated within the bucket), from a few numbers.
- *Weeks after eight weeks.* Days older than eight weeks are merged into whole weeks (a row
  for each Monday): a report of a period that old counts each week in the period its Monday
  falls in. Two months of days and a year of weeks cost a few hundred kilobytes.
- *In the queue's file.* The rows live in the queue file's ``aggregates`` table, keyed by day,
  changed in memory beside the ledger rows they come from and saved in the same atomic write.
  A table that cannot be read is moved aside to a file of its own and the agent starts a new one.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

import orjson

from agent.model import UTC
from agent.storage import AGGREGATES_TABLE as TABLE
from agent.storage import KEY_SEP, MemoryTables, atomic_write

log = logging.getLogger(__name__)

KEEP_DAYS = 400
DAILY_WEEKS = 8  # days older than this many weeks are merged into whole weeks
DIMENSIONS = ("source", "category", "priority", "assignee")
TEAM = "*"  # the cell of every answered ticket of a day
BUCKETS_PER_E = 6  # histogram resolution: bucket i holds waits in [e^(i/6)-1, e^((i+1)/6)-1)
NEAR_MISS = 0.9  # answered after this part of the window: a near miss
HOURS = 24


@dataclass(frozen=True, slots=True)
class Outcome:
    """One waiting cycle that ended: how long it waited and how that compares to its window.

    ``wait`` and ``late`` are minutes counted the way the window is (business minutes when
    business hours are configured)."""

    day: date
    hour: int  # local hour of the answer (0-23)
    source: str
    category: str
    priority: str
    assignee: str
    wait: float
    within: bool
    late: float = 0.0  # minutes past the deadline (breaches only)
    near: bool = False  # answered within the window, in its last tenth

    def cells(self) -> list[str]:
        """The cells this outcome adds to: the team's and one per dimension."""
        values = (self.source, self.category, self.priority, self.assignee)
        return [TEAM, *(cell_key(d, v) for d, v in zip(DIMENSIONS, values, strict=True))]


def cell_key(dimension: str, value: str) -> str:
    return f"{dimension}{KEY_SEP}{value}"


def split_key(key: str) -> tuple[str, str]:
    """(dimension, value) of a cell key; ("*", "") for the team's."""
    dimension, _, value = key.partition(KEY_SEP)
    return (dimension, value) if key != TEAM else (TEAM, "")


def bucket(minutes: float) -> int:
    return int(math.log1p(max(0.0, minutes)) * BUCKETS_PER_E)


def bucket_value(index: int) -> float:
    """The wait a bucket stands for: the geometric middle of its bounds, in minutes."""
    return math.expm1((index + 0.5) / BUCKETS_PER_E)


@dataclass(slots=True)
class Cell:
    """What one day's tickets of one cell add up to (minutes rounded to whole minutes)."""

    answered: int = 0
    within: int = 0
    breaches: int = 0
    late_total: int = 0
    late_max: int = 0
    near: int = 0
    wait_max: int = 0
    hist: dict[int, int] = field(default_factory=dict)

    def add(self, o: Outcome) -> None:
        self.answered += 1
        self.within += o.within
        self.near += o.near
        if not o.within:
            self.breaches += 1
            self.late_total += round(o.late)
            self.late_max = max(self.late_max, round(o.late))
        self.wait_max = max(self.wait_max, round(o.wait))
        b = bucket(o.wait)
        self.hist[b] = self.hist.get(b, 0) + 1

    def merge(self, other: Cell) -> None:
        self.answered += other.answered
        self.within += other.within
        self.breaches += other.breaches
        self.late_total += other.late_total
        self.late_max = max(self.late_max, other.late_max)
        self.near += other.near
        self.wait_max = max(self.wait_max, other.wait_max)
        for b, n in other.hist.items():
            self.hist[b] = self.hist.get(b, 0) + n

    def percentile(self, p: float) -> float | None:
        """The wait (minutes) under which ``p`` (0-1) of the answers came; None if none."""
        return percentile(self.hist, p)

    def stored(self) -> list[Any]:
        lo = min(self.hist, default=0)
        dense = [lo, *(self.hist.get(b, 0) for b in range(lo, max(self.hist, default=-1) + 1))]
        counts = (self.answered, self.within, self.breaches, self.late_total, self.late_max)
        return [*counts, self.near, self.wait_max, dense]

    @classmethod
    def of(cls, stored: list[Any]) -> Cell:
        if not isinstance(stored, list) or len(stored) != 8:
            raise ValueError(f"a cell is seven counts and a histogram, not {stored!r:.80}")
        *counts, dense = stored
        if not all(isinstance(n, int) and n >= 0 for n in counts):
            raise ValueError(f"a cell's counts are whole numbers, not {counts!r:.80}")
        if not isinstance(dense, list) or not all(isinstance(n, int) and n >= 0 for n in dense):
            raise ValueError(f"a histogram is its first bucket and counts, not {dense!r:.80}")
        lo = dense[0] if dense else 0
        hist = {lo + i: n for i, n in enumerate(dense[1:]) if n}
        a, w, b, lt, lm, n, wm = counts
        return cls(a, w, b, lt, lm, n, wm, hist)


def percentile(hist: Mapping[int, int], p: float) -> float | None:
    """The wait (minutes) under which ``p`` of the histogram's waits lie, interpolated within
    its bucket on the log scale the buckets use; None for an empty histogram."""
    total = sum(hist.values())
    if not total:
        return None
    rank = min(max(p, 0.0), 1.0) * total
    seen = 0
    for b in sorted(hist):
        if seen + hist[b] >= rank:
            part = (rank - seen) / hist[b]
            return math.expm1((b + part) / BUCKETS_PER_E)
        seen += hist[b]
    return bucket_value(max(hist))


@dataclass(slots=True)
class Day:
    """One day's aggregates: its cells, each source's unreadable seconds, and per local hour
    the cycles that started waiting (arrivals) and the ones answered."""

    day: date
    cells: dict[str, Cell] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    arrivals: list[int] = field(default_factory=lambda: [0] * HOURS)
    answers: list[int] = field(default_factory=lambda: [0] * HOURS)
    #: a whole week (``day`` is its Monday): days older than DAILY_WEEKS weeks are kept so
    week: bool = False

    def add(self, o: Outcome) -> None:
        for key in o.cells():
            self.cells.setdefault(key, Cell()).add(o)
        self.answers[o.hour] += 1

    def merge(self, other: Day) -> None:
        for key, cell in other.cells.items():
            self.cells.setdefault(key, Cell()).merge(cell)
        for source, seconds in other.unreadable.items():
            self.unreadable[source] = self.unreadable.get(source, 0) + seconds
        self.arrivals = [a + b for a, b in zip(self.arrivals, other.arrivals, strict=True)]
        self.answers = [a + b for a, b in zip(self.answers, other.answers, strict=True)]

    def stored(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "cells": {k: c.stored() for k, c in self.cells.items()},
            "unreadable": dict(self.unreadable),
            "arrivals": list(self.arrivals),
            "answers": list(self.answers),
            **({"week": True} if self.week else {}),
        }

    @classmethod
    def of(cls, row: Any) -> Day:
        if not isinstance(row, dict) or not isinstance(row.get("cells"), dict):
            raise ValueError(f"a day's aggregates are an object with cells, not {row!r:.80}")
        unreadable = row.get("unreadable", {})
        if not isinstance(unreadable, dict) or not all(
            isinstance(s, int) for s in unreadable.values()
        ):
            raise ValueError("unreadable seconds are a map of source to seconds")
        hours = [row.get("arrivals", [0] * HOURS), row.get("answers", [0] * HOURS)]
        if not all(isinstance(h, list) and len(h) == HOURS for h in hours):
            raise ValueError("arrivals and answers are 24 counts, one per hour")
        return cls(
            date.fromisoformat(str(row.get("day"))),
            {str(k): Cell.of(v) for k, v in row["cells"].items()},
            {str(k): v for k, v in unreadable.items()},
            [int(n) for n in hours[0]],
            [int(n) for n in hours[1]],
            bool(row.get("week")),
        )


def add_outcomes(days: dict[date, Day], outcomes: Iterable[Outcome]) -> set[date]:
    """Add ``outcomes`` to ``days`` (pure but for ``days``); returns the days changed."""
    changed = set()
    for o in outcomes:
        days.setdefault(o.day, Day(o.day)).add(o)
        changed.add(o.day)
    return changed


def unreadable_spans(start: datetime, end: datetime, tz: tzinfo | None) -> list[tuple[date, int]]:
    """The seconds from ``start`` to ``end`` split by local day (``tz``; None: the machine's)."""
    out: list[tuple[date, int]] = []
    at = start
    while at < end:
        local = at.astimezone(tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(), tz or local.tzinfo)
        stop = min(end, midnight.astimezone(UTC))
        if stop <= at:
            stop = end
        out.append((local.date(), round((stop - at).total_seconds())))
        at = stop
    return [(d, s) for d, s in out if s > 0]


def merge_cells(days: Iterable[Day], first: date, last: date) -> dict[str, Cell]:
    """Every cell of the days from ``first`` to ``last`` (both included), added up."""
    out: dict[str, Cell] = {}
    for d in days:
        if first <= d.day <= last:
            for key, cell in d.cells.items():
                out.setdefault(key, Cell()).merge(cell)
    return out


def unreadable_minutes(days: Iterable[Day], first: date, last: date) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in days:
        if first <= d.day <= last:
            for source, seconds in d.unreadable.items():
                out[source] = out.get(source, 0) + seconds
    return {s: round(v / 60) for s, v in out.items()}


class AggregateTable:
    """The ``aggregates`` table of the queue file, kept in the queue's in-memory storage.

    Read through :meth:`days`, changed by :meth:`add`, :meth:`arrived` and :meth:`unreadable`;
    saved with the queue's next commit. Built by the queue when it opens its file."""

    def __init__(self, store: MemoryTables, data_dir: Path, writable: bool = True) -> None:
        self.store = store
        #: where a table that could not be read was moved, if it was
        self.recovered_from: Path | None = None
        self._days: dict[date, Day] = {}
        self._load(data_dir, writable)

    def _load(self, data_dir: Path, writable: bool) -> None:
        raw = self.store.read().get(TABLE)
        if raw is None:
            return
        try:
            if not isinstance(raw, dict):
                raise ValueError("not a table of days")
            self._days = {d.day: d for d in map(Day.of, raw.values())}
        except (ValueError, TypeError) as exc:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = data_dir / f"{TABLE}.corrupt-{stamp}.json"
            if writable:
                atomic_write(aside, orjson.dumps(raw))
                self.recovered_from = aside
            log.error(
                "the daily aggregates could not be read (%s); moved them aside to %s and "
                "started a new history",
                exc,
                aside.name,
            )
            self._days = {}
            self.store.read()[TABLE] = {}
            self.store.changed = True

    def days(self) -> list[Day]:
        return sorted(self._days.values(), key=lambda d: d.day)

    def add(self, outcomes: Iterable[Outcome], today: date) -> None:
        self._save(add_outcomes(self._days, outcomes), today)

    def arrived(self, local_times: Iterable[datetime], today: date) -> None:
        """Count the cycles that started waiting at ``local_times`` (each in the local zone)."""
        # counted per (day, hour) first: 10,000 new tickets of a first sync fall on a few days
        counts = Counter((at.date(), at.hour) for at in local_times)
        for (d, hour), n in counts.items():
            day = self._days.get(d)
            if day is None:
                day = self._days[d] = Day(d)
            day.arrivals[hour] += n
        self._save({d for d, _hour in counts}, today)

    def unreadable(self, source: str, spans: Iterable[tuple[date, int]], today: date) -> None:
        changed = set()
        for d, seconds in spans:
            day = self._days.setdefault(d, Day(d))
            day.unreadable[source] = day.unreadable.get(source, 0) + seconds
            changed.add(d)
        self._save(changed, today)

    def replace(self, days: Iterable[Day], today: date) -> None:
        """Take ``days`` as the whole history (the demo's replay)."""
        self._days = {d.day: d for d in days}
        self.store.read()[TABLE] = {}
        self._save(set(self._days), today)

    def _save(self, changed: set[date], today: date) -> None:
        oldest = today - timedelta(days=KEEP_DAYS)
        table = self.store.read().setdefault(TABLE, {})
        changed |= self._into_weeks(today, table)
        for d in [d for d in self._days if d < oldest]:
            del self._days[d]
            table.pop(d.isoformat(), None)
            self.store.changed = True
        for d in changed:
            if d in self._days:
                table[d.isoformat()] = self._days[d].stored()
                self.store.changed = True

    def _into_weeks(self, today: date, table: dict[str, Any]) -> set[date]:
        """Merge the days older than DAILY_WEEKS weeks into their weeks; returns the weeks."""
        this_monday = today - timedelta(days=today.weekday())
        cutoff = this_monday - timedelta(weeks=DAILY_WEEKS)
        old = [d for d, row in self._days.items() if d < cutoff and not row.week]
        weeks: set[date] = set()
        for d in sorted(old):
            monday = d - timedelta(days=d.weekday())
            row = self._days.pop(d)
            table.pop(d.isoformat(), None)
            week = self._days.get(monday)
            if week is None:
                week = self._days[monday] = Day(monday, week=True)
            week.merge(row)
            weeks.add(monday)
        return weeks
