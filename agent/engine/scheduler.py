"""The scheduler: the clock, the commands, the fetch threads and the worker pools.

Threads (and no others): one *scheduler* thread owns the clock, the queue and the policy — it is
the only writer of TinyDB — and workers do the I/O: one thread per fetch, at most one fetch in
flight per source, and a separate, bounded pool for channel sends, so a channel that trickles its
answer never holds up a fetch. Workers hand results back as commands on a ``queue.Queue`` and
touch no shared state. Every fetch has a deadline (``FETCH_DEADLINE_FACTOR`` times the source's
``timeout``): past it the fetch is abandoned, its connection broken, and the source fails "too
slow"; every send has one too (``escalation.SEND_DEADLINE``), past which it is "in doubt". A
source that can wait for a change at its helpdesk (``wait_for_change``: IMAP IDLE) waits on a
third pool, so a long wait never holds up a fetch; a reported change makes the scheduler poll
that source at once. Every worker is a daemon thread: one stuck on a silent server cannot keep
the process alive once the agent is told to stop.

The scheduler survives any exception: it logs it, publishes "Ticketbell stopped watching" (the
badge's can't-see state, never the last count) and starts its loop again after a back-off. A
watcher that fails only stops waiting: the source is still polled on its interval.

One pass of the loop is :meth:`Agent.step`; tests call it directly instead of starting the
thread, so they decide when time moves and when the scheduler looks.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue as queue_module
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.config import Config
from agent.engine.commands import (
    WORKER_RESULTS,
    Acknowledge,
    CheckNow,
    Command,
    Delivered,
    Mute,
    Pin,
    Reconfigure,
    Snooze,
    Stop,
    Watched,
)
from agent.engine.pipeline import (
    AlertsCallback,
    Clock,
    FetchResult,
    Pipeline,
    SourceState,
    StatusCallback,
)
from agent.engine.workers import (
    SourceFactory,
    SystemClock,
    Workers,
    fetch_seconds,
    fetch_with_deadline,
    in_thread,
    make_source,
)
from agent.escalation import DeliveryResult
from agent.i18n import N_, Text, in_english
from agent.model import Alert, Health, SourceHealth, Status
from agent.queue import LocalQueue
from agent.sources.base import Source, SourceError
from agent.sources.errors import too_slow

log = logging.getLogger(__name__)

MAX_SLEEP = 30.0  # seconds; the scheduler wakes at least this often to notice clock jumps
CLOCK_JUMP = 90.0  # seconds of disagreement between wall and monotonic time that mean sleep/jump
PRUNE_EVERY = timedelta(hours=1)
#: the scheduler abandons a fetch this long after the source's own deadline (by which the
#: source's reads stop themselves), so the source's clearer message wins when it can
ABANDON_GRACE = 5.0
SEND_WORKERS = 4
WATCH_WORKERS = 8
RESTART_BACKOFF = (1.0, 5.0, 30.0, 60.0)  # seconds before the scheduler loop starts again


class Agent(Pipeline):
    """Polls every source on its own interval and runs the pipeline; the public API of the
    agent (the tray, the headless service and ``ticketbell check`` use it)."""

    def __init__(
        self,
        config: Config,
        queue: LocalQueue,
        *,
        clock: Clock | None = None,
        source_factory: SourceFactory = make_source,
        rng: random.Random | None = None,
    ) -> None:
        clock = clock or SystemClock()
        super().__init__(config, queue, clock, rng or random.Random())  # noqa: S311 - jitter
        self.source_factory = source_factory
        self._cmds: queue_module.Queue[Command] = queue_module.Queue()
        # Sends have their own bounded pool (fetches run on threads of their own), so channels
        # that trickle their answer can never hold up the polling of the helpdesks.
        self._senders = Workers(SEND_WORKERS, "ticketbell-send")
        # Sources that can wait for a change at the helpdesk (IMAP IDLE) block a thread of their
        # own for it, so a long wait never holds up a fetch.
        self._watchers = Workers(WATCH_WORKERS, "ticketbell-watch")
        self._deaths = 0  # times the scheduler loop stopped on an unexpected error
        self._passes = 0  # scheduler passes completed
        self._thread: threading.Thread | None = None
        self._started = False  # the first pass (outbox resumed, first evaluation) is done
        self._last_prune: datetime | None = None
        self._last_wall = clock.now()
        self._last_mono = clock.monotonic()
        self._stopped = threading.Event()
        self._install_sources(config)
        self._status = self._build_status(clock.now())

    # ------------------------------------------------------------------ public API (any thread)

    def subscribe(
        self, on_status: StatusCallback | None = None, on_alerts: AlertsCallback | None = None
    ) -> None:
        """Register callables; they run on the scheduler thread and must not block."""
        if on_status:
            self._status_subscribers.append(on_status)
        if on_alerts:
            self._alert_subscribers.append(on_alerts)

    @property
    def status(self) -> Status:
        return self._status

    @property
    def fetching(self) -> frozenset[str]:
        """The sources whose fetch is under way (started, its result not yet handled)."""
        return frozenset(name for name, s in self._states.items() if s.in_flight)

    @property
    def watching(self) -> frozenset[str]:
        """The sources waiting for a change at their helpdesk (``wait_for_change``) now."""
        return frozenset(name for name, s in self._states.items() if s.watcher is not None)

    @property
    def passes(self) -> int:
        """How many scheduler passes have completed (each handles what came in, then ticks)."""
        return self._passes

    @property
    def scheduler_deaths(self) -> int:
        """How many times the scheduler loop stopped on an unexpected error (and restarted)."""
        return self._deaths

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ticketbell-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 8.0) -> None:
        """Stop polling, let the queue write its last state, release the data dir: within
        about ``timeout`` seconds whatever the workers do. Fetches under way are aborted (their
        sockets shut down), not waited for; sends are given what is left of ``timeout``."""
        end = time.monotonic() + timeout
        if self._thread is not None:
            self._cmds.put(Stop())
            self._thread.join(max(0.1, end - time.monotonic()))
            self._thread = None
        if self._started:
            # Record the outcome of sends still under way, so a restart does not doubt them.
            outbox = self._escalator.outbox
            for result in outbox.drain(max(0.0, end - time.monotonic())):
                outbox.handle(result, self.clock.now())
        self._senders.shutdown()
        self._watchers.shutdown()
        for state in self._states.values():
            for busy in state.fetching if state.in_flight else ():
                busy.abort()  # a worker is reading with it: break its sockets, never wait
            if state.source is not None and not (state.in_flight and state.fetching):
                state.source.close()
        self.queue.close()
        self._stopped.set()

    def check_now(self, source: str | None = None) -> None:
        self._cmds.put(CheckNow(source))

    def acknowledge(self, source: str, ticket: str, release: bool = False) -> None:
        """ "I'm on it": no escalation repeats for this waiting cycle (``release``: undo it)."""
        self._cmds.put(Acknowledge(source, ticket, release))

    def snooze(self, source: str, ticket: str, minutes: float) -> None:
        """No alerts or escalations for the ticket for ``minutes`` (ends early if the customer
        writes again after a reply: a new waiting cycle); ``minutes=0`` ends a snooze."""
        if not minutes >= 0:
            raise ValueError(f"snooze for a number of minutes ≥ 0, not {minutes!r}")
        self._cmds.put(Snooze(source, ticket, minutes))

    def mute(self, until: datetime | None) -> None:
        """No sound until ``until`` (None: sound again); kept in the queue across restarts and
        published in :attr:`Status.muted_until`."""
        self._cmds.put(Mute(until))

    def pin(self, key: str, pinned: bool = True) -> None:
        """Show the ticket with ``key`` first (the owner's escalated tickets), or no longer;
        kept in the queue across restarts and published in :attr:`Status.pinned`."""
        self._cmds.put(Pin(key, pinned))

    def reconfigure(self, config: Config) -> None:
        self._cmds.put(Reconfigure(config))

    def step(self, now: datetime | None = None, wait: float = 0.0) -> None:
        """One pass of the scheduler on the calling thread: handle the commands and worker
        results that have come in (waiting up to ``wait`` seconds for the first), then notice
        clock jumps, start the polls due, evaluate, save, publish and start the sends due.

        The scheduler thread runs exactly this in its loop. Tests call it directly on an agent
        they have not started, with a fake clock: then nothing happens between two calls.
        """
        if self._thread is not None:
            raise RuntimeError("the scheduler thread runs this agent: step() is for tests")
        if not self._started:
            self._begin()
        self._pass(wait, now)

    # ------------------------------------------------------------------ one-shot (check)

    def poll_once(self, timeout: float | None = None) -> PollReport:
        """Fetch every source once, concurrently, and run the pipeline in the calling thread.

        For ``ticketbell check``; do not mix with :meth:`start`.
        """
        now = self.clock.now()
        futures = [self._start_fetch(state, now) for state in self._states.values()]
        new_keys: set[str] = set()
        if timeout is None:  # every source's own deadline, and a little for the abandoning
            timeout = max((fetch_seconds(s) for s in self._states.values()), default=120)
            timeout += 1.0
        try:
            # each source's tickets are applied while the others are still being fetched
            for fut in concurrent.futures.as_completed(futures, timeout=timeout):
                changes = self.handle_result(fut.result())
                if changes:
                    new_keys.update(t.key for t in changes.new)
        except TimeoutError:
            pass  # the sources still in flight are marked failed below
        for state in self._states.values():
            if state.in_flight:  # did not answer within its deadline
                self._abandon(state, now)
        now = self.clock.now()
        if self._next_change is not None and now >= self._next_change:
            self._dirty = True
        alerts = self.settle(now, publish=False)
        return PollReport(self._status, tuple(alerts), frozenset(new_keys))

    # ------------------------------------------------------------------ the loop

    def _install_sources(self, config: Config) -> None:
        self._generation += 1
        old = self._states
        self._states = {}
        mono = self.clock.monotonic()
        for src in config.sources:
            previous = old.pop(src.name, None)
            state = SourceState(src)
            if previous is not None and previous.config == src:
                state = previous
                state.in_flight = False
            else:
                if previous is not None and previous.source is not None:
                    previous.source.close()
                state.next_due = mono  # a new source is read at once
            self._states[src.name] = state
        for name, gone in old.items():
            if gone.source is not None:
                gone.source.close()
            self.queue.forget_source(name)

    def _run(self) -> None:
        """The scheduler thread: the loop, started again after any unexpected error."""
        log.info("agent started with %d source(s)", len(self._states))
        try:
            while True:
                try:
                    self._begin()
                    while self._pass(self._timeout()):
                        pass
                    return
                except Exception as exc:  # noqa: BLE001 - the scheduler must outlive any bug
                    if self._died(exc):
                        return
        finally:
            log.info("agent stopped")

    def _begin(self) -> None:
        """Before the first pass (and after a restart): resume the outbox, publish at once."""
        if not self._started:
            self._escalator.outbox.resume(self.clock.now())
            self._started = True
        self._dirty = True
        self.settle(self.clock.now())
        self._deliver(self.clock.now())

    def _pass(self, timeout: float, now: datetime | None = None) -> bool:
        """Handle what has come in (waiting up to ``timeout`` for the first), then tick.
        False when told to stop."""
        cmd = self._next_command(timeout)
        while cmd is not None:
            if isinstance(cmd, Stop):
                return False
            self._handle_command(cmd)
            cmd = self._next_command(0.0)
        self._tick(now)
        self._passes += 1
        return True

    def _next_command(self, timeout: float) -> Command | None:
        try:
            if timeout <= 0:
                return self._cmds.get_nowait()
            return self._cmds.get(timeout=timeout)
        except queue_module.Empty:
            return None

    def _died(self, exc: Exception) -> bool:
        """The loop stopped on ``exc``: say so at once, wait a back-off, then start again.

        Returns True when a stop command came during the wait. The status says "Ticketbell
        stopped watching" with every source unknown and no tickets: the badge's can't-see state,
        never a count that is no longer being kept up to date.
        """
        self._deaths += 1
        wait = RESTART_BACKOFF[min(self._deaths, len(RESTART_BACKOFF)) - 1]
        why = f"{type(exc).__name__}: {exc}"
        log.error(
            "Ticketbell stopped watching (%s); starting again in %g s", why, wait, exc_info=exc
        )
        message, notice = self._stopped_texts(why[:200], wait)
        with in_english():
            english = self._stopped_texts(why[:200], wait)[0]
        self._status = Status(
            self.clock.now(),
            (),
            tuple(
                SourceHealth(name, s.config.kind, Health.UNKNOWN, message, english=english)
                for name, s in self._states.items()
            ),
            self.config.role,
            (notice,),
        )
        self._publish_status(self._status)
        return self._back_off(wait)

    def _back_off(self, wait: float) -> bool:
        """Wait ``wait`` seconds, keeping worker results for the restarted loop; True on stop."""
        end = time.monotonic() + wait
        while (left := end - time.monotonic()) > 0:
            cmd = self._next_command(left)
            if cmd is None:
                break
            if isinstance(cmd, Stop):
                return True
            if isinstance(cmd, WORKER_RESULTS):
                self._cmds.put(cmd)  # worker results are kept for the restarted loop
                time.sleep(min(left, 0.05))
        return False

    def _timeout(self) -> float:
        """Seconds until the scheduler has something to do, unless a command comes first."""
        mono = self.clock.monotonic()
        now = self.clock.now()
        delays = [MAX_SLEEP]
        for state in self._states.values():
            if not state.in_flight:
                delays.append(state.next_due - mono)
            else:  # wake to abandon it at its deadline
                delays.append(state.fetch_deadline - time.monotonic())
        for at in (self._next_change, self._escalator.next_delivery):
            if at is not None:
                delays.append((at - now).total_seconds())
        return max(0.0, min(delays))

    # ------------------------------------------------------------------ commands

    def _handle_command(self, cmd: Command) -> None:
        now = self.clock.now()
        if isinstance(cmd, FetchResult):
            self.handle_result(cmd)
            state = self._states.get(cmd.name)
            if state is not None and cmd.snapshot is not None and state.source is cmd.source:
                self._watch(state)
            return
        if isinstance(cmd, Watched):
            self._on_watched(cmd)
            return
        if isinstance(cmd, CheckNow):
            mono = self.clock.monotonic()
            for name, state in self._states.items():
                if cmd.source is None or cmd.source == name:
                    self._poll_soon(state, mono)
            return
        if isinstance(cmd, Delivered):
            self._escalator.outbox.handle(cmd.result, now)
        elif isinstance(cmd, Reconfigure):
            self.config = cmd.config
            self._install_sources(cmd.config)
        else:
            self._change_state(cmd, now)
        self._dirty = True  # the status (its tickets, notices, mute, pins) may change

    def _change_state(self, cmd: Command, now: datetime) -> None:
        """The person's commands that change what the queue keeps."""
        if isinstance(cmd, Acknowledge):
            if self.queue.set_ticket_state(cmd.source, cmd.ticket, acknowledged=not cmd.release):
                said = "released" if cmd.release else "acknowledged; no more repeats"
                log.info("%s #%s: %s", cmd.source, cmd.ticket, said)
        elif isinstance(cmd, Snooze):
            until = now + timedelta(minutes=cmd.minutes) if cmd.minutes else None
            if self.queue.set_ticket_state(cmd.source, cmd.ticket, snoozed_until=until):
                log.info("%s #%s: snoozed for %g min", cmd.source, cmd.ticket, cmd.minutes)
        elif isinstance(cmd, Mute):
            self.queue.set_muted_until(cmd.until)
        elif isinstance(cmd, Pin):
            self.queue.set_pinned(cmd.key, cmd.pinned)

    @staticmethod
    def _poll_soon(state: SourceState, mono: float) -> None:
        """Poll now, or right after the fetch under way (whose result would set a later time)."""
        if state.in_flight:
            state.recheck = True
        else:
            state.next_due = mono

    def _tick(self, now: datetime | None = None) -> None:
        """Notice clock jumps, start due polls, and re-evaluate when a state change is due."""
        mono = self.clock.monotonic()
        now = now or self.clock.now()
        if not self.queue.writable and self.queue.take_over():
            # The Ticketbell that held the data folder stopped: its saved state is ours now.
            self._escalator.outbox.resume(now)
            self._dirty = True
        self._notice_clock_jump(now, mono)
        for state in self._states.values():
            if state.in_flight and state.fetch_deadline <= time.monotonic():
                self._abandon(state, now)
            if not state.in_flight and state.next_due <= mono:
                future = self._start_fetch(state, now)
                if future.done():  # already read (a team source reads memory): this pass
                    self._handle_command(future.result())
                else:
                    future.add_done_callback(lambda f: self._cmds.put(f.result()))
        if self._next_change is not None and now >= self._next_change:
            self._dirty = True
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            self.queue.prune(now)
        self.settle(now)
        self._deliver(now)

    def _notice_clock_jump(self, now: datetime, mono: float) -> None:
        """The wall clock moved more than the time that passed: poll every source now."""
        moved = (now - self._last_wall).total_seconds() - (mono - self._last_mono)
        self._last_wall, self._last_mono = now, mono
        if abs(moved) <= CLOCK_JUMP:
            return
        what = "more than the time that passed (sleep or clock change); checking every source now"
        log.info("the clock moved %+.0f s %s", moved, what)
        for state in self._states.values():
            state.summarise = True  # what came meanwhile is told in one summary per source
            self._poll_soon(state, mono)
        self._dirty = True  # the policy's answer was for another time: evaluate again

    def _deliver(self, now: datetime) -> None:
        """Start the outbox's due sends on the send pool; results come back as commands."""

        def submit(
            send: Callable[[], DeliveryResult],
        ) -> concurrent.futures.Future[DeliveryResult]:
            future = self._senders.submit(send)
            future.add_done_callback(
                lambda f: self._cmds.put(Delivered(f.result())) if not f.cancelled() else None
            )
            return future

        if self._escalator.deliver(self.config, now, submit):
            self._dirty = True  # the status says which messages did not get through
            self.settle(now)

    # ------------------------------------------------------------------ fetches and watchers

    def _start_fetch(self, state: SourceState, now: datetime) -> concurrent.futures.Future[Any]:
        """Start one fetch of ``state`` on a daemon thread of its own, with its deadline."""
        state.in_flight = True
        state.fetch += 1
        state.fetching = [state.source] if state.source is not None else []
        # real time, not the agent's clock: the deadline is about how long the I/O takes
        state.fetch_deadline = time.monotonic() + fetch_seconds(state) + ABANDON_GRACE
        fetch, generation, box = state.fetch, self._generation, state.fetching
        return in_thread(
            lambda: self._fetch(state, generation, now, fetch, box),
            f"ticketbell-fetch-{state.config.name}"[:60],
        )

    def _abandon(self, state: SourceState, now: datetime) -> None:
        """A fetch past its deadline: break its connections, fail the source "too slow".

        Its worker is left to end on its own; its late result is dropped (``fetch`` moved on)
        and the source it used is not used again (it may still be busy).
        """
        for busy in state.fetching:
            busy.abort()
        state.in_flight = False
        state.fetch += 1
        state.source = None
        error = too_slow(state.config.name, fetch_seconds(state), "fetch abandoned at its deadline")
        down = self._mark_failed(state, error, now)
        self._unpublished.extend(self.queue.record([down] if down else []))
        self._dirty = True

    def _fetch(
        self, state: SourceState, generation: int, started: datetime, fetch: int, box: list[Source]
    ) -> FetchResult:
        """Runs on a worker: build the source if needed, fetch, and return. Never raises."""
        source = state.source
        name = state.config.name
        try:
            if source is None:
                source = self.source_factory(state.config, self.clock.now)
                box.append(source)
            snapshot = fetch_with_deadline(source, name, state.last_success)
            return FetchResult(name, snapshot, None, source, started, generation, fetch)
        except SourceError as exc:
            return FetchResult(name, None, exc, source, started, generation, fetch)
        except Exception as exc:  # a connector bug must not stop the agent
            log.exception("%s: the %s connector failed unexpectedly", name, state.config.kind)
            text = N_("the {kind} connector failed unexpectedly ({error}); see the log")
            error = SourceError(Text(text, kind=state.config.kind, error=type(exc).__name__))
            return FetchResult(name, None, error, source, started, generation, fetch)

    def _watch(self, state: SourceState) -> None:
        """Run the source's ``wait_for_change()`` (IMAP IDLE...) when it has one, so a change at
        the helpdesk is polled at once instead of at the next interval. A watcher that raises
        (or whose thread dies) only stops waiting: the source is still polled on its interval."""
        source = state.source
        if source is None or state.watcher is source:
            return
        if type(source).wait_for_change is Source.wait_for_change:
            return  # this kind can only be polled
        state.watcher = source
        name = state.config.name
        timeout = max(60.0, state.config.interval.total_seconds())

        def wait() -> Watched:
            try:
                return Watched(name, source, source.wait_for_change(timeout))
            except Exception:  # a connector bug: polling on the interval still works
                log.exception("%s: waiting for changes failed", name)
                return Watched(name, source, None)

        try:
            future = self._watchers.submit(wait)
        except RuntimeError:  # shut down: the agent is stopping
            return
        future.add_done_callback(lambda f: self._watch_ended(f, name, source))

    def _watch_ended(self, future: concurrent.futures.Future[Any], name: str, src: Source) -> None:
        """On the watcher's thread: hand its outcome to the scheduler, whatever happened."""
        if future.cancelled():
            return
        if future.exception() is not None:  # BaseException out of the wait: the thread died
            log.error("%s: the watcher stopped: %r", name, future.exception())
            self._cmds.put(Watched(name, src, None))
            return
        self._cmds.put(future.result())

    def _on_watched(self, cmd: Watched) -> None:
        """A ``wait_for_change()`` ended: True polls now, False waits again, None stops waiting
        until the next successful fetch."""
        state = self._states.get(cmd.name)
        if state is None or state.source is not cmd.source:
            return  # reconfigured or closed meanwhile
        if state.watcher is cmd.source:
            state.watcher = None
        if cmd.changed:
            log.debug("%s: changed at the helpdesk; checking now", cmd.name)
            self._poll_soon(state, self.clock.monotonic())
        elif cmd.changed is False:
            self._watch(state)


@dataclass(frozen=True)
class PollReport:
    """What one poll of every source did (for ``ticketbell check``)."""

    status: Status
    alerts: tuple[Alert, ...]
    new_keys: frozenset[str]
