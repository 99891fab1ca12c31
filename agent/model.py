"""The values that flow through Ticketbell: tickets, snapshots, source health, alerts, status.

Every value is a frozen dataclass and every timestamp is timezone-aware UTC. A naive datetime is
rejected where it enters (``Ticket``, ``Snapshot``), so a connector that forgets a zone fails loudly
in its tests rather than shifting every due time by the machine's offset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.i18n import Text

PRIORITIES = ("low", "normal", "high", "urgent")
UTC = timezone.utc


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime, what: str = "timestamp") -> datetime:
    """Return ``value`` in UTC; refuse a naive datetime, which would silently use local time."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{what} is a naive datetime ({value.isoformat()}); give it a time zone")
    return value.astimezone(UTC)


def parse_time(text: str | None, what: str = "timestamp") -> datetime | None:
    """Parse an ISO 8601 string into aware UTC. Empty, null and epoch-0 sentinels become None.

    Accepts the forms helpdesks send: ``Z`` suffix, fractional seconds and ``+0000`` offsets.
    A string without an offset is refused: it is ambiguous and guessing shifts due times.
    """
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise ValueError(f"{what}: expected an ISO 8601 string, got {type(text).__name__}")
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    # "+0000" (no colon) is accepted by fromisoformat on 3.11+, not on 3.10.
    if len(raw) > 5 and raw[-5] in "+-" and raw[-4:].isdigit() and ":" not in raw[-5:]:
        raw = raw[:-2] + ":" + raw[-2:]
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not an ISO 8601 timestamp") from None
    if value.tzinfo is None:
        raise ValueError(f"{what}: {text!r} has no time zone offset")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. year 1 with a positive offset
        raise ValueError(f"{what}: {text!r} is out of range") from None
    if value.year <= 1970:
        return None
    return value


def _priority(value: str) -> str:
    value = (value or "").strip().lower()
    aliases = {"medium": "normal", "med": "normal", "critical": "urgent", "highest": "urgent"}
    value = aliases.get(value, value)
    return value if value in PRIORITIES else ""


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket that is waiting for the team's reply, as one source reported it.

    ``waiting_since`` is the oldest unanswered customer message; together with ``source`` and
    ``id`` it names one *waiting cycle*: when the team replies and the customer writes again, a
    new cycle starts and its alerts are owed afresh. ``due_at`` is the helpdesk's own deadline
    (its SLA) when it reports one; the policy computes one from the response windows otherwise.
    """

    source: str
    id: str
    subject: str
    created_at: datetime
    waiting_since: datetime
    requester: str = ""
    category: str = ""
    priority: str = ""
    status: str = ""
    due_at: datetime | None = None
    url: str = ""
    assignee: str = ""
    #: the requester's email address and organisation, where the helpdesk reports them ([[vip]])
    requester_email: str = ""
    organization: str = ""
    #: ``source`` and ``id`` as one string (the queue's key), computed once
    key: str = field(init=False, repr=False, compare=False)
    #: identifies this waiting cycle (a new customer message after a reply starts another):
    #: ``waiting_since`` in ISO 8601, computed once because every alert key repeats it
    cycle: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "id", str(self.id))
        set_(self, "subject", str(self.subject or "(no subject)"))
        set_(self, "created_at", as_utc(self.created_at, f"ticket {self.id} created_at"))
        set_(self, "waiting_since", as_utc(self.waiting_since, f"ticket {self.id} waiting_since"))
        if self.due_at is not None:
            set_(self, "due_at", as_utc(self.due_at, f"ticket {self.id} due_at"))
        set_(self, "priority", _priority(self.priority))
        set_(self, "key", ticket_key(self.source, self.id))
        set_(self, "cycle", self.waiting_since.isoformat())


def ticket_key(source: str, ticket_id: str) -> str:
    return f"{source}\x1f{ticket_id}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one successful fetch of a source saw: all its tickets waiting right now.

    ``complete`` is False when the source could not read every page (a pagination cap): tickets
    missing from an incomplete snapshot are then kept rather than taken as answered.
    ``throttle`` is a delay in seconds the source asks for before the next poll, when the
    helpdesk reported that its rate-limit quota is nearly used up.
    """

    source: str
    tickets: tuple[Ticket, ...]
    fetched_at: datetime
    complete: bool = True
    throttle: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fetched_at", as_utc(self.fetched_at, "snapshot fetched_at"))
        object.__setattr__(self, "tickets", tuple(self.tickets))


