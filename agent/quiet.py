"""Alerts that respect the person: do-not-disturb and away, a noise budget, VIP customers and
the sound each alert asks for.

The rules are pure functions with ``now`` passed in; :class:`Quiet` keeps their state on the
scheduler thread. The agent runs every alert it publishes through :meth:`Quiet.decide`, which
sets ``Alert.hold`` (why it neither pops up nor sounds now) and ``Alert.sound``, so the tray and
the headless notifier show and sound the same things. The badge counts every ticket whatever is
held, and escalations to channels (email, chat) are sent as before.

- Do-not-disturb or away (``[quiet] away_after``, the screen locked): nothing pops up or sounds,
  except what ``break_through`` lists (overdue tickets and escalations, by default).
- Back: one "While you were away: 3 new, 1 overdue, 2 answered" (``while_away``), never the
  flood that was held.
- More than ``max_interruptions`` notifications in the last hour: new low and normal priority
  tickets are gathered into one ``gathered`` notification every ``gather_every``; overdue,
  urgent and VIP tickets still come at once.
- ``[[vip]]`` customers (by email, domain or organisation): their own window and sound, and
  straight to the owner's first escalation level.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agent.config.shapes import Config, QuietRules, VipRule
from agent.i18n import _, in_english, ngettext
from agent.model import Alert, Ticket, WaitingTicket, subject_lines
from agent.presence import Presence, PresenceWatcher, Probe, as_text
from agent.storage import alert_key

log = logging.getLogger(__name__)

WHILE_AWAY = "while_away"  # the summary when the person is back
GATHERED = "gathered"  # the arrivals gathered beyond the noise budget
#: the kinds that pop up or sound; "answered" and "source_up" do neither
INTERRUPTING = (
    "new",
    "due_soon",
    "overdue",
    "escalated",
    "reminder",
    "source_down",
    "summary",  # a source's first sync in one notification
    WHILE_AWAY,
    GATHERED,
)
GATHERABLE_PRIORITIES = ("", "low", "normal")
BUDGET_SPAN = timedelta(hours=1)
#: facts about the desktop older than this are not believed (the probe stopped answering)
PRESENCE_STALE = timedelta(minutes=2)
HELD_FOR_BUDGET = "gathered"
FIRST_LOOK_WAIT = 2.0  # seconds the agent's start waits for the first look at the desktop


# --------------------------------------------------------------------------- VIP customers


def requester_address(ticket: Ticket) -> str:
    """The requester's email address: the helpdesk's, or the requester when it is one."""
    email = ticket.requester_email or (ticket.requester if "@" in ticket.requester else "")
    return email.strip().lower()


def vip_rule(ticket: Ticket, vips: Iterable[VipRule]) -> VipRule | None:
    """The first [[vip]] rule that matches the ticket's requester, or None.

    A rule's email matches the address exactly; its domain matches the address's domain and its
    subdomains (``acme.com``: ``eu.acme.com``); its organisation matches the helpdesk's
    organisation name, ignoring case.
    """
    email = requester_address(ticket)
    domain = email.rpartition("@")[2]
    organization = ticket.organization.strip().lower()
    for rule in vips:
        if rule.email and rule.email == email:
            return rule
        if rule.domain and domain and (domain == rule.domain or domain.endswith("." + rule.domain)):
            return rule
        if rule.organization and rule.organization == organization:
            return rule
    return None


def vip_window(ticket: Ticket, vips: tuple[VipRule, ...]) -> timedelta | None:
    """A VIP's own response window, when their rule gives one."""
    rule = vip_rule(ticket, vips) if vips else None
    return rule.window if rule is not None else None


def vip_escalations(
    waiting: Iterable[WaitingTicket], config: Config, now: datetime, done: Collection[str]
) -> list[Alert]:
    """A VIP's ticket goes to the first escalation level as soon as it waits (once per waiting
    cycle: the key is level 0's, so being overdue later does not tell that level again)."""
    if not config.vips or not config.escalation.levels:
        return []
    owed = []
    for w in waiting:
        t = w.ticket
        rule = vip_rule(t, config.vips)
        if rule is None or not rule.escalate or w.snoozed_until is not None:
            continue
        key = alert_key(t.source, t.id, t.cycle, "escalated", "0")
        if key not in done:
            owed.append(Alert.of_ticket("escalated", now, key, w, _("a VIP customer is waiting")))
    return owed


# --------------------------------------------------------------------------- sounds


def _ticket(alert: Alert) -> Ticket | None:
    return alert.tickets[0].ticket if alert.tickets else None


def sound_for(alert: Alert, config: Config) -> str:
    """The sound an alert asks for: its VIP rule's, its priority's, its helpdesk's, or ""
    (the sound of its kind, as the [alerts] sound says)."""
    ticket = _ticket(alert)
    if ticket is not None:
        rule = vip_rule(ticket, config.vips) if config.vips else None
        if rule is not None:
            return rule.sound
        by_priority = config.alerts.priority_sounds.get(ticket.priority, "")
        if by_priority:
            return by_priority
    for source in config.sources:
        if source.name == alert.source:
            return source.sound
    return ""


