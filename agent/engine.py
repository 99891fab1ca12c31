"""The agent: polls every source on its own interval and runs the pipeline of DESIGN.md.

Threads (and no others): one *scheduler* thread owns the clock, the queue and the policy — it is
the only writer of TinyDB — and workers do the I/O: one thread per fetch, at most one fetch in
flight per source, and a separate, bounded pool for channel sends, so a channel that trickles its
answer never holds up a fetch. Workers hand results back through ``queue.Queue`` and touch no
shared state. Every fetch has a deadline (``FETCH_DEADLINE_FACTOR`` times the source's
``timeout``): past it the fetch is abandoned, its connection broken, and the source fails "too
slow"; every send has one too (``escalation.SEND_DEADLINE``), past which it is "in doubt". A
source that can wait for a change at its helpdesk (``wait_for_change``: IMAP IDLE) waits on a
third pool, so a long wait never holds up a fetch; a reported change makes the scheduler poll
that source at once. Every worker is a daemon thread: one stuck on a silent server cannot keep
the process alive once the agent is told to stop.

The scheduler survives any exception: it logs it, publishes "Ticketbell stopped watching" (the
badge's can't-see state, never the last count) and starts its loop again after a back-off.

Subscribers (tray, headless log, ``check``) receive an immutable :class:`~agent.model.Status`
and tuples of :class:`~agent.model.Alert` on the scheduler thread; the tray re-emits them as Qt
signals.

UI actions (check now, acknowledge, snooze, reconfigure) are commands on the scheduler's queue.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue as queue_module
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from agent import escalation, policy, signin
from agent import secrets as secret_store
from agent.config import Config, SourceConfig
from agent.model import (
    Alert,
    Health,
    Snapshot,
    SourceHealth,
    Status,
    WaitingTicket,
    parse_time,
    utcnow,
)
from agent.queue import Changes, LocalQueue, alert_key
from agent.sources import source_class
from agent.sources.base import (
    FETCH_DEADLINE_FACTOR,
    MAX_SERVER_WAIT,
    AuthError,
    NotConfigured,
    RateLimited,
    SignInNeeded,
    Source,
    SourceError,
    TooSlow,
    fetch_budget,
)

log = logging.getLogger(__name__)

MAX_SLEEP = 30.0  # seconds; the scheduler wakes at least this often to notice clock jumps
CLOCK_JUMP = 90.0  # seconds of disagreement between wall and monotonic time that mean sleep/jump
BACKOFF_CAP = timedelta(minutes=15)
JITTER = 0.05  # +/- 5 % of the interval, so several agents do not poll in lockstep
PRUNE_EVERY = timedelta(hours=1)
#: the scheduler abandons a fetch this long after the source's own deadline (by which the
#: source's reads stop themselves), so the source's clearer message wins when it can
ABANDON_GRACE = 5.0
#: tickets one source may report in one fetch; beyond it the snapshot is cut and incomplete
MAX_TICKETS_PER_SOURCE = 50_000
SEND_WORKERS = 4
RESTART_BACKOFF = (1.0, 5.0, 30.0, 60.0)  # seconds before the scheduler loop starts again

StatusCallback = Callable[[Status], None]
AlertsCallback = Callable[[tuple[Alert, ...]], None]


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class _Workers:
    """At most ``size`` daemon threads running submitted callables (sends, IMAP IDLE waits).

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads when the process exits, so a
    send stuck on a server that never answers kept the agent alive after SIGTERM; these do not.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue_module.Queue[Any] = queue_module.Queue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        if self._closed:
            raise RuntimeError("the agent is stopping")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((future, fn))
        if len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Cancel what has not started; running jobs finish (or are left behind) on their own."""
        self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue_module.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            self._jobs.put(None)


def _in_thread(fn: Callable[[], Any], name: str) -> concurrent.futures.Future[Any]:
    """Run ``fn`` on a daemon thread of its own (one fetch: never queued behind anything)."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()


def make_source(config: SourceConfig, clock: Callable[[], datetime]) -> Source:
    """Build a source of the configured kind, with its secret from the keyring or environment."""
    cls = source_class(config.kind)
    secret = None
    if cls.needs_secret:
        try:
            secret = secret_store.get(config.name, config.secret_env)
        except secret_store.SecretUnavailable as exc:
            if signin.uses_oauth(config):  # its secret is the refresh token of a sign-in
                raise signin.sign_in_needed(config) from None
            raise NotConfigured(str(exc)) from None
    return cls(config, secret, clock)


SourceFactory = Callable[[SourceConfig, Callable[[], datetime]], Source]


