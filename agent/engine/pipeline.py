"""The pipeline of docs/architecture.md, on the scheduler thread: snapshot → queue → policy →
status and alerts.

A fetch's outcome is applied to the queue in memory (:meth:`Pipeline.handle_result`); the
sources' health moves (ok, slowed down, failing, with back-off); :meth:`Pipeline.settle` then
evaluates the policy, records the alerts owed, saves everything in one write and only then tells
the subscribers, so a crash can lose no alert and a restart repeats none.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Protocol

from agent import escalation, i18n, policy
from agent.auth.providers import auth_warnings
from agent.config import Config, SourceConfig
from agent.engine.bulk import gc_held
from agent.engine.escalator import Escalator
from agent.i18n import Text, _
from agent.insight.forecast import Outlook
from agent.insight.record import record_changes, record_unreadable
from agent.model import (
    Alert,
    Health,
    Snapshot,
    SourceHealth,
    Status,
    WaitingTicket,
    parse_time,
    ticket_key,
)
from agent.queue import Changes, LocalQueue
from agent.quiet import Quiet, vip_escalations
from agent.sources.base import (
    MAX_SERVER_WAIT,
    AuthError,
    RateLimited,
    SignInNeeded,
    Source,
    SourceError,
)
from agent.storage import alert_key

log = logging.getLogger(__name__)

BACKOFF_CAP = timedelta(minutes=15)
#: the queue's meta entry {source: since when it fails}, for a restart during an outage
FAILING_SINCE = "failing_since"
JITTER = 0.05  # +/- 5 % of the interval, so several agents do not poll in lockstep
#: tickets one source may report in one fetch; beyond it the snapshot is cut and incomplete
MAX_TICKETS_PER_SOURCE = 50_000
#: alerts after which a reminder is owed only when ``remind_every`` has passed again
NEWS = ("new", "summary", "reminder")

_source_of: Callable[[WaitingTicket], str] = attrgetter("ticket.source")

StatusCallback = Callable[[Status], None]
AlertsCallback = Callable[[tuple[Alert, ...]], None]


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


@dataclass
class SourceState:
    """What the scheduler knows of one source between fetches."""

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
    summarise: bool = False  # after a resume: what the next read finds comes as one summary

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = SourceHealth(self.config.name, self.config.kind)


@dataclass(frozen=True)
class FetchResult:
    """One fetch's outcome, handed from its worker to the scheduler."""

    name: str
    snapshot: Snapshot | None
    error: SourceError | None
    source: Source | None
    started: datetime
    generation: int
    fetch: int = 0