class Health(str, Enum):
    UNKNOWN = "unknown"  # not read yet since start
    OK = "ok"
    FAILING = "failing"  # the last poll failed; its tickets are the last known ones (stale)
    #: the helpdesk asked us to wait (a rate limit) until ``SourceHealth.next_poll``: not a
    #: failure; its tickets, read before, stay current until ``blind_after`` has passed
    SLOWED = "slowed"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    kind: str
    health: Health = Health.UNKNOWN
    #: why it is failing or slowed, for a person: in the language in use when it was written
    message: str = ""
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    failing_since: datetime | None = None
    failures: int = 0
    next_poll: datetime | None = None
    waiting: int = 0
    sign_in: bool = False  # failing because a person must sign in again (OAuth sources)
    #: ``message`` in English, for the log and JSON output ("": ``message`` is English)
    english: str = ""
    #: ``message`` as a Text when it is one, to be written again in another language (an
    #: escalation in the owner's); None: ``message`` is all there is
    text: Text | None = None

    @property
    def message_en(self) -> str:
        """The message as the log and JSON output write it: always English."""
        return self.english or self.message

    @property
    def stale(self) -> bool:
        """True when this source's tickets are not known to be current."""
        if self.health is Health.SLOWED:
            return self.last_success is None  # slowed before it was ever read: nothing known
        return self.health is not Health.OK


class DueState(str, Enum):
    FINE = "fine"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@dataclass(slots=True)
class WaitingTicket:
    """A waiting ticket as the agent publishes it: with its effective due time and state.

    Not frozen, unlike the other types here, though nothing changes one once built (changed
    copies are made with ``replace``): every evaluation builds one per queued ticket, and a
    frozen dataclass sets each of its 12 fields through ``object.__setattr__``, which made
    evaluating 10,000 tickets take twice as long (76 ms against 38).
    """

    ticket: Ticket
    due_at: datetime
    state: DueState
    first_seen: datetime
    stale: bool = False
    acknowledged: bool = False
    snoozed_until: datetime | None = None
    #: when it becomes "due soon" (None: not known; :func:`agent.policy.next_change` computes it)
    soon_at: datetime | None = None
    #: who said "I'm on it" through the team hub, and when (None: nobody, or only this person)
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    #: the forecast expects it to breach (at ``predicted_breach_at``): agent.insight.forecast
    at_risk: bool = False
    predicted_breach_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """An event for people: shown, sounded or sent. ``key`` makes it owed exactly once."""

    kind: str
    at: datetime
    key: str
    source: str = ""
    ticket: str = ""
    subject: str = ""
    category: str = ""
    url: str = ""
    message: str = ""
    level: int = 0
    tickets: tuple[WaitingTicket, ...] = ()
    #: a ``summary``'s numbers: ("waiting", n), ("new", n), ("overdue", n), ("due_soon", n)
    counts: tuple[tuple[str, int], ...] = ()
    #: why it is neither shown nor sounded now ("": it is): do-not-disturb, away, gathered
    #: (agent/quiet.py decides, so the tray and the headless notifier agree)
    hold: str = ""
    #: which sound it asks for ("": by its kind); a built-in sound's name or a .wav file
    sound: str = ""
    #: a source's alert: its message in English, for the log and the JSON output
    english: str = ""
    #: a source's alert: its message as a Text when it is one, to be written again in another
    #: language (an escalation and the digest, in the owner's)
    text: Text | None = None

    @classmethod
    def of_ticket(
        cls, kind: str, at: datetime, key: str, w: WaitingTicket, message: str = "", level: int = 0
    ) -> Alert:
        """An alert about one waiting ticket: its source, id, subject, category and link, and
        the ticket itself. ``key``: :func:`agent.storage.alert_key` of the ticket's cycle."""
        t = w.ticket
        return cls(
            kind=kind,
            at=at,
            key=key,
            source=t.source,
            ticket=t.id,
            subject=t.subject,
            category=t.category,
            url=t.url,
            message=message,
            level=level,
            tickets=(w,),
        )

    @classmethod
    def of_source(
        cls,
        kind: str,
        at: datetime,
        key: str,
        source: str,
        text: str,
        tickets: tuple[WaitingTicket, ...] = (),
        counts: tuple[tuple[str, int], ...] = (),
        english: str = "",
        said: Text | None = None,
    ) -> Alert:
        """An alert about a whole source (it cannot be read, it reads again, its new tickets
        summed up): ``text`` is both its subject and its message; ``english``, the text for
        the log and JSON when ``text`` is in the person's language; ``said``, the Text it was
        written from, if any."""
        return cls(
            kind,
            at,
            key,
            source=source,
            subject=text,
            message=text,
            tickets=tickets,
            counts=counts,
            english=english,
            text=said,
        )

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "event": self.kind,
            "source": self.source,
            "ticket": self.ticket,
            "subject": self.english or self.subject,
            "at": self.at.isoformat(),
        }
        if self.kind == "summary":  # its counts, and which tickets it announced
            data.update(self.counts)
            data["tickets"] = [
                {"ticket": w.ticket.id, "subject": w.ticket.subject} for w in self.tickets
            ]
        if self.hold:
            data["held"] = self.hold
        return data