@dataclass
class _SourceState:
    config: SourceConfig
    source: Source | None = None
    health: SourceHealth = field(default=None)  # type: ignore[assignment]
    in_flight: bool = False
    fetch: int = 0  # which fetch is in flight: a late result of an abandoned one is dropped
    fetch_deadline: float = 0.0  # time.monotonic() by which the fetch in flight is abandoned
    fetching: list[Source] = field(default_factory=list)  # the source the fetch runs on
    watcher: Source | None = None  # the source whose wait_for_change() runs now
    recheck: bool = False  # the helpdesk changed during a fetch: poll again once it ends
    next_due: float = 0.0  # monotonic seconds
    failures: int = 0
    last_success: datetime | None = None
    slowed_since: datetime | None = None  # the helpdesk has asked us to wait since then

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = SourceHealth(self.config.name, self.config.kind)


@dataclass(frozen=True)
class _Result:
    name: str
    snapshot: Snapshot | None
    error: SourceError | None
    source: Source | None
    started: datetime
    generation: int
    fetch: int = 0


@dataclass(frozen=True)
class PollReport:
    """What one poll of every source did (for ``ticketbell check``)."""

    status: Status
    alerts: tuple[Alert, ...]
    new_keys: frozenset[str]


class Agent:
    def __init__(
        self,
        config: Config,
        queue: LocalQueue,
        *,
        clock: Clock | None = None,
        source_factory: SourceFactory = make_source,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.clock: Clock = clock or SystemClock()
        self.source_factory = source_factory
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._cmds: queue_module.Queue[tuple[str, Any]] = queue_module.Queue()
        # Sends have their own bounded pool (fetches run on threads of their own), so channels
        # that trickle their answer can never hold up the polling of the helpdesks.
        self._senders = _Workers(SEND_WORKERS, "ticketbell-send")
        # Sources that can wait for a change at the helpdesk (IMAP IDLE) block a thread of their
        # own for it, so a long wait never holds up a fetch.
        self._watchers = _Workers(8, "ticketbell-watch")
        self._deaths = 0  # times the scheduler loop stopped on an unexpected error
        self._status_subscribers: list[StatusCallback] = []
        self._alert_subscribers: list[AlertsCallback] = []
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._states: dict[str, _SourceState] = {}
        self._status: Status = Status(self.clock.now(), role=config.role)
        self._next_change: datetime | None = None
        self._outbox = escalation.Outbox(queue, self._rng)
        self._next_delivery: datetime | None = None
        self._last_prune: datetime | None = None
        self._last_wall = self.clock.now()
        self._last_mono = self.clock.monotonic()
        self._stopped = threading.Event()
        self._waiting: list[WaitingTicket] = []
        self._dirty = True  # state changed since the last evaluation: evaluate, save, publish
        self._health_moved = False  # only the sources' health changed: publish, no evaluation
        self._unpublished: list[Alert] = []  # events recorded but not yet told to subscribers
        self._noted_write_error: str | None = None  # the save failure the status reports
        self._install_sources(config)
        self._status = self._build_status(self.clock.now())

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

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ticketbell-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 8.0) -> None:
        """Stop polling, let the queue write its last state, release the data dir.

        Returns within about ``timeout`` seconds whatever the workers are doing: fetches under
        way are aborted (their sockets shut down) rather than waited for, and sends are given
        what is left of ``timeout`` to finish.
        """
        end = time.monotonic() + timeout
        if self._thread is not None:
            self._cmds.put(("stop", None))
            self._thread.join(max(0.1, end - time.monotonic()))
            self._thread = None
            # Record the outcome of sends still under way, so a restart does not doubt them.
            for result in self._outbox.drain(max(0.0, end - time.monotonic())):
                self._outbox.handle(result, self.clock.now())
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
        self._cmds.put(("check_now", source))

    def acknowledge(self, source: str, ticket: str) -> None:
        """ "I'm on it": no more escalation repeats for this waiting cycle of the ticket."""
        self._cmds.put(("ack", (source, ticket)))

    def snooze(self, source: str, ticket: str, minutes: float) -> None:
        """No alerts or escalations for the ticket for ``minutes`` (ends early if the customer
        writes again after a reply: a new waiting cycle)."""
        if not minutes > 0:
            raise ValueError(f"snooze for a positive number of minutes, not {minutes!r}")
        self._cmds.put(("snooze", (source, ticket, minutes)))

    def reconfigure(self, config: Config) -> None:
        self._cmds.put(("reconfigure", config))

    def poke(self) -> None:
        """Wake the scheduler to re-read the clock (tests with a fake clock call it)."""
        self._cmds.put(("poke", None))

    def call(self, fn: Callable[[Agent], Any]) -> None:
        """Run ``fn(agent)`` on the scheduler thread (for parts that write the queue)."""
        self._cmds.put(("call", fn))

    # ------------------------------------------------------------------ one-shot (check)

    def poll_once(self, timeout: float | None = None) -> PollReport:
        """Fetch every source once, concurrently, and run the pipeline in the calling thread.

        For ``ticketbell check``; do not mix with :meth:`start`.
        """
        now = self.clock.now()
        futures = [self._start_fetch(state, now) for state in self._states.values()]
        new_keys: set[str] = set()
        if timeout is None:  # every source's own deadline, and a little for the abandoning
            timeout = max((self._fetch_seconds(s) for s in self._states.values()), default=120)
            timeout += 1.0
        try:
            # each source's tickets are applied while the others are still being fetched
            for fut in concurrent.futures.as_completed(futures, timeout=timeout):
                changes = self._handle_result(fut.result())
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
        alerts = self._settle(now, publish=False)
        return PollReport(self._status, tuple(alerts), frozenset(new_keys))

    # ------------------------------------------------------------------ scheduler thread

    def _install_sources(self, config: Config) -> None:
        self._generation += 1
        old = self._states
        self._states = {}
        mono = self.clock.monotonic()
        for src in config.sources:
            previous = old.pop(src.name, None)
            state = _SourceState(src)
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
        self._outbox.resume(self.clock.now())
        try:
            while True:
                try:
                    self._dirty = True
                    self._settle(self.clock.now())
                    self._deliver(self.clock.now())
                    self._loop()
                    return
                except Exception as exc:  # noqa: BLE001 - the scheduler must outlive any bug
                    if self._died(exc):
                        return
        finally:
            log.info("agent stopped")

    def _loop(self) -> None:
        while True:
            cmd = self._wait()
            while cmd is not None:
                if cmd[0] == "stop":
                    return
                self._handle_command(cmd)
                try:
                    cmd = self._cmds.get_nowait()
                except queue_module.Empty:
                    cmd = None
            self._tick()

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
            "Ticketbell stopped watching (%s); starting again in %g s",
            why,
            wait,
            exc_info=exc,
        )
        now = self.clock.now()
        message = f"Ticketbell stopped watching: {why[:200]}"
        self._status = Status(
            now,
            (),
            tuple(
                SourceHealth(name, s.config.kind, Health.UNKNOWN, message)
                for name, s in self._states.items()
            ),
            self.config.role,
            (f"{message}; starting again in {wait:g} s",),
        )
        self._publish_status(self._status)
        end = time.monotonic() + wait
        while (left := end - time.monotonic()) > 0:
            try:
                cmd = self._cmds.get(timeout=left)
            except queue_module.Empty:
                break
            if cmd[0] == "stop":
                return True
            if cmd[0] in ("result", "delivery", "watched"):
                self._cmds.put(cmd)  # worker results are kept for the restarted loop
                time.sleep(min(left, 0.05))
        return False

    @property
    def scheduler_deaths(self) -> int:
        """How many times the scheduler loop stopped on an unexpected error (and restarted)."""
        return self._deaths

    def _wait(self) -> tuple[str, Any] | None:
        mono = self.clock.monotonic()
        now = self.clock.now()
        delays = [MAX_SLEEP]
        for state in self._states.values():
            if not state.in_flight:
                delays.append(state.next_due - mono)
            else:  # wake to abandon it at its deadline
                delays.append(state.fetch_deadline - time.monotonic())
        if self._next_change is not None:
            delays.append((self._next_change - now).total_seconds())
        if self._next_delivery is not None:
            delays.append((self._next_delivery - now).total_seconds())
        timeout = max(0.0, min(delays))
        try:
            return self._cmds.get(timeout=timeout)
        except queue_module.Empty:
            return None

    def _handle_command(self, cmd: tuple[str, Any]) -> None:
        kind, arg = cmd
        now = self.clock.now()
        if kind == "result":
            self._handle_result(arg)
            state = self._states.get(arg.name)
            if state is not None and arg.snapshot is not None and state.source is arg.source:
                self._watch(state)
        elif kind == "watched":
            self._on_watched(*arg)
        elif kind == "delivery":
            self._outbox.handle(arg, now)
            self._dirty = True  # the status's notices may change
        elif kind == "check_now":
            mono = self.clock.monotonic()
            for name, state in self._states.items():
                if arg is None or arg == name:
                    self._poll_soon(state, mono)
        elif kind in ("ack", "snooze"):
            if kind == "ack":
                if self.queue.set_ticket_state(arg[0], arg[1], acknowledged=True):
                    log.info("%s #%s: acknowledged; no more repeats", arg[0], arg[1])
            else:
                until = now + timedelta(minutes=arg[2])
                if self.queue.set_ticket_state(arg[0], arg[1], snoozed_until=until):
                    log.info("%s #%s: snoozed for %g min", arg[0], arg[1], arg[2])
            self._dirty = True
        elif kind == "reconfigure":
            self.config = arg
            self._install_sources(arg)
            self._dirty = True
        elif kind == "call":
            try:
                arg(self)
            except Exception:
                log.exception("a scheduled call failed")
            self._dirty = True

    @staticmethod
    def _poll_soon(state: _SourceState, mono: float) -> None:
        """Poll now, or right after the fetch under way (whose result would set a later time)."""
        if state.in_flight:
            state.recheck = True
        else:
            state.next_due = mono

    def _tick(self) -> None:
        """Notice clock jumps, start due polls, and re-evaluate when a state change is due."""
        mono = self.clock.monotonic()
        now = self.clock.now()
        if not self.queue.writable and self.queue.take_over():
            # The Ticketbell that held the data folder stopped: its saved state is ours now.
            self._outbox.resume(now)
            self._dirty = True
        wall_delta = (now - self._last_wall).total_seconds()
        mono_delta = mono - self._last_mono
        self._last_wall, self._last_mono = now, mono
        if abs(wall_delta - mono_delta) > CLOCK_JUMP:
            log.info(
                "the clock moved %+.0f s more than the time that passed (sleep or clock change); "
                "checking every source now",
                wall_delta - mono_delta,
            )
            for state in self._states.values():
                self._poll_soon(state, mono)
        for state in self._states.values():
            if state.in_flight and state.fetch_deadline <= time.monotonic():
                self._abandon(state, now)
            if not state.in_flight and state.next_due <= mono:
                future = self._start_fetch(state, now)
                future.add_done_callback(lambda f: self._cmds.put(("result", f.result())))
        if self._next_change is not None and now >= self._next_change:
            self._dirty = True
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            self.queue.prune(now)
        self._settle(now)
        self._deliver(now)

    def _deliver(self, now: datetime) -> None:
        """Start the outbox's due sends on the worker pool; results come back as commands."""

        def submit(
            send: Callable[[], escalation.DeliveryResult],
        ) -> concurrent.futures.Future[escalation.DeliveryResult]:
            future = self._senders.submit(send)
            future.add_done_callback(
                lambda f: self._cmds.put(("delivery", f.result())) if not f.cancelled() else None
            )
            return future

        give_up = self.config.escalation.give_up_after
        self._next_delivery = self._outbox.step(now, give_up, submit)

    @staticmethod
    def _fetch_seconds(state: _SourceState) -> float:
        return float(state.config.timeout) * FETCH_DEADLINE_FACTOR

    def _start_fetch(self, state: _SourceState, now: datetime) -> concurrent.futures.Future[Any]:
        """Start one fetch of ``state`` on a daemon thread of its own, with its deadline."""
        state.in_flight = True
        state.fetch += 1
        state.fetching = [state.source] if state.source is not None else []
        # real time, not the agent's clock: the deadline is about how long the I/O takes
        state.fetch_deadline = time.monotonic() + self._fetch_seconds(state) + ABANDON_GRACE
        fetch, generation, box = state.fetch, self._generation, state.fetching
        return _in_thread(
            lambda: self._fetch(state, generation, now, fetch, box),
            f"ticketbell-fetch-{state.config.name}"[:60],
        )

    def _abandon(self, state: _SourceState, now: datetime) -> None:
        """A fetch past its deadline: break its connections, fail the source "too slow".

        Its worker is left to end on its own; its late result is dropped (``fetch`` moved on)
        and the source it used is not used again (it may still be busy).
        """
        for busy in state.fetching:
            busy.abort()
        state.in_flight = False
        state.fetch += 1
        state.source = None
        seconds = self._fetch_seconds(state)
        error = TooSlow(
            f"{state.config.name} is too slow: the poll did not finish within {seconds:g} s",
            "fetch abandoned at its deadline",
        )
        down = self._mark_failed(state, error, now)
        self._unpublished.extend(self.queue.record([down] if down else []))
        self._dirty = True

    def _fetch(
        self,
        state: _SourceState,
        generation: int,
        started: datetime,
        fetch: int = 0,
        box: list[Source] | None = None,
    ) -> _Result:
        """Runs on a worker: build the source if needed, fetch, and return. Never raises."""
        source = state.source
        name = state.config.name
        try:
            if source is None:
                source = self.source_factory(state.config, self.clock.now)
                if box is not None:
                    box.append(source)
            since = state.last_success
            seconds = source.fetch_seconds()
            # At the deadline a timer breaks the fetch's connections (a server trickling its
            # answer a byte at a time never trips a read timeout); the reads also stop by
            # themselves between two socket reads once the budget's deadline has passed.
            timer = threading.Timer(seconds, source.abort)
            timer.daemon = True
            with fetch_budget(seconds) as budget:
                timer.start()
                try:
                    snapshot = source.fetch(since)
                except SourceError as exc:
                    if budget.time_left() > 0 or isinstance(exc, TooSlow):
                        raise
                    raise TooSlow(
                        f"{name} is too slow: the poll did not finish within {seconds:g} s",
                        f"{type(exc).__name__} at the deadline: {exc.message}",
                    ) from None
                finally:
                    timer.cancel()
            return _Result(name, snapshot, None, source, started, generation, fetch)
        except SourceError as exc:
            return _Result(name, None, exc, source, started, generation, fetch)
        except Exception as exc:  # a connector bug must not stop the agent
            log.exception("%s: the %s connector failed unexpectedly", name, state.config.kind)
            error = SourceError(
                f"the {state.config.kind} connector failed unexpectedly ({type(exc).__name__}); "
                "see the log",
            )
            return _Result(name, None, error, source, started, generation, fetch)

    def _watch(self, state: _SourceState) -> None:
        """Run the source's ``wait_for_change()`` (IMAP IDLE...) when it has one, so a change at
        the helpdesk is polled at once instead of at the next interval."""
        source = state.source
        if source is None or state.watcher is source:
            return
        if type(source).wait_for_change is Source.wait_for_change:
            return  # this kind can only be polled
        state.watcher = source
        name = state.config.name
        timeout = max(60.0, state.config.interval.total_seconds())

        def wait() -> tuple[str, Source, bool | None]:
            try:
                return name, source, source.wait_for_change(timeout)
            except Exception:  # a connector bug: polling on the interval still works
                log.exception("%s: waiting for changes failed", name)
                return name, source, None

        try:
            future = self._watchers.submit(wait)
        except RuntimeError:  # shut down: the agent is stopping
            return
        future.add_done_callback(
            lambda f: self._cmds.put(("watched", f.result())) if not f.cancelled() else None
        )

    def _on_watched(self, name: str, source: Source, changed: bool | None) -> None:
        """A ``wait_for_change()`` ended: True polls now, False waits again, None stops waiting
        until the next successful fetch."""
        state = self._states.get(name)
        if state is None or state.source is not source:
            return  # reconfigured or closed meanwhile
        if state.watcher is source:
            state.watcher = None
        if changed:
            log.debug("%s: changed at the helpdesk; checking now", name)
            if state.in_flight:
                state.recheck = True
            else:
                state.next_due = self.clock.monotonic()
        elif changed is False:
            self._watch(state)

    def _handle_result(self, result: _Result) -> Changes | None:
        """Apply one fetch's outcome to the queue (in memory); :meth:`_settle` saves and tells."""
        state = self._states.get(result.name)
        stale_result = state is not None and result.fetch != state.fetch  # abandoned meanwhile
        if state is None or result.generation != self._generation or stale_result:
            if result.source is not None and (state is None or result.source is not state.source):
                result.source.close()
            return None
        state.in_flight = False
        state.source = result.source
        now = self.clock.now()
        alerts: list[Alert] = []
        changes = None
        health_was = state.health.health
        if result.snapshot is not None:
            was_failing = state.health.health is Health.FAILING
            snapshot = result.snapshot
            if len(snapshot.tickets) > MAX_TICKETS_PER_SOURCE:
                log.warning(
                    "%s: reported %d waiting tickets; keeping the first %d (the rest is not "
                    "read, and nothing missing is taken as answered)",
                    state.config.name,
                    len(snapshot.tickets),
                    MAX_TICKETS_PER_SOURCE,
                )
                snapshot = replace(
                    snapshot, tickets=snapshot.tickets[:MAX_TICKETS_PER_SOURCE], complete=False
                )
            wanted = snapshot.tickets
            if state.config.categories:
                wanted = tuple(t for t in wanted if self._wants(state.config, t.category))
            if len(wanted) != len(snapshot.tickets) or snapshot.source != state.config.name:
                snapshot = replace(
                    snapshot,
                    source=state.config.name,
                    tickets=tuple(
                        replace(t, source=state.config.name) if t.source != state.config.name else t
                        for t in wanted
                    ),
                )
            changes = self.queue.apply(snapshot, now)
            if was_failing:
                alerts.append(self._source_alert("source_up", state, now))
                self._follow_up_blind(state, now)
            state.failures = 0
            state.last_success = now
            state.slowed_since = None
            delay = self._interval_with_jitter(state.config)
            slowed = False
            if snapshot.throttle:  # the quota is nearly used up: wait for it (an hour at most)
                throttle = min(max(0.0, snapshot.throttle), MAX_SERVER_WAIT)
                slowed = throttle > delay
                delay = max(delay, throttle)
            state.next_due = self.clock.monotonic() + delay
            if state.recheck:
                state.recheck = False
                state.next_due = self.clock.monotonic()
            next_poll = now + timedelta(seconds=delay)
            state.health = replace(
                state.health,
                health=Health.SLOWED if slowed else Health.OK,
                message=self._slowed_text(next_poll) if slowed else "",
                last_success=now,
                last_attempt=now,
                failing_since=None,
                failures=0,
                sign_in=False,
                next_poll=next_poll,
            )
            if changes.changed:
                log.info(
                    "%s: %d waiting (%d new, %d answered)",
                    state.config.name,
                    len(changes.waiting),
                    len(changes.new),
                    len(changes.answered),
                )
        elif isinstance(result.error, RateLimited) and self._may_wait(state, now):
            self._mark_slowed(state, result.error, now)
        else:
            assert result.error is not None
            down = self._mark_failed(state, result.error, now)
            if down is not None:
                alerts.append(down)
            if isinstance(result.error, AuthError | SignInNeeded) and state.source is not None:
                # Re-read the secret next time: the person may have just stored a new token
                # or signed in again (a refused sign-in is no longer in the keyring).
                state.source.close()
                state.source = None
        self._unpublished.extend(self.queue.record(alerts))
        if changes is not None:
            # "answered" is an event, not an owed alert: the ticket left the queue in this write.
            self._unpublished.extend(self._answered_alerts(changes, now))
            for t in changes.answered:
                waited = escalation.human(now - t.waiting_since)
                text = f"Answered after {waited}: {t.source} #{t.id} — {t.subject}"
                self._enqueue(
                    escalation.follow_up_messages(self.queue, t.source, t.id, t.cycle, text, now),
                    now,
                )
        if changes is not None and not changes.changed and not alerts and health_was is Health.OK:
            # Same tickets, same health: the policy's answer stands until ``_next_change``;
            # only the sources' "last checked" moved, so re-evaluating 10,000 tickets is waste.
            self._health_moved = True
        else:
            self._dirty = True
        return changes

    def _slowed_text(self, until: datetime) -> str:
        tz = escalation.display_zone(self.config)
        return f"slowed down by the helpdesk until {until.astimezone(tz):%H:%M}"

    def _may_wait(self, state: _SourceState, now: datetime) -> bool:
        """Whether a rate limit may keep the source "slowed down" rather than failing: only
        while it was read within ``blind_after`` (or slowed since its start for less)."""
        since = state.last_success or state.slowed_since or now
        return now - since < self.config.escalation.blind_after

    def _mark_slowed(self, state: _SourceState, error: RateLimited, now: datetime) -> None:
        """The helpdesk asked us to wait: not a failure, no alert; its tickets stay current."""
        if state.slowed_since is None:
            state.slowed_since = now
        wait = error.retry_after if error.retry_after is not None else 60.0
        wait = min(max(1.0, wait), MAX_SERVER_WAIT)
        state.next_due = self.clock.monotonic() + wait
        until = now + timedelta(seconds=wait)
        log.info("%s: %s (%s)", state.config.name, self._slowed_text(until), error.message)
        if error.detail:
            log.debug("%s: detail: %s", state.config.name, error.detail)
        was_failing = state.health.health is Health.FAILING
        state.health = replace(
            state.health,
            health=Health.SLOWED,
            message=self._slowed_text(until),
            last_attempt=now,
            failing_since=None,
            next_poll=until,
        )
        if was_failing:
            state.failures = 0
            state.health = replace(state.health, failures=0)

    def _mark_failed(self, state: _SourceState, error: SourceError, now: datetime) -> Alert | None:
        state.failures += 1
        first = state.health.health is not Health.FAILING
        failing_since = now if first else state.health.failing_since
        if first and isinstance(error, RateLimited):  # slowed down for longer than blind_after
            failing_since = state.last_success or state.slowed_since or now
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = min(max(1.0, error.retry_after), MAX_SERVER_WAIT)
        else:
            base = state.config.interval.total_seconds()
            cap = max(base, BACKOFF_CAP.total_seconds())
            delay = min(base * 2 ** (state.failures - 1), cap)
            delay *= 1 + self._rng.uniform(-JITTER, JITTER)
        state.next_due = self.clock.monotonic() + delay
        level = logging.WARNING if first else logging.INFO
        log.log(level, "%s: %s", state.config.name, error.message)
        if error.detail:
            log.debug("%s: detail: %s", state.config.name, error.detail)
        state.health = replace(
            state.health,
            health=Health.FAILING,
            message=error.message,
            last_attempt=now,
            failing_since=failing_since,
            failures=state.failures,
            next_poll=now + timedelta(seconds=delay),
            sign_in=isinstance(error, SignInNeeded),
        )
        return self._source_alert("source_down", state, now) if first else None

    def _source_alert(self, kind: str, state: _SourceState, now: datetime) -> Alert:
        since = state.health.failing_since or now
        message = state.health.message if kind == "source_down" else "reading again"
        return Alert(
            kind=kind,
            at=now,
            key=alert_key(state.config.name, "*", since.isoformat(), kind),
            source=state.config.name,
            subject=message,
            message=message,
        )

    def _answered_alerts(self, changes: Changes, now: datetime) -> list[Alert]:
        return [
            Alert(
                kind="answered",
                at=now,
                key=alert_key(t.source, t.id, t.cycle, "answered"),
                source=t.source,
                ticket=t.id,
                subject=t.subject,
                category=t.category,
                url=t.url,
            )
            for t in changes.answered
        ]

    def _interval_with_jitter(self, config: SourceConfig) -> float:
        base = config.interval.total_seconds()
        return base * (1 + self._rng.uniform(-JITTER, JITTER))

    @staticmethod
    def _wants(config: SourceConfig, category: str) -> bool:
        cats = config.categories
        return not cats or category.casefold() in {c.casefold() for c in cats}

    # ------------------------------------------------------------------ status and alerts

    def _build_status(self, now: datetime) -> Status:
        stale = {n for n, s in self._states.items() if s.health.stale}
        waiting = policy.evaluate(self.queue.waiting(), self.config, now, stale)
        self._waiting = waiting
        counts: dict[str, int] = {}
        for w in waiting:
            counts[w.ticket.source] = counts.get(w.ticket.source, 0) + 1
        sources = tuple(
            replace(s.health, waiting=counts.get(name, 0)) for name, s in self._states.items()
        )
        return Status(now, tuple(waiting), sources, self.config.role, self._notices(now))

    def _note_write_state(self, now: datetime) -> bool:
        """Bring the status's notices in line with the last save (any write may change it)."""
        if self.queue.write_error == self._noted_write_error:
            return False
        self._noted_write_error = self.queue.write_error
        self._status = replace(self._status, notices=self._notices(now))
        return True

    def _notices(self, now: datetime) -> tuple[str, ...]:
        self._noted_write_error = self.queue.write_error
        notices = []
        if self.queue.write_error:
            notices.append(self.queue.write_error)
        if not self.queue.writable:
            notices.append(
                f"another Ticketbell ({self.queue.held_by}) uses this data folder: this one "
                "saves nothing and sends no escalation until it stops"
            )
        if self.queue.recovered_from is not None:
            notices.append(
                f"the queue file was damaged and was moved aside ({self.queue.recovered_from.name})"
            )
        notices.extend(self._outbox.notices(now))
        notices.extend(signin.auth_warnings(self.config, now))  # Zendesk API tokens' end
        return tuple(notices)

    def _with_sources(self, status: Status, now: datetime) -> Status:
        """``status`` with the sources' health as it is now (the waiting counts unchanged)."""
        counts = {s.name: s.waiting for s in status.sources}
        sources = tuple(
            replace(s.health, waiting=counts.get(name, 0)) for name, s in self._states.items()
        )
        return replace(status, generated_at=now, sources=sources)

    def _settle(self, now: datetime, publish: bool = True) -> list[Alert]:
        """After changes: evaluate, record what is owed, save in one write, then tell subscribers.

        Alerts reach subscribers only after the write that records them, so a crash can lose
        none and a restart repeats none.
        """
        before = self._status
        if not self._dirty and self.queue.write_error:
            # The last save failed (disk full, read-only): try again at every pass, so what was
            # kept in memory reaches the disk as soon as it can, even if nothing else changes.
            self._dirty = True
        if not self._dirty:
            noted = self._note_write_state(now)
            if self._health_moved:
                self._health_moved = False
                self._status = self._with_sources(self._status, now)
            if publish and (noted or self._status is not before):
                self._publish_status(self._status)
            return []
        self._dirty = False
        self._health_moved = False
        fresh = self._unpublished + self._evaluate(now)
        self._unpublished = []
        self.queue.commit()
        self._note_write_state(now)
        if not self.queue.writable:
            # The Ticketbell holding the data folder sends the escalations; this one must not
            # report ones it does not send.
            fresh = [a for a in fresh if a.kind != "escalated"]
        if publish:
            self._publish_status(self._status)
            if fresh:
                self._publish_alerts(tuple(fresh))
        return fresh

    def _evaluate(self, now: datetime) -> list[Alert]:
        """Recompute states, record the alerts now owed, and schedule the next change."""
        status = self._build_status(now)
        waiting: list[WaitingTicket] = self._waiting
        last = parse_time(self.queue.get_meta("last_reminder_at"))
        owed = policy.alerts_owed(waiting, self.config, now, self.queue.ledger_keys, last)
        fresh = self.queue.record(owed)
        if any(a.kind in ("new", "reminder") for a in fresh) or (last is None and waiting):
            last = now
            self.queue.set_meta("last_reminder_at", now.isoformat())
        elif not waiting and last is not None:
            last = None
            self.queue.set_meta("last_reminder_at", None)
        self._next_change = policy.next_change(waiting, self.config, now, last)
        fresh += self._blind_sources(now)
        self._on_escalations([a for a in fresh if a.kind == "escalated"], now)
        self._digest(now)
        self._status = status
        return fresh

    def _sends_channels(self) -> bool:
        return self.config.role == self.config.escalation.sent_by

    def _enqueue(self, messages: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        for key, message in messages:
            self.queue.enqueue(key, message, now)

    def _blind_sources(self, now: datetime) -> list[Alert]:
        """Escalate sources failing for longer than ``blind_after``; schedule the next check."""
        esc = self.config.escalation
        failing = [s.health for s in self._states.values() if s.health.failing_since]
        tz = escalation.display_zone(self.config)
        fresh = self.queue.record(escalation.blind_alerts(failing, esc, now, tz))
        later = [
            at
            for s in failing
            if (at := escalation.next_blind_at([s], esc)) is not None and at > now
        ]
        if later:
            soonest = min(later)
            self._next_change = min(self._next_change or soonest, soonest)
        return fresh

    def _follow_up_blind(self, state: _SourceState, now: datetime) -> None:
        since = state.health.failing_since
        if since is None or not self.queue.already(
            alert_key(state.config.name, "*", since.isoformat(), "blind")
        ):
            return
        text = (
            f"Ticketbell reads {state.config.name} again "
            f"(it could not for {escalation.human(now - since)})"
        )
        messages = escalation.follow_up_messages(
            self.queue, state.config.name, "", since.isoformat(), text, now
        )
        self._enqueue(messages, now)

    def _digest(self, now: datetime) -> None:
        """Queue the daily digest when it falls due, and wake up for the next one."""
        esc = self.config.escalation
        if esc.digest_at is None or not self._sends_channels():
            return
        tz = escalation.display_zone(self.config)
        last_day = self.queue.get_meta("last_digest_day")
        day, following = escalation.digest_due(now, esc.digest_at, tz, last_day)
        if last_day is None:  # first run: the first digest is the next scheduled one
            first = (following - timedelta(days=1)).astimezone(tz).date()
            self.queue.set_meta("last_digest_day", first.isoformat())
            self.queue.set_meta("last_digest_at", now.isoformat())
        elif day is not None:
            since = parse_time(self.queue.get_meta("last_digest_at")) or now - timedelta(days=1)
            failing = {
                name: s.health.failing_since
                for name, s in self._states.items()
                if s.health.failing_since is not None
            }
            title, body = escalation.digest_text(
                self.queue.ledger_entries(), self._waiting, failing, since, now, tz
            )
            self._enqueue(escalation.digest_messages(day, title, body, esc), now)
            self.queue.set_meta("last_digest_day", day.isoformat())
            self.queue.set_meta("last_digest_at", now.isoformat())
            log.info("daily digest queued for %s", ", ".join(escalation.digest_targets(esc)))
        self._next_change = min(self._next_change or following, following)

    def _on_escalations(self, alerts: list[Alert], now: datetime) -> None:
        """Queue channel messages for escalations, when this agent's role is the one to send."""
        if not alerts or not self._sends_channels():
            return
        for alert in alerts:
            self._enqueue(escalation.escalation_messages(alert, self.config, now), now)

    def _publish_status(self, status: Status) -> None:
        for callback in list(self._status_subscribers):
            try:
                callback(status)
            except Exception:
                log.exception("a status subscriber failed")

    def _publish_alerts(self, alerts: tuple[Alert, ...]) -> None:
        for callback in list(self._alert_subscribers):
            try:
                callback(alerts)
            except Exception:
                log.exception("an alert subscriber failed")