class Pipeline:
    """The state the scheduler keeps between passes, and what it does with a fetch's outcome."""

    def __init__(self, config: Config, queue: LocalQueue, clock: Clock, rng: random.Random):
        self.config = config
        self.queue = queue
        self.clock = clock
        self._rng = rng
        self._states: dict[str, SourceState] = {}
        self._generation = 0
        self._status = Status(clock.now(), role=config.role)
        self._status_subscribers: list[StatusCallback] = []
        self._alert_subscribers: list[AlertsCallback] = []
        self._escalator = Escalator(queue, rng)
        self._next_change: datetime | None = None
        self._waiting: list[WaitingTicket] = []
        self._dirty = True  # state changed since the last evaluation: evaluate, save, publish
        self._health_moved = False  # only the sources' health changed: publish, no evaluation
        self._unpublished: list[Alert] = []  # events recorded but not yet told to subscribers
        self._summarise: set[str] = set()  # sources whose new tickets owe one summary alert
        self._noted_write_error: str | None = None  # the save failure the status reports
        self._outlook = Outlook()  # the forecast of breaches (agent.insight.forecast)
        self.quiet = Quiet()  # holds what should not pop up now (agent/quiet.py)

    # ------------------------------------------------------------------ a fetch's outcome

    @gc_held()
    def handle_result(self, result: FetchResult) -> Changes | None:
        """Apply one fetch's outcome to the queue (in memory); :meth:`settle` saves and tells."""
        state = self._states.get(result.name)
        stale_result = state is not None and result.fetch != state.fetch  # abandoned meanwhile
        if state is None or result.generation != self._generation or stale_result:
            if result.source is not None and (state is None or result.source is not state.source):
                result.source.close()
            return None
        state.in_flight = False
        state.source = result.source
        now = self.clock.now()
        health_was = state.health.health
        alerts: list[Alert] = []
        changes = None
        if result.snapshot is not None:
            changes = self._apply(state, result.snapshot, alerts, now)
        elif isinstance(result.error, RateLimited) and self._may_wait(state, now):
            self._mark_slowed(state, result.error, now)
        else:
            assert result.error is not None
            self._on_error(state, result.error, alerts, now)
        self._unpublished.extend(self.queue.record(alerts))
        if changes is not None:
            record_changes(self.queue, self.config, changes, now)  # the daily aggregates
            # "answered" is an event, not an owed alert: the ticket left the queue in this write.
            self._unpublished.extend(self._answered_alerts(changes, now))
            self._escalator.answered(changes, now, self.config.language)
        if changes is not None and not changes.changed and not alerts and health_was is Health.OK:
            # Same tickets, same health: the policy's answer stands until ``_next_change``;
            # only the sources' "last checked" moved, so re-evaluating 10,000 tickets is waste.
            self._health_moved = True
        else:
            self._dirty = True
        return changes

    def _apply(
        self, state: SourceState, snapshot: Snapshot, alerts: list[Alert], now: datetime
    ) -> Changes:
        was_failing = state.health.health is Health.FAILING
        name = state.config.name
        first = state.summarise or not self.queue.has_held(name)  # first sync, or a resume
        state.summarise = False
        self._note_unreadable(state, now)
        changes = self.queue.apply(self._accepted(state.config, snapshot), now)
        if first and changes.new:
            self._summarise.add(name)
        # failing until now: in this run, or when the last one stopped (a restart in between)
        since = state.health.failing_since if was_failing else self._failing_before(name)
        if was_failing or since is not None:
            alerts.append(self._source_alert("source_up", state, now, since))
            self._escalator.source_back(name, since, now, self.config.language)
            self._keep_failing_since(name, None)
        self._mark_read(state, snapshot, now)
        if changes.changed:
            log.info(
                "%s: %d waiting (%d new, %d answered)",
                state.config.name,
                len(changes.waiting),
                len(changes.new),
                len(changes.answered),
            )
        return changes

    def _accepted(self, config: SourceConfig, snapshot: Snapshot) -> Snapshot:
        """The snapshot as the queue takes it: cut at the bound, only the wanted categories,
        every ticket named after the configured source."""
        if len(snapshot.tickets) > MAX_TICKETS_PER_SOURCE:
            log.warning(
                "%s: reported %d waiting tickets; keeping the first %d (the rest is not "
                "read, and nothing missing is taken as answered)",
                config.name,
                len(snapshot.tickets),
                MAX_TICKETS_PER_SOURCE,
            )
            snapshot = replace(
                snapshot, tickets=snapshot.tickets[:MAX_TICKETS_PER_SOURCE], complete=False
            )
        wanted = snapshot.tickets
        if config.categories:
            wanted = tuple(t for t in wanted if wants(config, t.category))
        if len(wanted) != len(snapshot.tickets) or snapshot.source != config.name:
            snapshot = replace(
                snapshot,
                source=config.name,
                tickets=tuple(
                    replace(t, source=config.name) if t.source != config.name else t for t in wanted
                ),
            )
        return snapshot

    def _mark_read(self, state: SourceState, snapshot: Snapshot, now: datetime) -> None:
        """A fetch succeeded: healthy again, next poll after the interval (or the throttle)."""
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
            english=self._slowed_english(next_poll) if slowed else "",
            text=None,
            last_success=now,
            last_attempt=now,
            failing_since=None,
            failures=0,
            sign_in=False,
            next_poll=next_poll,
        )

    def _on_error(
        self, state: SourceState, error: SourceError, alerts: list[Alert], now: datetime
    ) -> None:
        down = self._mark_failed(state, error, now)
        if down is not None:
            alerts.append(down)
        if isinstance(error, AuthError | SignInNeeded) and state.source is not None:
            # Re-read the secret next time: the person may have just stored a new token
            # or signed in again (a refused sign-in is no longer in the keyring).
            state.source.close()
            state.source = None

    @staticmethod
    def _stopped_texts(why: str, wait: float) -> tuple[str, str]:
        """The status's words when the scheduler's loop died on ``why``: each source's message
        and the notice."""
        message = _("Ticketbell stopped watching: {why}").format(why=why)
        notice = _("{message}; starting again in {seconds} s")
        return message, notice.format(message=message, seconds=f"{wait:g}")

    def _slowed_text(self, until: datetime) -> str:
        tz = escalation.display_zone(self.config)
        return _("slowed down by the helpdesk until {time}").format(time=i18n.time_text(until, tz))

    def _slowed_english(self, until: datetime) -> str:
        with i18n.in_english():
            return self._slowed_text(until)

    def _may_wait(self, state: SourceState, now: datetime) -> bool:
        """Whether a rate limit may keep the source "slowed down" rather than failing: only
        while it was read within ``blind_after`` (or slowed since its start for less)."""
        since = state.last_success or state.slowed_since or now
        return now - since < self.config.escalation.blind_after

    def _mark_slowed(self, state: SourceState, error: RateLimited, now: datetime) -> None:
        """The helpdesk asked us to wait: not a failure, no alert; its tickets stay current."""
        if state.slowed_since is None:
            state.slowed_since = now
        wait = server_wait(error.retry_after if error.retry_after is not None else 60.0)
        state.next_due = self.clock.monotonic() + wait
        until = now + timedelta(seconds=wait)
        log.info("%s: %s (%s)", state.config.name, self._slowed_english(until), error.english)
        if error.detail:
            log.debug("%s: detail: %s", state.config.name, error.detail)
        was_failing = state.health.health is Health.FAILING
        state.health = replace(
            state.health,
            health=Health.SLOWED,
            message=self._slowed_text(until),
            english=self._slowed_english(until),
            text=None,
            last_attempt=now,
            failing_since=None,
            next_poll=until,
        )
        if was_failing:
            state.failures = 0
            state.health = replace(state.health, failures=0)

    def _note_unreadable(self, state: SourceState, now: datetime) -> None:
        """A failing source's time since its last try goes to the aggregates' unreadable time."""
        if state.health.health is Health.FAILING:
            name, since = state.config.name, state.health.last_attempt
            record_unreadable(self.queue, self.config, name, since, now)

    def _mark_failed(self, state: SourceState, error: SourceError, now: datetime) -> Alert | None:
        self._note_unreadable(state, now)
        state.failures += 1
        first = state.health.health is not Health.FAILING
        failing_since = now if first else state.health.failing_since
        if first and isinstance(error, RateLimited):  # slowed down for longer than blind_after
            failing_since = state.last_success or state.slowed_since or now
        if first:  # or still failing since before a restart: the same outage, the same alerts
            failing_since = self._failing_before(state.config.name) or failing_since
            self._keep_failing_since(state.config.name, failing_since)
        delay = self._retry_delay(state, error)
        state.next_due = self.clock.monotonic() + delay
        level = logging.WARNING if first else logging.INFO
        log.log(level, "%s: %s", state.config.name, error.english)
        if error.detail:
            log.debug("%s: detail: %s", state.config.name, error.detail)
        state.health = replace(
            state.health,
            health=Health.FAILING,
            message=error.message,
            english=error.english,
            text=error.text if isinstance(error.text, Text) else None,
            last_attempt=now,
            failing_since=failing_since,
            failures=state.failures,
            next_poll=now + timedelta(seconds=delay),
            sign_in=isinstance(error, SignInNeeded),
        )
        return self._source_alert("source_down", state, now) if first else None

    def _retry_delay(self, state: SourceState, error: SourceError) -> float:
        """Seconds to the next try: the server's Retry-After, else exponential back-off."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return server_wait(error.retry_after)
        base = state.config.interval.total_seconds()
        cap = max(base, BACKOFF_CAP.total_seconds())
        # the exponent stops at 32 (the cap is long reached): 2**1024 is too large for a float,
        # which ~11 days of a failing source at the 15-minute cap would reach
        delay = min(base * 2 ** min(state.failures - 1, 32), cap)
        return float(delay * (1 + self._rng.uniform(-JITTER, JITTER)))

    def _failing_before(self, name: str) -> datetime | None:
        """Since when ``name`` has been failing, as kept in the queue until it is read again.

        A source's health lives in memory; kept only there, a restart during an outage sent
        its blind-source alert again with the restart's time, and a recovery after a restart
        never followed it up (the owner was left believing the helpdesk still unreadable)."""
        kept = self.queue.get_meta(FAILING_SINCE)
        return parse_time(kept.get(name)) if isinstance(kept, dict) else None

    def _keep_failing_since(self, name: str, since: datetime | None) -> None:
        kept = self.queue.get_meta(FAILING_SINCE)
        kept = dict(kept) if isinstance(kept, dict) else {}
        if since is None:
            kept.pop(name, None)
        else:
            kept[name] = since.isoformat()
        self.queue.set_meta(FAILING_SINCE, {n: at for n, at in kept.items() if n in self._states})

    def _source_alert(
        self, kind: str, state: SourceState, now: datetime, since: datetime | None = None
    ) -> Alert:
        since = since or state.health.failing_since or now
        message = state.health.message if kind == "source_down" else "reading again"
        name = state.config.name
        key = alert_key(name, "*", since.isoformat(), kind)
        english = state.health.message_en if kind == "source_down" else message
        said = state.health.text if kind == "source_down" else None
        return Alert.of_source(kind, now, key, name, message, english=english, said=said)

    @staticmethod
    def _answered_alerts(changes: Changes, now: datetime) -> list[Alert]:
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

    # ------------------------------------------------------------------ status and alerts

    def _build_status(self, now: datetime) -> Status:
        stale = {n for n, s in self._states.items() if s.health.stale}
        waiting = policy.evaluate(self.queue.waiting(), self.config, now, stale)
        waiting = self._outlook.look(waiting, self.queue.aggregates.days, self.config, now)
        self._waiting = waiting
        counts = Counter(map(_source_of, waiting))
        sources = tuple(
            replace(s.health, waiting=counts.get(name, 0)) for name, s in self._states.items()
        )
        return Status(
            now,
            tuple(waiting),
            sources,
            self.config.role,
            self._notices(now),
            muted_until=self.queue.muted_until(now),
            pinned=self.queue.pinned(),
            history=self._outlook.recent,
        )

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
            said = _(
                "another Ticketbell ({holder}) uses this data folder: this one "
                "saves nothing and sends no escalation until it stops"
            )
            notices.append(said.format(holder=self.queue.held_by))
        if self.queue.recovered_from is not None:
            said = _("the queue file was damaged and was moved aside ({file})")
            notices.append(said.format(file=self.queue.recovered_from.name))
        aside = self.queue.aggregates.recovered_from
        if aside is not None:
            said = _("the daily aggregates were damaged and were moved aside ({file})")
            notices.append(said.format(file=aside.name))
        notices.extend(self._escalator.outbox.notices(now))
        notices.extend(auth_warnings(self.config, now))  # Zendesk API tokens' end
        return tuple(notices)

    def _with_sources(self, status: Status, now: datetime) -> Status:
        """``status`` with the sources' health as it is now (the waiting counts unchanged)."""
        counts = {s.name: s.waiting for s in status.sources}
        sources = tuple(
            replace(s.health, waiting=counts.get(name, 0)) for name, s in self._states.items()
        )
        return replace(status, generated_at=now, sources=sources)

    @gc_held()
    def settle(self, now: datetime, publish: bool = True) -> list[Alert]:
        """After changes: evaluate, record what is owed, save in one write, then tell subscribers.

        Alerts reach subscribers only after the write that records them, so a crash can lose
        none and a restart repeats none.
        """
        if not self._dirty and self.queue.write_error:
            # The last save failed (disk full, read-only): try again at every pass, so what was
            # kept in memory reaches the disk as soon as it can, even if nothing else changes.
            self._dirty = True
        if not self._dirty:
            self._settle_health(now, publish)
            released = self.quiet.decide([], self.config, now)  # the summary when back, …
            if self._status.held != self.quiet.holding:  # do-not-disturb came or went
                self._status = replace(self._status, held=self.quiet.holding)
                if publish:
                    self._publish_status(self._status)
            if publish and released:
                self._publish_alerts(tuple(released))
            return released
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
        fresh = self.quiet.decide(fresh, self.config, now)
        self._status = replace(self._status, held=self.quiet.holding)
        if publish:
            self._publish_status(self._status)
            if fresh:
                self._publish_alerts(tuple(fresh))
        return fresh

    def _settle_health(self, now: datetime, publish: bool) -> None:
        """Nothing to evaluate: publish the sources' new health or save state, if it moved."""
        before = self._status
        noted = self._note_write_state(now)
        if self._health_moved:
            self._health_moved = False
            self._status = self._with_sources(self._status, now)
        if publish and (noted or self._status is not before):
            self._publish_status(self._status)

    def _evaluate(self, now: datetime) -> list[Alert]:
        """Recompute states, record the alerts now owed, and schedule the next change."""
        status = self._build_status(now)
        waiting = self._waiting
        last = parse_time(self.queue.get_meta("last_reminder_at"))
        keys = self.queue.ledger_keys
        owed = policy.alerts_owed(waiting, self.config, now, keys, last, self._summarise)
        owed += self._outlook.alerts(waiting, self.config, now, keys)
        self._summarise = set()
        owed += vip_escalations(waiting, self.config, now, keys)
        fresh = self.queue.record(owed)
        if any(a.kind in NEWS for a in fresh) or (last is None and waiting):
            last = now
            self.queue.set_meta("last_reminder_at", now.isoformat())
        elif not waiting and last is not None:
            last = None
            self.queue.set_meta("last_reminder_at", None)
        self._next_change = policy.next_change(waiting, self.config, now, last)
        self._next_change = self._outlook.next_look(waiting, self.config, now, self._next_change)
        fresh += self._escalate(fresh, now)
        self._status = replace(status, pinned=self.queue.pinned())
        return fresh

    def _escalate(self, fresh: list[Alert], now: datetime) -> list[Alert]:
        """The escalator's part of an evaluation: blind sources, the escalations in ``fresh``
        and the blind ones, the digest. Returns the blind-source alerts not recorded before."""
        failing = [s.health for s in self._states.values() if s.health.failing_since]
        blind, next_blind = self._escalator.blind(failing, self.config, now)
        owed = [a for a in fresh + blind if a.kind == "escalated"]
        for alert in owed:
            if alert.ticket:  # an escalated ticket is shown first until it is answered
                self.queue.set_pinned(ticket_key(alert.source, alert.ticket), True)
        self._escalator.escalate(owed, self.config, now)
        since = {h.name: h.failing_since for h in failing if h.failing_since is not None}
        next_digest = self._escalator.digest(self.config, self._waiting, since, now)
        for at in (next_blind, next_digest):
            if at is not None:
                self._next_change = min(self._next_change or at, at)
        return blind

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


def server_wait(seconds: float) -> float:
    """A wait the helpdesk asked for (Retry-After), between a second and MAX_SERVER_WAIT."""
    return min(max(1.0, seconds), MAX_SERVER_WAIT)


def wants(config: SourceConfig, category: str) -> bool:
    """Whether a source configured with ``categories`` keeps a ticket of ``category``."""
    cats = config.categories
    return not cats or category.casefold() in {c.casefold() for c in cats}