# --------------------------------------------------------------------------- the rules


def hold_reason(facts: Presence | None, rules: QuietRules, now: datetime) -> str:
    """Why nothing should pop up or sound now: "do not disturb", "away" or "" (ring)."""
    if facts is None or not rules.follow_desktop or now - facts.at > PRESENCE_STALE:
        return ""
    if facts.dnd:
        return "do not disturb"
    return "away" if facts.away(rules.away_after) else ""


def is_vip(alert: Alert, config: Config) -> bool:
    ticket = _ticket(alert)
    return bool(config.vips) and ticket is not None and vip_rule(ticket, config.vips) is not None


def breaks_through(alert: Alert, config: Config) -> bool:
    """Whether the alert rings even in do-not-disturb or away (``[quiet] break_through``)."""
    listed = config.quiet.break_through
    if alert.kind in listed or alert.kind == WHILE_AWAY:
        return True
    ticket = _ticket(alert)
    if "urgent" in listed and ticket is not None and ticket.priority == "urgent":
        return True
    return "vip" in listed and is_vip(alert, config)


def gatherable(alert: Alert, config: Config) -> bool:
    """A new ticket of low or normal priority, not a VIP's: it may wait for the gathered
    notification when the noise budget is spent."""
    ticket = _ticket(alert)
    if alert.kind != "new" or ticket is None:
        return False
    return ticket.priority in GATHERABLE_PRIORITIES and not is_vip(alert, config)


@dataclass(frozen=True)
class Absence:
    """A time of do-not-disturb or away, and what happened meanwhile."""

    since: datetime
    why: str
    new: int = 0
    overdue: int = 0
    answered: int = 0


@dataclass(frozen=True)
class QuietState:
    """What the rules remember: the notifications shown in the last hour, the absence under
    way, the arrivals gathered and since when."""

    shown: tuple[datetime, ...] = ()
    absence: Absence | None = None
    gathered: tuple[Alert, ...] = ()
    gathered_since: datetime | None = None


def over_budget(state: QuietState, rules: QuietRules, now: datetime) -> bool:
    if not rules.max_interruptions:
        return False
    recent = sum(1 for at in state.shown if now - at < BUDGET_SPAN)
    return recent >= rules.max_interruptions


def decide(
    alerts: Iterable[Alert],
    facts: Presence | None,
    state: QuietState,
    config: Config,
    now: datetime,
) -> tuple[list[Alert], QuietState]:
    """Each alert with its ``hold`` and ``sound`` decided, plus what falls due now (the summary
    when the person is back, the gathered arrivals); and the rules' new state."""
    why = hold_reason(facts, config.quiet, now)
    out, state = _absence(why, state, now)
    alerts = list(alerts)
    state = _count(state, alerts)
    spent = over_budget(state, config.quiet, now)
    gathered: list[Alert] = []
    for alert in alerts:  # a first sync brings thousands: replace() only what changes
        sound = "" if alert.sound else sound_for(alert, config)
        hold = _hold(alert, why, spent, config)
        if sound or hold != alert.hold:
            alert = replace(alert, sound=sound or alert.sound, hold=hold)
        if hold == HELD_FOR_BUDGET:
            gathered.append(alert)
        out.append(alert)
    if gathered:
        since = state.gathered_since or now
        state = replace(state, gathered=(*state.gathered, *gathered), gathered_since=since)
    if not why:
        flushed, state = _flush(state, config.quiet, now)
        out += flushed
    if any(a.kind in INTERRUPTING and not a.hold for a in out):
        recent = tuple(at for at in state.shown if now - at < BUDGET_SPAN)
        state = replace(state, shown=(*recent, now))
    return out, state


def _hold(alert: Alert, why: str, spent: bool, config: Config) -> str:
    """Why this alert should not pop up or sound now ("" when it should)."""
    if alert.kind not in INTERRUPTING:
        return alert.hold
    if why and not breaks_through(alert, config):
        return why
    if spent and gatherable(alert, config):
        return HELD_FOR_BUDGET
    return alert.hold


def _absence(why: str, state: QuietState, now: datetime) -> tuple[list[Alert], QuietState]:
    """Start an absence, or end it with its summary (when anything happened meanwhile)."""
    if why and state.absence is None:
        return [], replace(state, absence=Absence(now, why))
    if why or state.absence is None:
        return [], state
    summary = while_away(state.absence, now)
    return ([summary] if summary else []), replace(state, absence=None)


