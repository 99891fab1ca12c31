"""The demo helpdesk's history replayed through the policy: ``--demo`` then has 60 days of real
numbers for the scorecard, the dashboard and the forecast, without a helpdesk.

The demo's tickets are a pure function of the clock (:func:`agent.sources.demo.demo_cycle`), so
the history is the same every time: each cycle is measured against the deadline the policy
gives it with the demo's windows, exactly as the engine measures a real one. Replaying 60 days
(some 130,000 cycles) takes seconds, so the days already over are kept in a cache file in the
demo's data folder and only today is replayed again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import orjson

from agent.config import Config
from agent.escalation import display_zone
from agent.insight.aggregates import Day, add_outcomes
from agent.insight.forecast import HISTORY_NEEDED
from agent.insight.record import outcome
from agent.model import UTC, Ticket
from agent.queue import LocalQueue
from agent.sources.demo import SLOT, demo_cycle
from agent.storage import atomic_write

DEMO_DAYS = 60
CACHE_FILE = "demo-history.json"
CACHE_VERSION = 1  # raise when the replay's numbers change
LONGEST = timedelta(hours=1)  # no demo cycle waits longer than this


def demo_cycles(source: str, start: datetime, end: datetime) -> Iterator[tuple[Ticket, datetime]]:
    """Every demo cycle opened from ``start`` to ``end``, with the moment it is answered."""
    for k in range(int(start.timestamp()) // SLOT + 1, int(end.timestamp()) // SLOT + 1):
        yield demo_cycle(source, k)


def replay(config: Config, start: datetime, end: datetime) -> list[Day]:
    """The aggregates of the demo cycles that arrived or were answered from ``start`` to
    ``end`` (each counted on the day it happened)."""
    source = config.sources[0].name if config.sources else "Demo helpdesk"
    tz = display_zone(config)
    history: dict[date, Day] = {}
    outcomes = []
    for ticket, answered in demo_cycles(source, start - LONGEST, end):
        if start <= ticket.waiting_since < end:
            arrived = ticket.waiting_since.astimezone(tz)
            history.setdefault(arrived.date(), Day(arrived.date())).arrivals[arrived.hour] += 1
        if start <= answered < end:
            outcomes.append(outcome(ticket, answered, config, tz))
    add_outcomes(history, outcomes)
    return sorted(history.values(), key=lambda d: d.day)


def demo_history(config: Config, now: datetime, folder: Path | None = None) -> list[Day]:
    """The demo's last ``DEMO_DAYS`` days up to ``now``: the days over from the cache in
    ``folder`` (replayed and kept there when missing), today replayed."""
    tz = display_zone(config)
    today = now.astimezone(tz).date()
    midnight = datetime.combine(today, time(), tz or now.astimezone().tzinfo).astimezone(UTC)
    first = today - timedelta(days=DEMO_DAYS)
    cache = folder / CACHE_FILE if folder is not None else None
    past = {d.day: d for d in _read_cache(cache) if first <= d.day < today}
    if len(past) < DEMO_DAYS:
        start = datetime.combine(first, time(), tz or now.astimezone().tzinfo).astimezone(UTC)
        past = {d.day: d for d in replay(config, start, midnight)}
        if cache is not None:
            stored = {"version": CACHE_VERSION, "days": [d.stored() for d in past.values()]}
            atomic_write(cache, orjson.dumps(stored))
    return sorted(past.values(), key=lambda d: d.day) + replay(config, midnight, now)


def _read_cache(cache: Path | None) -> list[Day]:
    try:
        data = orjson.loads(cache.read_bytes()) if cache is not None else None
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return []
        return [Day.of(row) for row in data["days"]]
    except (OSError, ValueError, TypeError, KeyError):
        return []  # no cache, or not one this version wrote: replayed again


def seed(queue: LocalQueue, days: list[Day], now: datetime) -> None:
    """Give the demo's queue the replayed history when it has less than the forecast needs
    (so ``ticketbell --demo`` forecasts after a ``report --demo``); then close it."""
    try:
        known = queue.aggregates.days()
        if queue.writable and (not known or (now.date() - known[0].day).days < HISTORY_NEEDED):
            queue.aggregates.replace(days, now.date())
    finally:
        queue.close()
