"""Engine tests: a fake clock for time, real threads for fetching, and the scheduler driven pass by
pass with ``Agent.step`` (never a fixed sleep: a test says when time moves and when it looks)."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from agent import config as cfg
from agent.engine import Agent
from agent.model import Alert, Health, Snapshot, Status, Ticket
from agent.queue import LocalQueue
from agent.sources.base import RateLimited, Source, Unavailable


class ScriptedSource(Source):
    """A source whose fetch does what the test says: return tickets, raise, or block."""

    kind = "demo"
    needs_secret = False

    def __init__(self, config, clock):
        super().__init__(config, None, clock)
        self.calls = 0
        self.tickets: list[Ticket] = []
        self.error: Exception | None = None
        self.gate: threading.Event | None = None

    def fetch(self, since):
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.error is not None:
            raise self.error
        return Snapshot(self.name, tuple(self.tickets), self.clock())


def make_config(names=("A",), interval="10s", **extra) -> cfg.Config:
    sources = [{"name": n, "kind": "demo", "interval": interval} for n in names]
    return cfg.from_dict({"sources": sources, "alerts": {"remind_every": "off"}, **extra})


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.005)
    raise AssertionError("condition not reached in time")


class Harness:
    def __init__(self, tmp_path, clock, config, sources=None):
        self.clock = clock
        self.sources = sources or {s.name: ScriptedSource(s, clock.now) for s in config.sources}
        self.queue = LocalQueue(tmp_path / "data")
        self.agent = Agent(
            config, self.queue, clock=clock, source_factory=lambda c, _clock: self.sources[c.name]
        )
        self.alerts: list[Alert] = []
        self.statuses: list[Status] = []
        self.agent.subscribe(self.statuses.append, lambda a: self.alerts.extend(a))

    def health(self, name: str):
        return next(s for s in self.agent.status.sources if s.name == name)

    def start(self) -> None:
        """The scheduler's first pass: the first polls start."""
        self.agent.step()

    def advance(self, seconds: float) -> None:
        """Move the fake clock and run one scheduler pass at the new time."""
        self.clock.advance(seconds)
        self.agent.step()

    def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        """Run scheduler passes (each handling what the workers handed back) until ``check``."""
        run_until(check, self, timeout=timeout)

    def settle(self) -> None:
        """Run scheduler passes until every fetch it started has been handled (except those
        held at their source's gate): after it, nothing more is under way."""

        def held() -> set[str]:
            return {n for n, s in self.sources.items() if s.gate and not s.gate.is_set()}

        self.until(lambda: not (self.agent.fetching - held()))