def _count(state: QuietState, alerts: list[Alert]) -> QuietState:
    """What happened during the absence under way: new, overdue and answered tickets."""
    absence = state.absence
    if absence is None:
        return state
    kinds = Counter(a.kind for a in alerts)
    # a first sync's summary counts its new tickets in one alert (agent/engine/pipeline.py)
    kinds["new"] += sum(dict(a.counts).get("new", 0) for a in alerts if a.kind == "summary")
    absence = replace(
        absence,
        new=absence.new + kinds["new"],
        overdue=absence.overdue + kinds["overdue"],
        answered=absence.answered + kinds["answered"],
    )
    return replace(state, absence=absence)


def while_away(absence: Absence, now: datetime) -> Alert | None:
    """ "While you were away: 3 new, 1 overdue, 2 answered" (None: nothing happened), in the
    person's language; the log and the JSON event get it in English."""
    if not (absence.new or absence.overdue or absence.answered):
        return None
    with in_english():
        english = _while_away_text(absence)
    return Alert(
        kind=WHILE_AWAY,
        at=now,
        key=alert_key("*", "*", absence.since.isoformat(), WHILE_AWAY),
        subject=_while_away_text(absence),
        message=_("Open Ticketbell to see them"),
        english=english,
    )


def _while_away_text(absence: Absence) -> str:
    counts = (
        (absence.new, ngettext("{count} new", "{count} new", absence.new)),
        (absence.overdue, ngettext("{count} overdue", "{count} overdue", absence.overdue)),
        (absence.answered, ngettext("{count} answered", "{count} answered", absence.answered)),
    )
    said = ", ".join(words.format(count=n) for n, words in counts if n)
    if absence.why == "away":
        return _("While you were away: {what}").format(what=said)
    return _("While do-not-disturb was on: {what}").format(what=said)


def _flush(state: QuietState, rules: QuietRules, now: datetime) -> tuple[list[Alert], QuietState]:
    """The gathered arrivals as one notification, once ``gather_every`` has passed."""
    since = state.gathered_since
    if not state.gathered or since is None or now - since < rules.gather_every:
        return [], state
    items = state.gathered
    n = len(items)
    with in_english():
        english = _gathered_title(n)
    gathered = Alert(
        kind=GATHERED,
        at=now,
        key=alert_key("*", "*", since.isoformat(), GATHERED),
        subject=_gathered_title(n),
        message=subject_lines([a.subject for a in items]),
        tickets=tuple(w for a in items for w in a.tickets),
        english=english,
    )
    return [gathered], replace(state, gathered=(), gathered_since=None)


def _gathered_title(n: int) -> str:
    title = ngettext(
        "{count} new ticket (gathered: many notifications this hour)",
        "{count} new tickets (gathered: many notifications this hour)",
        n,
    )
    return title.format(count=n)


class Quiet:
    """The rules' state in the agent, on the scheduler thread. ``presence`` gives the latest
    facts about the desktop (None: none known, e.g. ``ticketbell check``)."""

    def __init__(self, presence: Callable[[], Presence | None] = lambda: None) -> None:
        self.presence = presence
        self.state = QuietState()
        #: told of each change of the desktop's facts, on the presence thread (the team hub)
        self.listeners: list[Callable[[Presence], None]] = []

    def decide(self, alerts: Iterable[Alert], config: Config, now: datetime) -> list[Alert]:
        out, self.state = decide(alerts, self.presence(), self.state, config, now)
        return out

    @property
    def holding(self) -> str:
        """Why pop-ups and sounds are held now: "do not disturb", "away" or "" (they are not)."""
        return self.state.absence.why if self.state.absence is not None else ""


def follow_desktop(
    quiet: Quiet,
    check_now: Callable[[], None],
    probe: Probe | None = None,
    *,
    first_look: Callable[[], None] | None = None,
) -> PresenceWatcher:
    """Start looking at the desktop (every 15 s, on the ``ticketbell-presence`` thread) for
    ``quiet``'s rules: `run --headless` and the tray call this; the caller stops it.

    A change (do-not-disturb off, back at the desk) calls ``check_now`` (the agent's): the
    helpdesks are read at once and the summary comes with what is current, not up to a poll
    interval later.

    Returns once the first look is done (or ``FIRST_LOOK_WAIT`` has passed), so the caller
    starts the agent on it; with ``first_look``, returns at once and calls ``first_look``
    then, on a thread of its own (the tray's event loop runs meanwhile)."""

    def changed(facts: Presence) -> None:
        log.info("presence: %s", as_text(facts))
        check_now()
        for listener in quiet.listeners:
            listener(facts)

    watcher = PresenceWatcher(probe, on_change=changed)
    quiet.presence = lambda: watcher.latest
    watcher.start()
    # Start the agent on what the desktop says: its first poll must not ring through a
    # do-not-disturb the first look would have seen (a look takes milliseconds; a desktop
    # service that hangs delays the start by FIRST_LOOK_WAIT at most).
    if first_look is None:
        watcher.looked.wait(FIRST_LOOK_WAIT)
        return watcher
    watcher.when_looked(first_look, FIRST_LOOK_WAIT)
    return watcher
