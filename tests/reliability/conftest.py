"""What the reliability tests share: the real agent with a fake clock, fake helpdesks behind a
fault proxy, and a tally of what was tried for the ``make reliability`` report.

Tests record figures with pytest's ``record_property``: ``fault`` (the name of a fault the agent
must survive; it counts as survived when the test passes), ``alerts_duplicated``,
``alerts_lost``, ``escalations_duplicated``, ``escalations_lost``, ``secrets_found``, ``kills``,
``tokens_to_foreign_host``, ``channel_tokens_accepted``, ``files_readable_by_others``,
``fetches_past_deadline``, ``scheduler_deaths``, ``sent_twice_slow_channel``.
``tests/reliability/report.py`` turns them into the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent import config as cfg
from agent import secrets
from agent.engine import Agent, scheduler
from agent.model import Alert, SourceHealth, Status
from agent.queue import LocalQueue
from tests.fakes.github import FakeGitHub
from tests.fakes.jsonapi import FIELDS as JSON_FIELDS
from tests.fakes.jsonapi import PATH, FakeJsonHelpdesk
from tests.fakes.web import local_server

JSON_KEY = "reliability-jsonkey-7d1e0c55aa"
GITHUB_TOKEN = "ghp_reliabilityTOKEN0b9a1f2c3d"


#: seconds between two looks of the scheduler thread at the fake clock
FAKE_CLOCK_SLEEP = 0.01


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``check`` until it holds (events cross real threads; no timed assertion)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.005)
    raise AssertionError(f"not reached in {timeout:g} s: {what or check}")


def json_source(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "json",
        "url": url,
        "interval": "1m",
        "timeout": 1,
        "auth_header": "X-Api-Key",
        "items": "data.tickets",
        "next": "links.next",
        "fields": dict(JSON_FIELDS),
        "waiting_statuses": ["open"],
        **extra,
    }


def github_source(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "github",
        "url": url,
        "repository": "acme/tool",
        "interval": "1m",
        "timeout": 1,
        **extra,
    }


class Desk:
    """One fake helpdesk of a kind on main, with a uniform way to add and drop tickets."""

    def __init__(self, kind: str, server: Any, now: datetime) -> None:
        self.kind = kind
        self.now = now
        self.fake: FakeJsonHelpdesk | FakeGitHub
        if kind == "json":
            self.fake = FakeJsonHelpdesk(server, JSON_KEY, page_size=100)
            self.secret = JSON_KEY
        else:
            self.fake = FakeGitHub(server, GITHUB_TOKEN)
            self.secret = GITHUB_TOKEN

    def add(self, number: int, title: str, minutes_ago: float = 5) -> None:
        at = self.now - timedelta(minutes=minutes_ago)
        if isinstance(self.fake, FakeJsonHelpdesk):
            self.fake.add(number, title, opened=at, customer_wrote=at)
        else:
            self.fake.add_issue(number, title, created=at)

    def source(self, name: str, base: str, **extra: Any) -> dict[str, Any]:
        if self.kind == "json":
            return json_source(name, base + PATH, **extra)
        return github_source(name, base, **extra)

    @property
    def requests(self) -> int:
        return len(self.fake.requests)


@dataclass
class Run:
    """The real Agent (real sources, real threads) on a fake clock, and what it published."""

    agent: Agent
    clock: Any
    statuses: list[Status] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def health(self, name: str) -> SourceHealth:
        return next(s for s in self.agent.status.sources if s.name == name)

    def advance(self, seconds: float) -> None:
        """Move the fake clock; the scheduler thread re-reads it within ``FAKE_CLOCK_SLEEP``."""
        self.clock.advance(seconds)

    def settle(self) -> None:
        """Wait until the scheduler has made a whole pass after this call (at the clock's time,
        with whatever the workers had handed back)."""
        start = self.agent.passes
        wait_until(lambda: self.agent.passes >= start + 2, what="a full scheduler pass")

    def advance_to_next_poll(self, name: str) -> None:
        """Move the clock to when the agent itself planned to poll ``name`` again (known once
        the fetch under way, if any, has been handled)."""
        wait_until(lambda: name not in self.agent.fetching, what=f"{name}'s fetch handled")

        def planned() -> bool:  # the status that says so may be published a moment later
            nxt = self.health(name).next_poll
            return nxt is not None and nxt > self.clock.now()

        wait_until(planned, what=f"{name}'s next poll planned after the fetch")
        nxt = self.health(name).next_poll
        assert nxt is not None
        self.advance(max(1.0, (nxt - self.clock.now()).total_seconds() + 1))

    def kinds(self, kind: str, source: str | None = None) -> list[Alert]:
        return [a for a in self.alerts if a.kind == kind and (source is None or a.source == source)]


@pytest.fixture
def start_agent(
    tmp_path: Path, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Run]]:
    """``start_agent(config_dict, secrets={name: secret})`` -> a started :class:`Run`.

    The real scheduler thread runs, on the fake clock: it wakes every ``FAKE_CLOCK_SLEEP``
    seconds (instead of every 30 s) to see where the test has moved the clock."""
    monkeypatch.setattr(scheduler, "MAX_SLEEP", FAKE_CLOCK_SLEEP)
    runs: list[Run] = []

    def start(data: dict[str, Any], source_secrets: dict[str, str] | None = None) -> Run:
        for name, value in (source_secrets or {}).items():
            secrets.set(name, value)
        config = cfg.from_dict(data)
        queue = LocalQueue(tmp_path / f"data{len(runs)}")
        run = Run(Agent(config, queue, clock=clock), clock)
        run.agent.subscribe(run.statuses.append, run.alerts.extend)
        runs.append(run)
        run.agent.start()
        return run

    yield start
    for run in runs:
        run.agent.stop()


@pytest.fixture
def two_servers() -> Iterator[tuple[Any, Any]]:
    with local_server() as one, local_server() as two:
        yield one, two