def run_until(check: Callable[[], bool], *harnesses: Harness, timeout: float = 5.0) -> None:
    """Step every harness's agent (waiting briefly for worker results) until ``check``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for h in harnesses:
            h.agent.step(wait=0.002)
        if check():
            return
    raise AssertionError("condition not reached in time")


@pytest.fixture
def harness(tmp_path, clock):
    made: list[Harness] = []

    def make(config=None, sources=None) -> Harness:
        h = Harness(tmp_path, clock, config or make_config(), sources)
        made.append(h)
        return h

    yield make
    for h in made:
        for s in h.sources.values():
            if s.gate is not None:
                s.gate.set()
        h.agent.stop()


def ticket(i: int, since: datetime, source: str = "A", **kw) -> Ticket:
    return Ticket(
        source=source, id=str(i), subject=f"T{i}", created_at=since, waiting_since=since, **kw
    )


def test_a_slow_source_does_not_delay_a_fast_one(harness):
    h = harness(make_config(("Slow", "Fast")))
    h.sources["Slow"].gate = threading.Event()
    h.start()
    h.until(lambda: h.health("Fast").health is Health.OK)
    for expected in (2, 3):
        h.advance(11)
        h.until(lambda e=expected: h.sources["Fast"].calls == e)
    h.settle()
    assert h.sources["Slow"].calls == 1  # still in its first fetch, never started twice
    assert h.health("Slow").health is Health.UNKNOWN
    h.sources["Slow"].gate.set()
    h.until(lambda: h.health("Slow").health is Health.OK)


def test_each_source_polls_on_its_own_interval(harness):
    config = cfg.from_dict(
        {
            "sources": [
                {"name": "A", "kind": "demo", "interval": "10s"},
                {"name": "B", "kind": "demo", "interval": "60s"},
            ]
        }
    )
    h = harness(config)
    h.start()

    def polled(name: str, calls: int) -> Callable[[], bool]:
        # fetched that often, and the result handled (its attempt stamped with the fake "now")
        return lambda: (
            h.sources[name].calls == calls and h.health(name).last_attempt == h.clock.now()
        )

    h.until(lambda: polled("A", 1)() and polled("B", 1)())
    for calls in range(2, 7):
        h.advance(11)
        h.until(polled("A", calls))
    assert h.sources["B"].calls == 1
    h.advance(11)
    h.until(lambda: h.sources["B"].calls == 2)


def test_failures_back_off_exponentially(harness, clock):
    h = harness()
    h.sources["A"].error = Unavailable("helpdesk down")
    h.start()
    delays = []
    for n in range(1, 5):
        h.until(lambda n=n: h.health("A").failures == n)
        health = h.health("A")
        delays.append((health.next_poll - health.last_attempt).total_seconds())
        h.advance(delays[-1] + 0.01)
    for got, want in zip(delays, (10, 20, 40, 80), strict=True):
        assert want * 0.94 <= got <= want * 1.06


def test_a_source_failing_for_weeks_is_still_retried_at_the_back_off_cap(tmp_path, clock):
    """2**1024 is too large for a float: a source failing ~11 days at the 15-minute cap
    reached it, and working out its next try raised OverflowError."""
    import random

    from agent.engine.pipeline import BACKOFF_CAP, Pipeline, SourceState

    config = make_config()
    queue = LocalQueue(tmp_path / "data")
    try:
        pipeline = Pipeline(config, queue, clock, random.Random(0))
        state = SourceState(config.sources[0], failures=2000)
        delay = pipeline._retry_delay(state, Unavailable("helpdesk down"))
        assert BACKOFF_CAP.total_seconds() * 0.94 <= delay <= BACKOFF_CAP.total_seconds() * 1.06
    finally:
        queue.close()


def test_retry_after_is_obeyed(harness):
    h = harness()
    h.sources["A"].error = RateLimited("slow down", retry_after=120)
    h.start()
    h.until(lambda: h.health("A").health is Health.SLOWED)
    health = h.health("A")
    assert health.next_poll - health.last_attempt == timedelta(seconds=120)
    h.advance(100)
    h.settle()  # any poll this pass started has been made and handled
    assert h.sources["A"].calls == 1
    h.advance(21)
    h.until(lambda: h.sources["A"].calls == 2)


def test_a_failing_source_keeps_its_tickets_marked_stale_never_zero(harness, clock):
    h = harness()
    h.sources["A"].tickets = [ticket(1, clock.now()), ticket(2, clock.now())]
    h.start()
    h.until(lambda: h.agent.status.waiting == 2 and not h.agent.status.blind)
    h.sources["A"].error = Unavailable("helpdesk down (HTTP 502)")
    h.advance(11)
    h.until(lambda: any(a.kind == "source_down" for a in h.alerts))
    status = h.agent.status
    assert status.waiting == 2
    assert status.blind
    assert all(w.stale for w in status.tickets)
    assert h.health("A").message == "helpdesk down (HTTP 502)"
    # the status is visible before the save that precedes telling subscribers: wait for it
    h.until(lambda: any(a.kind.startswith("source") for a in h.alerts))
    assert [a.kind for a in h.alerts if a.kind.startswith("source")] == ["source_down"]
    # recovery is automatic when the fault ends
    h.sources["A"].error = None
    h.sources["A"].tickets = [ticket(2, clock.now())]
    h.advance(11)
    h.until(lambda: any(a.kind == "answered" for a in h.alerts))
    assert h.agent.status.waiting == 1 and not h.agent.status.blind
    h.until(lambda: any(a.kind == "source_up" for a in h.alerts))
    kinds = [a.kind for a in h.alerts]
    assert kinds.count("source_up") == 1 and kinds.count("answered") == 1


def test_one_broken_source_does_not_stop_the_others(harness, clock):
    h = harness(make_config(("Broken", "Fine")))
    h.sources["Broken"].error = ValueError("a connector bug")
    h.sources["Fine"].tickets = [ticket(1, clock.now(), "Fine")]
    h.start()
    h.until(lambda: h.health("Broken").health is Health.FAILING)
    h.until(lambda: h.health("Fine").health is Health.OK)
    assert "unexpectedly" in h.health("Broken").message
    assert h.agent.status.waiting == 1


def test_alerts_are_published_once_and_not_again_after_a_restart(tmp_path, clock):
    config = make_config()
    tickets = [ticket(1, clock.now()), ticket(2, clock.now())]

    def run_once() -> list[str]:
        h = Harness(tmp_path, clock, config)
        h.sources["A"].tickets = tickets
        h.start()
        h.until(lambda: h.agent.status.waiting == 2 and h.health("A").health is Health.OK)
        h.advance(11)
        h.until(lambda: h.sources["A"].calls == 2)
        h.settle()  # the second poll's result handled, saved and published
        h.agent.stop()
        return [a.kind for a in h.alerts]

    assert run_once() == ["summary"]  # two tickets found by a first sync: one summary
    assert run_once() == []


def test_a_first_sync_is_one_summary_then_the_overdue_ones_then_nothing_after_restart(
    tmp_path, clock
):
    config = make_config(windows={"default": "1h"})
    now = clock.now()
    fresh = [ticket(i, now - timedelta(minutes=5)) for i in range(296)]
    late = [ticket(i, now - timedelta(hours=3)) for i in range(296, 300)]
    h = Harness(tmp_path, clock, config)
    h.sources["A"].tickets = fresh + late
    h.start()
    h.until(lambda: bool(h.alerts))
    h.settle()
    kinds = [a.kind for a in h.alerts]
    assert kinds[0] == "summary" and kinds.count("summary") == 1
    assert "new" not in kinds
    assert sorted(a.ticket for a in h.alerts if a.kind == "overdue") == [
        "296",
        "297",
        "298",
        "299",
    ]
    summary = h.alerts[0]
    assert summary.subject == "A: 300 waiting, 4 overdue"
    assert dict(summary.counts) == {"waiting": 300, "new": 300, "overdue": 4, "due_soon": 0}

    # the next poll finds one ticket more: that one is announced as new, on its own
    everything = fresh + late + [ticket(300, clock.now())]
    h.sources["A"].tickets = everything
    h.alerts.clear()
    h.advance(11)
    h.until(lambda: bool(h.alerts))
    assert [(a.kind, a.ticket) for a in h.alerts] == [("new", "300")]
    h.agent.stop()

    # a restart announces nothing again: not the summary, not the new, not the overdue
    again = Harness(tmp_path, clock, config)
    again.sources["A"].tickets = everything
    again.start()
    again.until(lambda: again.agent.status.waiting == 301)
    again.settle()
    again.agent.stop()
    assert again.alerts == []


def test_a_first_sync_of_one_ticket_announces_that_ticket(harness, clock):
    h = harness()
    h.sources["A"].tickets = [ticket(1, clock.now())]
    h.start()
    h.until(lambda: bool(h.alerts))
    h.settle()
    assert [(a.kind, a.ticket) for a in h.alerts] == [("new", "1")]


def test_what_arrived_during_sleep_comes_as_one_summary_per_source(harness, clock):
    h = harness(make_config(("A", "B"), interval="10m", windows={"default": "24h"}))
    h.sources["A"].tickets = [ticket(1, clock.now())]
    h.start()
    h.until(lambda: h.agent.status.waiting == 1)
    h.settle()
    h.alerts.clear()
    # the laptop sleeps for three hours; meanwhile A gets three tickets more, B one
    h.sources["A"].tickets += [ticket(i, clock.now() + timedelta(hours=1)) for i in (2, 3, 4)]
    h.sources["B"].tickets = [ticket(1, clock.now() + timedelta(hours=2), "B")]
    clock.jump_wall(3 * 3600)
    h.agent.step()
    h.until(lambda: h.agent.status.waiting == 5)
    h.settle()
    assert sorted((a.kind, a.source, a.ticket) for a in h.alerts) == [
        ("new", "B", "1"),  # one ticket: announced as itself
        ("summary", "A", ""),
    ]
    summary = next(a for a in h.alerts if a.kind == "summary")
    assert summary.subject == "A: 3 new, 4 waiting"
    assert {w.ticket.id for w in summary.tickets} == {"2", "3", "4"}

    # after the resume, the next new ticket is a `new` alert again
    h.alerts.clear()
    h.sources["A"].tickets += [ticket(5, clock.now())]
    h.advance(11 * 60)
    h.until(lambda: bool(h.alerts))
    assert [(a.kind, a.ticket) for a in h.alerts] == [("new", "5")]


def test_due_soon_and_overdue_fire_on_time_without_a_poll(harness, clock):
    config = make_config(interval="1h", windows={"default": "10m"})
    h = harness(config)
    h.sources["A"].tickets = [ticket(1, clock.now())]
    h.start()
    h.until(lambda: [a.kind for a in h.alerts] == ["new"])
    h.advance(8 * 60)
    h.until(lambda: [a.kind for a in h.alerts] == ["new", "due_soon"])
    h.advance(2 * 60)
    h.until(lambda: [a.kind for a in h.alerts] == ["new", "due_soon", "overdue"])
    assert h.sources["A"].calls == 1


def test_a_wall_clock_jump_triggers_an_immediate_poll(harness, clock):
    h = harness(make_config(interval="10m"))
    h.start()
    h.until(lambda: h.sources["A"].calls == 1)
    clock.jump_wall(3 * 3600)  # the laptop slept for three hours
    h.agent.step()
    h.until(lambda: h.sources["A"].calls == 2)


def test_a_clock_jump_during_a_fetch_polls_again_once_it_ends(harness, clock):
    h = harness(make_config(interval="10m"))
    h.sources["A"].gate = threading.Event()
    h.start()
    h.until(lambda: h.sources["A"].calls == 1)  # the first fetch is still running
    clock.jump_wall(3 * 3600)
    h.agent.step()  # the jump is seen while the fetch runs
    assert h.agent.fetching == {"A"}
    h.sources["A"].gate.set()
    h.until(lambda: h.sources["A"].calls == 2)  # not 10 minutes later


def test_acknowledge_and_snooze_are_commands_the_scheduler_applies(harness, clock):
    h = harness()
    h.sources["A"].tickets = [ticket(1, clock.now())]
    h.start()
    h.until(lambda: h.agent.status.waiting == 1)
    h.agent.acknowledge("A", "1")
    h.until(lambda: h.agent.status.tickets[0].acknowledged)
    h.agent.snooze("A", "1", 15)
    h.until(lambda: h.agent.status.tickets[0].snoozed_until is not None)
    assert h.agent.status.tickets[0].snoozed_until == clock.now() + timedelta(minutes=15)


def test_i_am_on_it_and_a_snooze_can_be_undone(harness, clock):
    h = harness()
    h.sources["A"].tickets = [ticket(1, clock.now())]
    h.start()
    h.until(lambda: h.agent.status.waiting == 1)
    h.agent.acknowledge("A", "1")
    h.agent.snooze("A", "1", 30)
    h.until(lambda: h.agent.status.tickets[0].snoozed_until is not None)
    h.agent.acknowledge("A", "1", release=True)
    h.agent.snooze("A", "1", 0)
    h.until(lambda: h.agent.status.tickets[0].snoozed_until is None)
    assert not h.agent.status.tickets[0].acknowledged


def test_subscribers_are_called_off_the_polling_threads(harness, clock):
    h = harness()
    threads: set[str] = set()
    h.agent.subscribe(lambda s: threads.add(threading.current_thread().name))
    h.agent.start()
    wait_until(lambda: h.health("A").health is Health.OK)
    assert threads == {"ticketbell-scheduler"}


def test_check_polls_every_source_once(tmp_path, clock):
    h = Harness(tmp_path, clock, make_config(("A", "B")))
    h.sources["A"].tickets = [ticket(1, clock.now())]
    h.sources["B"].error = Unavailable("down")
    report = h.agent.poll_once()
    h.agent.stop()
    assert report.status.waiting == 1
    assert {s.name: s.health for s in report.status.sources} == {
        "A": Health.OK,
        "B": Health.FAILING,
    }
    assert [a.kind for a in report.alerts] == ["source_down", "new"] or sorted(
        a.kind for a in report.alerts
    ) == ["new", "source_down"]


class WatchingSource(ScriptedSource):
    """A source that can wait for a change at its helpdesk, as IMAP IDLE does."""

    def __init__(self, config, clock):
        super().__init__(config, clock)
        self.answers: queue.Queue[bool | None] = queue.Queue()
        self.waits = 0

    def wait_for_change(self, timeout):
        self.waits += 1
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            return False

    def close(self):
        self.answers.put(None)  # a closed source stops waiting at once


def watching_harness(harness, clock):
    config = make_config(interval="1h")
    return harness(config, {"A": WatchingSource(config.sources[0], clock.now)})


def test_a_change_reported_by_the_source_is_polled_at_once(harness, clock):
    h = watching_harness(harness, clock)
    source = h.sources["A"]
    h.start()
    h.until(lambda: source.calls == 1 and source.waits == 1)
    source.answers.put(True)  # mail arrived: no clock advance, the interval is an hour
    h.until(lambda: source.calls == 2)
    h.until(lambda: source.waits == 2)  # and it waits again after that fetch
    source.answers.put(False)  # nothing changed within the timeout: wait again, no fetch
    h.until(lambda: source.waits == 3)
    assert source.calls == 2


def test_a_source_that_cannot_wait_is_only_polled(harness, clock):
    h = watching_harness(harness, clock)
    source = h.sources["A"]
    h.start()
    h.until(lambda: source.waits == 1)
    source.answers.put(None)  # e.g. the server has no IDLE
    h.until(lambda: not h.agent.watching)  # the scheduler handled what the watcher reported
    h.settle()
    assert not h.agent.watching and source.waits == 1  # not asked again: polling only
    h.advance(3600 * 1.1)  # the interval, with its jitter
    h.until(lambda: source.calls == 2)
    h.until(lambda: source.waits == 2)  # asked again after the next successful fetch only
    assert source.calls == 2


def test_check_does_not_wait_for_changes(tmp_path, clock):
    config = make_config()
    source = WatchingSource(config.sources[0], clock.now)
    agent = Agent(
        config, LocalQueue(tmp_path / "q"), clock=clock, source_factory=lambda c, _: source
    )
    try:
        agent.poll_once()
    finally:
        agent.stop()
    assert source.calls == 1
    assert source.waits == 0


def test_a_source_built_without_its_secret_says_what_to_do():
    from agent.config import SourceConfig
    from agent.sources import source_class
    from agent.sources.base import NotConfigured

    for kind in ("zendesk", "freshdesk", "zammad", "rt", "freescout"):
        config = SourceConfig("Desk", kind, url="https://help.example.com", user="a@b.c")
        with pytest.raises(NotConfigured, match="ticketbell secret set 'Desk'"):
            source_class(kind)(config, None)


# --------------------------------------------------------------------------- hardening (issue 12)


def test_the_scheduler_survives_an_exception_says_so_and_starts_again(harness, clock, caplog):
    """Any exception in the loop once stopped the scheduler for good while the process lived
    on (so systemd never restarted it) and the tray kept showing the last count."""
    h = harness()
    h.sources["A"].tickets = [ticket(1, clock.now())]
    real_apply = h.queue.apply
    broken = {"left": 1}

    def apply(snapshot, now):
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("injected failure")
        return real_apply(snapshot, now)

    h.queue.apply = apply
    h.agent.start()
    wait_until(lambda: any(any("stopped watching" in n for n in s.notices) for s in h.statuses))
    down = next(s for s in h.statuses if any("stopped watching" in n for n in s.notices))
    assert down.waiting == 0 and down.blind  # the badge's can't-see state, not a count
    assert all(
        s.message.startswith("Ticketbell stopped watching: RuntimeError") for s in down.sources
    )
    records = [r for r in caplog.records if "stopped watching" in r.getMessage()]
    assert records and records[0].exc_info is not None  # logged with its traceback
    # It starts again by itself (after a 1 s back-off) and reads the source.
    wait_until(lambda: h.agent.status.waiting == 1 and not h.agent.status.blind, timeout=10)
    assert h.agent.scheduler_deaths == 1
    assert h.agent._thread is not None and h.agent._thread.is_alive()


def test_a_source_with_more_tickets_than_the_bound_is_cut_and_nothing_is_taken_as_answered(
    harness, clock, monkeypatch
):
    from agent.engine import pipeline

    monkeypatch.setattr(pipeline, "MAX_TICKETS_PER_SOURCE", 3)
    h = harness()
    h.sources["A"].tickets = [ticket(i, clock.now()) for i in range(1, 4)]
    h.start()
    h.until(lambda: h.agent.status.waiting == 3)
    # 5 reported, the first one changed: only 3 are kept, and the two cut off are not read —
    # the snapshot is incomplete, so ticket 3 (beyond the bound now) is not "answered".
    h.sources["A"].tickets = [ticket(i, clock.now()) for i in (9, 1, 2, 3, 4)]
    h.advance(11)
    h.until(lambda: h.sources["A"].calls == 2)
    h.until(lambda: h.agent.status.waiting == 4)
    assert not [a for a in h.alerts if a.kind == "answered"]
    assert {w.ticket.id for w in h.agent.status.tickets} == {"1", "2", "3", "9"}


def test_a_second_agent_on_the_same_folder_says_so_sends_nothing_and_takes_over(
    tmp_path, clock, caplog
):
    config = make_config(
        escalation={"levels": [{"after": "0m", "notify": ["owner-desktop"]}]}, role="owner"
    )
    first = Harness(tmp_path, clock, config)
    overdue = clock.now() - timedelta(hours=9)
    first.sources["A"].tickets = [ticket(1, overdue)]
    caplog.set_level("WARNING")
    second = Harness(tmp_path, clock, config)  # the tray, while the owner's unit runs
    second.sources["A"].tickets = [ticket(1, overdue)]
    try:
        assert not second.queue.writable
        said = [r.getMessage() for r in caplog.records if "another Ticketbell" in r.getMessage()]
        assert said and f"process {os.getpid()}" in said[0]  # in the log at once
        first.start()
        second.start()
        run_until(lambda: any(a.kind == "escalated" for a in first.alerts), first, second)
        run_until(lambda: any(a.kind == "overdue" for a in second.alerts), first, second)
        assert any("another Ticketbell (process" in n for n in second.agent.status.notices)
        # The second one never reports an escalation it does not send.
        assert not [a for a in second.alerts if a.kind == "escalated"]
        first.agent.stop()
        second.advance(1)
        second.until(lambda: second.queue.writable)  # it took the folder over
        second.until(lambda: not any("another" in n for n in second.agent.status.notices))
        # and it read what the first one saved: that escalation is not owed again
        second.advance(60)
        second.settle()
        assert not [a for a in second.alerts if a.kind == "escalated"]
    finally:
        second.agent.stop()
        first.agent.stop()


def test_a_watcher_that_fails_is_logged_and_the_source_still_polled_then_watched_again(
    harness, clock, caplog
):
    """The watcher threads (IMAP IDLE) are supervised too: a wait that raises is logged with
    its traceback, never stops the agent, and the source waits again after its next poll."""

    class BrokenWatch(WatchingSource):
        def wait_for_change(self, timeout):
            if self.waits == 0:
                self.waits += 1
                raise RuntimeError("IDLE went wrong")
            return super().wait_for_change(timeout)

    config = make_config(interval="1h")
    h = harness(config, {"A": BrokenWatch(config.sources[0], clock.now)})
    source = h.sources["A"]
    h.start()
    h.until(lambda: source.calls == 1 and source.waits == 1 and not h.agent.watching)
    records = [r for r in caplog.records if "waiting for changes failed" in r.getMessage()]
    assert records and records[0].exc_info is not None
    assert h.health("A").health is Health.OK
    h.advance(3600 * 1.1)  # polled on its interval all the same
    h.until(lambda: source.calls == 2 and source.waits == 2)
    source.answers.put(True)  # and the new wait works: a change is polled at once
    h.until(lambda: source.calls == 3)


# --------------------------------------------------------------------------- agent state (issue 14)


def test_mute_and_pins_are_agent_state_published_and_kept_across_a_restart(tmp_path, clock):
    config = make_config(
        escalation={"levels": [{"after": "0m", "notify": ["owner-desktop"]}]}, role="owner"
    )
    overdue, fresh = ticket(1, clock.now() - timedelta(hours=9)), ticket(2, clock.now())
    h = Harness(tmp_path, clock, config)
    h.sources["A"].tickets = [overdue, fresh]
    h.start()
    h.until(lambda: any(a.kind == "escalated" for a in h.alerts))
    assert h.agent.status.pinned == (overdue.key,)  # the agent pins what it escalated
    until = clock.now() + timedelta(minutes=15)
    h.agent.mute(until)
    h.agent.pin(fresh.key)
    h.until(lambda: h.agent.status.muted_until == until)
    assert h.statuses[-1].pinned == (fresh.key, overdue.key)  # published to the tray
    assert h.statuses[-1].muted_until == until
    h.agent.stop()
    again = Harness(tmp_path, clock, config)
    assert again.agent.status.muted_until == until
    assert again.agent.status.pinned == (fresh.key, overdue.key)
    again.sources["A"].tickets = [overdue, fresh]
    again.agent.mute(None)
    again.agent.pin(fresh.key, False)
    again.until(lambda: again.agent.status.muted_until is None)
    assert again.agent.status.pinned == (overdue.key,)
    clock.advance(16 * 60)  # a mute that has run out is over by itself
    assert again.queue.muted_until(clock.now()) is None
    again.agent.stop()