@dataclass(frozen=True, slots=True)
class Status:
    """What the agent knows right now, published to every subscriber after each change."""

    generated_at: datetime
    tickets: tuple[WaitingTicket, ...] = ()
    sources: tuple[SourceHealth, ...] = ()
    role: str = "assistant"
    notices: tuple[str, ...] = field(default=())
    #: the person muted the sound until then (the agent keeps it across restarts)
    muted_until: datetime | None = None
    #: keys of the tickets shown first (the owner's escalated ones), newest first
    pinned: tuple[str, ...] = ()
    #: the team's last days from the daily aggregates, oldest first: (day, answered, answered
    #: within their window, breaches) — the dashboard's history (agent.insight)
    history: tuple[tuple[date, int, int, int], ...] = ()
    #: who is watching through the team hub: (person, the categories they follow; () for all)
    watching: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: why pop-ups and sounds are held now: "do not disturb", "away" or "" (agent.quiet)
    held: str = ""

    @property
    def waiting(self) -> int:
        return len(self.tickets)

    @property
    def overdue(self) -> int:
        return sum(1 for t in self.tickets if t.state is DueState.OVERDUE)

    @property
    def due_soon(self) -> int:
        return sum(1 for t in self.tickets if t.state is DueState.DUE_SOON)

    @property
    def blind(self) -> bool:
        """True when any source is not read successfully: the count may be wrong."""
        return any(s.stale for s in self.sources)

    @property
    def failing(self) -> tuple[SourceHealth, ...]:
        return tuple(s for s in self.sources if s.health is Health.FAILING)

    def by_source(self) -> dict[str, int]:
        counts = {s.name: 0 for s in self.sources}
        for t in self.tickets:
            counts[t.ticket.source] = counts.get(t.ticket.source, 0) + 1
        return counts


