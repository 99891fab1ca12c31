"""The escalator: the owner's side of the pipeline, on the scheduler thread.

It turns escalated alerts into durable outbox messages (one per channel target), follows up an
escalation that ended (answered, source read again) and cancels its messages not sent yet,
escalates sources that have been unreadable for longer than ``blind_after``, queues the daily
digest, and drives the outbox's delivery (:class:`Outbox`): the sends themselves run on the
scheduler's send pool and come back as commands.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import random
import time as time_module
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from agent import digest, escalation, i18n
from agent.channels import describe_target
from agent.config import Config
from agent.escalation import (
    NOTICE_FOR,
    RETRY_BASE,
    SEND_DEADLINE,
    DeliveryResult,
    human,
    local_time,
    message_name,
    retry_delay,
    send,
)
from agent.i18n import _
from agent.model import Alert, SourceHealth, WaitingTicket, parse_time
from agent.queue import Changes, LocalQueue
from agent.storage import OutboxEntry, OutboxKey

log = logging.getLogger(__name__)

Submit = Callable[[Callable[[], DeliveryResult]], "concurrent.futures.Future[DeliveryResult]"]


class Escalator:
    """Outbox, follow-ups, blind-source alerts and the digest of one agent."""

    def __init__(self, queue: LocalQueue, rng: random.Random) -> None:
        self.queue = queue
        self.outbox = Outbox(queue, rng)
        #: when the outbox next needs a look (a retry, a give-up, a send's deadline)
        self.next_delivery: datetime | None = None

    def escalate(self, alerts: list[Alert], config: Config, now: datetime) -> None:
        """Queue channel messages for escalations, when this agent's role is the one to send."""
        if not alerts or not sends_channels(config):
            return
        for alert in alerts:
            self._enqueue(escalation.escalation_messages(alert, config, now), now)

    def answered(self, changes: Changes, now: datetime, language: str = "") -> None:
        """Follow up the escalations of the tickets answered in ``changes`` (in ``language``,
        the owner's, as the escalations were)."""
        for t in changes.answered:
            with i18n.speaking(language):
                waited = i18n.duration(now - t.waiting_since)
                text = _("Answered after {duration}: {source} #{ticket} — {subject}").format(
                    duration=waited, source=t.source, ticket=t.id, subject=t.subject
                )
            self.follow_up(t.source, t.id, t.cycle, text, now)

    def source_back(
        self, name: str, since: datetime | None, now: datetime, language: str = ""
    ) -> None:
        """A source failing since ``since`` is read again: follow up its blind-source alert
        (in ``language``, the owner's)."""
        if since is None or not self.queue.already(escalation.blind_key(name, since)):
            return
        with i18n.speaking(language):
            text = _("Ticketbell reads {source} again (it could not for {duration})").format(
                source=name, duration=i18n.duration(now - since)
            )
        self.follow_up(name, "", since.isoformat(), text, now)

    def follow_up(self, source: str, ticket: str, cycle: str, text: str, now: datetime) -> None:
        """An escalation ended: cancel its messages not sent yet (nobody needs the alarm now),
        and tell each target that was sent one."""
        entries = escalation.sent_escalations(self.queue, source, ticket, cycle)
        for key in escalation.unsent(entries):
            self.queue.update_outbox(key, cancelled_at=now)
            log.info("%s #%s: escalation no longer needed; not sent", source, ticket or "-")
        self._enqueue(escalation.follow_up_messages(entries, source, ticket, cycle, text), now)

    def blind(
        self, failing: list[SourceHealth], config: Config, now: datetime
    ) -> tuple[list[Alert], datetime | None]:
        """Escalate sources failing for longer than ``blind_after``; returns the alerts not
        recorded before and when the next source turns blind."""
        esc = config.escalation
        tz = escalation.display_zone(config)
        fresh = self.queue.record(escalation.blind_alerts(failing, esc, now, tz))
        later = [
            at
            for s in failing
            if (at := escalation.next_blind_at([s], esc)) is not None and at > now
        ]
        return fresh, min(later) if later else None

    def digest(
        self,
        config: Config,
        waiting: list[WaitingTicket],
        failing: dict[str, datetime],
        now: datetime,
    ) -> datetime | None:
        """Queue the daily digest and the weekly scorecard when they fall due; returns when the
        next of them is due."""
        card = self.scorecard(config, now)
        daily = self._daily(config, waiting, failing, now)
        return min((at for at in (card, daily) if at is not None), default=None)

    def _daily(
        self,
        config: Config,
        waiting: list[WaitingTicket],
        failing: dict[str, datetime],
        now: datetime,
    ) -> datetime | None:
        esc = config.escalation
        if esc.digest_at is None or not sends_channels(config):
            return None
        tz = escalation.display_zone(config)
        last_day = self.queue.get_meta("last_digest_day")
        day, following = digest.digest_due(now, esc.digest_at, tz, last_day)
        if last_day is None:  # first run: the first digest is the next scheduled one
            first = (following - timedelta(days=1)).astimezone(tz).date()
            self.queue.set_meta("last_digest_day", first.isoformat())
            self.queue.set_meta("last_digest_at", now.isoformat())
        elif day is not None:
            since = parse_time(self.queue.get_meta("last_digest_at")) or now - timedelta(days=1)
            with i18n.speaking(config.language):  # the owner's, as escalations are
                title, body = digest.digest_text(
                    self.queue.ledger_entries(), waiting, failing, since, now, tz
                )
            self._enqueue(digest.digest_messages(day, title, body, esc), now)
            self.queue.set_meta("last_digest_day", day.isoformat())
            self.queue.set_meta("last_digest_at", now.isoformat())
            log.info("daily digest queued for %s", ", ".join(digest.digest_targets(esc)))
        return following

    def scorecard(self, config: Config, now: datetime) -> datetime | None:
        """Queue the weekly scorecard (agent.insight.scorecard) when it falls due."""
        esc = config.escalation
        if esc.scorecard_at is None or not sends_channels(config):
            return None
        from agent.insight import report, scorecard  # not loaded by an agent that sends none

        tz = escalation.display_zone(config)
        last = self.queue.get_meta("last_scorecard_day")
        day, following = scorecard.scorecard_due(now, *esc.scorecard_at, tz, last)
        if last is None:  # first run: the first scorecard is the next scheduled one
            first = (following - timedelta(days=7)).astimezone(tz).date()
            self.queue.set_meta("last_scorecard_day", first.isoformat())
        elif day is not None:
            days = self.queue.aggregates.days()
            card = report.scorecard(days, scorecard.week_before(day))
            messages = scorecard.scorecard_messages(day, card, days, esc, config.language)
            self._enqueue(messages, now)
            self.queue.set_meta("last_scorecard_day", day.isoformat())
            log.info("weekly scorecard queued for %s", ", ".join(digest.digest_targets(esc)))
        return following

    def deliver(self, config: Config, now: datetime, submit: Submit) -> bool:
        """Start the outbox's due sends through ``submit``. True when a message was given up
        or is in doubt: the status's notices change."""
        self.outbox.gave_up = False
        self.next_delivery = self.outbox.step(now, config.escalation.give_up_after, submit)
        return self.outbox.gave_up

    def _enqueue(self, messages: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        for key, message in messages:
            self.queue.enqueue(key, message, now)


def sends_channels(config: Config) -> bool:
    """Whether this agent's role is the one that sends channel escalations."""
    return config.role == config.escalation.sent_by


class Outbox:
    """Delivers the queue's outbox. Every method runs on the scheduler thread except the sends.

    At most one message per target is in flight, so a channel that hangs does not hold up the
    others; the rest of each target's messages wait for their turn.
    """

    def __init__(self, queue: LocalQueue, rng: random.Random) -> None:
        self.queue = queue
        self.rng = rng
        self.in_flight: dict[str, concurrent.futures.Future[DeliveryResult]] = {}
        self._started: dict[str, float] = {}  # time.monotonic() when each send in flight began
        self.gave_up = False  # a message was given up (or is in doubt) since this was cleared

    def resume(self, now: datetime) -> None:
        """At start: attempts whose outcome is unknown are not resent; the rest go at once."""
        for entry in self.queue.pending():
            if entry.sending_since:
                self.queue.update_outbox(
                    entry.key,
                    sending_since=None,
                    failed_at=now,
                    in_doubt=True,
                    last_error="Ticketbell stopped while sending it; not sent again, so that "
                    "it cannot arrive twice",
                )
                log.warning(
                    "the %s to %s may not have been delivered: Ticketbell stopped while "
                    "sending it; not sent again, so that it cannot arrive twice",
                    message_name(entry),
                    describe_target(entry.target),
                )
            elif entry.attempts:
                self.queue.update_outbox(entry.key, next_attempt=now)

    def step(self, now: datetime, give_up_after: timedelta, submit: Submit) -> datetime | None:
        """Give up on messages too old, start the due sends; return when to look again."""
        if not self.queue.writable:
            return None  # another Ticketbell owns this data folder and its outbox
        mono = time_module.monotonic()
        wakes = self._check_deadlines(now, mono)
        due = self._due(now, give_up_after, wakes)
        if not due:
            self.queue.commit()
            return min(wakes, default=None)
        for entry in due:
            self.queue.update_outbox(entry.key, attempts=entry.attempts + 1, sending_since=now)
        if not self.queue.commit():  # the attempt must be on disk before anything is sent
            for entry in due:
                self.queue.update_outbox(entry.key, attempts=entry.attempts, sending_since=None)
            return now + RETRY_BASE
        for entry in due:
            self._started[entry.key] = mono
            self.in_flight[entry.key] = submit(functools.partial(_deliver, entry))
            wakes.append(now + timedelta(seconds=SEND_DEADLINE))
        return min(wakes)

    def _check_deadlines(self, now: datetime, mono: float) -> list[datetime]:
        """Sends stuck past their deadline are in doubt; returns when the others' deadlines are."""
        wakes = []
        for key, started in list(self._started.items()):
            if mono - started >= SEND_DEADLINE:  # stuck: abandoned, in doubt, never resent
                self._doubt(key, f"no answer within {SEND_DEADLINE:g} s", now)
            else:
                wakes.append(now + timedelta(seconds=SEND_DEADLINE - (mono - started)))
        return wakes

    def _due(
        self, now: datetime, give_up_after: timedelta, wakes: list[datetime]
    ) -> list[OutboxEntry]:
        """The messages to send now (one per target at a time); gives up on those too old and
        adds to ``wakes`` when the others are due."""
        due: list[OutboxEntry] = []
        busy = {self._target_of(k) for k in self.in_flight}
        for entry in self.queue.pending():
            if entry.key in self.in_flight:
                continue
            created = entry.created_at
            if now - created >= give_up_after:
                self._give_up(entry, now - created, now)
                continue
            next_attempt = entry.next_attempt or now
            give_up = created + give_up_after
            if next_attempt > now or entry.target in busy:
                wakes.append(min(next_attempt, give_up) if next_attempt > now else give_up)
                continue
            busy.add(entry.target)
            due.append(entry)
        return due

    def _give_up(self, entry: OutboxEntry, age: timedelta, now: datetime) -> None:
        self.queue.update_outbox(entry.key, failed_at=now)
        self.gave_up = True
        log.error(
            "gave up on the %s to %s: undeliverable for %s (%s)",
            message_name(entry),
            describe_target(entry.target),
            human(age),
            entry.last_error or "never attempted",
        )

    def _doubt(self, key: str, why: str, now: datetime) -> None:
        """A send whose outcome is unknown (answered too late, or not at all): may have arrived,
        so it is never sent again; the status says so for a day."""
        self.gave_up = True
        self.in_flight.pop(key, None)
        self._started.pop(key, None)
        entry = self.queue.outbox_entry(key)
        if entry is None:
            return
        text = f"the channel did not answer in time ({why}); not sent again, so that it cannot "
        text += "arrive twice"
        self.queue.update_outbox(
            key, sending_since=None, failed_at=now, in_doubt=True, last_error=text
        )
        log.warning(
            "the %s to %s may not have been delivered: %s",
            message_name(entry),
            describe_target(entry.target),
            text,
        )

    def handle(self, result: DeliveryResult, now: datetime) -> None:
        """Record a send's outcome (on the scheduler thread)."""
        if result.key not in self.in_flight:
            return  # abandoned at its deadline and recorded "in doubt" then
        if result.in_doubt:
            self._doubt(result.key, result.error or "", now)
            return
        self.in_flight.pop(result.key, None)
        self._started.pop(result.key, None)
        entry = self.queue.outbox_entry(result.key)
        if entry is None:
            return
        target = describe_target(entry.target)
        if result.error is None:
            self.queue.update_outbox(result.key, sending_since=None, delivered_at=now)
            log.info("sent the %s to %s", message_name(entry), target)
            return
        attempts = entry.attempts or 1
        retry = now + retry_delay(attempts, self.rng)
        self.queue.update_outbox(
            result.key, sending_since=None, last_error=result.error, next_attempt=retry
        )
        log.warning(
            "could not deliver the %s to %s (attempt %d): %s; trying again at %s",
            message_name(entry),
            target,
            attempts,
            result.error,
            local_time(retry, None),
        )

    def drain(self, timeout: float) -> list[DeliveryResult]:
        """Wait for the sends in flight (when stopping) and return their results."""
        futures = list(self.in_flight.values())
        done, _ = concurrent.futures.wait(futures, timeout=timeout)
        return [f.result() for f in done if not f.cancelled() and f.exception() is None]

    def notices(self, now: datetime) -> list[str]:
        """What the tray and the log should say about deliveries that are not getting through."""
        out = []
        failing: dict[str, OutboxEntry] = {}
        for entry in self.queue.outbox_entries():
            target = describe_target(entry.target) if entry.target else ""
            failed = entry.failed_at
            if failed is not None and now - failed < NOTICE_FOR and not entry.delivered_at:
                said = (
                    _("the {message} to {target} may not have been delivered: {why}")
                    if entry.in_doubt
                    else _("the {message} to {target} undeliverable: {why}")
                )
                why = entry.last_error or _("never attempted")
                name = message_name(entry, shown=True)
                out.append(said.format(message=name, target=target, why=why))
            elif not failed and entry.open and entry.last_error:
                failing[target] = entry
        for target, entry in failing.items():
            said = _("cannot deliver escalations to {target} yet: {why}")
            out.append(said.format(target=target, why=entry.last_error))
        return out

    @staticmethod
    def _target_of(key: str) -> str:
        return OutboxKey.decode(key).target


def _deliver(entry: OutboxEntry) -> DeliveryResult:
    """One send on the send pool, its outcome as the scheduler records it."""
    html = (entry.html, entry.images) if entry.html else None
    said = send(entry.target, entry.title, entry.body, html, entry.kind)
    return DeliveryResult.of(entry.key, said)