# C0/C1 controls (terminal escapes, NUL, line breaks), zero-width and bidirectional
# override/isolate characters: in text from a helpdesk they could hide or reorder what a menu,
# notification, terminal or log line shows ("RTL override" spoofing). Right-to-left letters stay.
INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def one_line(text: str, limit: int = 60) -> str:
    """Text from a stranger as one line of plain text, at most ``limit`` characters ("…")."""
    text = " ".join(INVISIBLE.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


#: alerts that are one notification each, their subject its title (agent/quiet.py makes them)
_SUMMARIES = ("while_away", "gathered")


def _burst_summary(items: list[Alert], words: Callable[[int], str]) -> tuple[str, str]:
    """ "3 new tickets: Billing ×2, Sales ×1" and the first subjects; ``words(n)`` is the title's
    form for n tickets, with ``{count}`` and ``{categories}``."""
    n = len(items)
    cats: dict[str, int] = {}
    for a in items:
        cat = one_line(a.category or a.source, 30)
        cats[cat] = cats.get(cat, 0) + 1
    parts = ", ".join(f"{c} ×{k}" if n > 1 else c for c, k in cats.items())
    title = words(n).format(count=n, categories=parts)
    return one_line(title, 90), subject_lines([a.subject for a in items])


def subject_lines(subjects: list[str], shown: int = 3) -> str:
    """A notification's body: the first ``shown`` subjects, one a line, then "…and N more".

    Tickets with the same subject share a line ("Bulk pricing for 50 seats ×2"): two customers
    asking the same made the notification say the same line twice, and "…and N more" counts the
    tickets not on a line.
    """
    from agent.i18n import ngettext

    counts: dict[str, int] = {}  # in the order first seen; a first sync has thousands
    for subject in subjects:
        counts[subject] = counts.get(subject, 0) + 1
    first = list(counts.items())[:shown]
    lines = [one_line(s, 60) + (f" ×{k}" if k > 1 else "") for s, k in first]
    rest = len(subjects) - sum(k for _s, k in first)
    if rest > 0:
        lines.append(ngettext("…and {count} more", "…and {count} more", rest).format(count=rest))
    return "\n".join(lines)


def notification_text(alerts: tuple[Alert, ...] | list[Alert]) -> tuple[str, str] | None:
    """Title and body of one desktop notification for a burst of alerts (None: nothing to say):
    a first sync's ``summary`` (with the overdue tickets that came with it), else
    :func:`burst_text`. Held alerts (agent/quiet.py) are left out: the badge counts them."""
    alerts = [a for a in alerts if not a.hold]
    summaries = [a for a in alerts if a.kind == "summary"]
    if summaries:
        return summary_text(summaries, [a for a in alerts if a.kind == "overdue"])
    return burst_text(alerts)


def burst_text(alerts: tuple[Alert, ...] | list[Alert]) -> tuple[str, str] | None:
    """Title and body of one desktop notification for a burst of alerts (None: nothing to say).

    One notification per burst: "3 new tickets: Billing ×2, Sales ×1" with the first subjects.
    Overdue outranks due soon, which outranks new; reminders and source changes speak for
    themselves. Subjects are plain text, cut to a readable length.
    """
    from agent.i18n import _, ngettext

    by_kind: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_kind.setdefault(alert.kind, []).append(alert)
    escalated = [a for a in by_kind.get("escalated", ()) if a.ticket]
    blind = [a for a in by_kind.get("escalated", ()) if not a.ticket]  # a source unreadable
    if escalated or "overdue" in by_kind:
        return _burst_summary(
            by_kind.get("overdue") or escalated,
            lambda n: ngettext(
                "{count} overdue ticket: {categories}", "{count} overdue tickets: {categories}", n
            ),
        )
    # a source unreadable, or one summary that says it all ("While you were away: 3 new, …")
    unknown = _("Its waiting tickets are unknown until it reads again")
    speaks = [(one_line(a.message, 90), unknown) for a in blind]
    speaks += [(one_line(a.subject, 90), a.message) for k in _SUMMARIES for a in by_kind.get(k, ())]
    if speaks:
        return speaks[0]
    if "at_risk" in by_kind:
        title, body = _burst_summary(
            by_kind["at_risk"],
            lambda n: ngettext(
                "{count} ticket at risk: {categories}", "{count} tickets at risk: {categories}", n
            ),
        )
        cause = by_kind["at_risk"][0].message  # the forecast's why
        return title, f"{one_line(cause, 200)}\n{body}" if cause else body
    if "due_soon" in by_kind:
        return _burst_summary(
            by_kind["due_soon"],
            lambda n: ngettext(
                "{count} ticket due soon: {categories}", "{count} tickets due soon: {categories}", n
            ),
        )
    if "new" in by_kind:
        return _burst_summary(
            by_kind["new"],
            lambda n: ngettext(
                "{count} new ticket: {categories}", "{count} new tickets: {categories}", n
            ),
        )
    if "source_down" in by_kind:
        a = by_kind["source_down"][0]
        title = _("Ticketbell cannot read {source}").format(source=a.source)
        return one_line(title, 90), one_line(a.message, 200)
    if "reminder" in by_kind:
        return _("Tickets are still waiting"), _("Open Ticketbell to see them")
    return None


def watching_text(watching: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The owner's line of who is watching (the team hub): "Watching: Anna (Billing), Ben (all)"."""
    from agent.i18n import _

    every = _("all")
    people = ", ".join(
        f"{one_line(p, 24)} ({', '.join(one_line(x, 24) for x in c) or every})" for p, c in watching
    )
    return _("Watching: {people}").format(people=people)


def claimed_question(w: WaitingTicket) -> str:
    """Asked before opening a ticket a team member said "I'm on it" for."""
    from agent.i18n import _

    return _("{person} is on it — open anyway?").format(person=one_line(w.claimed_by or "", 24))


def summary_line(alert: Alert) -> str:
    """A ``summary``'s counts in the person's language ("Zendesk: 312 waiting, 4 overdue"); its
    ``subject`` keeps the English words for the log and the JSON events."""
    from agent.i18n import ngettext

    counts = dict(alert.counts)
    waiting, new = counts.get("waiting", 0), counts.get("new", 0)
    overdue, due_soon = counts.get("overdue", 0), counts.get("due_soon", 0)
    parts = (
        [ngettext("{count} new", "{count} new", new).format(count=new)] if 0 < new < waiting else []
    )
    parts.append(ngettext("{count} waiting", "{count} waiting", waiting).format(count=waiting))
    if overdue:
        parts.append(ngettext("{count} overdue", "{count} overdue", overdue).format(count=overdue))
    if due_soon:
        soon = ngettext("{count} due soon", "{count} due soon", due_soon)
        parts.append(soon.format(count=due_soon))
    return f"{alert.source}: {', '.join(parts)}"


def summary_text(summaries: list[Alert], overdue: list[Alert]) -> tuple[str, str]:
    """One notification for what a first sync (or a resume) found: each source's counts as the
    title ("Zendesk: 312 waiting, 4 overdue"), the first overdue subjects (else the first
    waiting ones) as the body."""
    title = one_line("; ".join(summary_line(a) for a in summaries), 90)
    if overdue:
        return title, subject_lines([a.subject for a in overdue])
    return title, subject_lines([w.ticket.subject for a in summaries for w in a.tickets])
