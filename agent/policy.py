"""Response windows, business hours, due states and the alerts owed: pure functions.

Nothing here reads a clock, a file or the network: ``now`` and everything else is passed in, so
every rule is tested with plain values. The engine calls these after each snapshot and whenever
:func:`next_change` says a ticket's state is about to change.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from agent.config import BusinessHours, Config, Escalation, SourceConfig, Windows
from agent.model import INVISIBLE, UTC, Alert, DueState, Ticket, WaitingTicket
from agent.queue import QueuedTicket
from agent.quiet import vip_window
from agent.storage import alert_key, new_alert_key

MAX_DAYS_SCANNED = 3700  # ten years of calendar: a window longer than that is a config error
_ZERO = timedelta(0)


# --------------------------------------------------------------------------- windows


def window_for(ticket: Ticket, windows: Windows) -> timedelta:
    """The response window of ``ticket``: the most specific matching rule, else the default.

    A rule matches when every field it names (source, category, priority) equals the ticket's
    (case-insensitively). More named fields win; among equals, the first rule listed wins.
    """
    best: tuple[int, int, timedelta] | None = None
    for index, rule in enumerate(windows.rules):
        if rule.source is not None and rule.source.casefold() != ticket.source.casefold():
            continue
        if rule.category is not None and rule.category.casefold() != ticket.category.casefold():
            continue
        if rule.priority is not None and rule.priority != ticket.priority:
            continue
        rank = (rule.specificity, -index)
        if best is None or rank > best[:2]:
            best = (rank[0], rank[1], rule.window)
    return best[2] if best else windows.default


# --------------------------------------------------------------------------- business hours


@lru_cache(maxsize=16)
def _holiday_calendar(code: str) -> object | None:
    if not code:
        return None
    import holidays

    country, _, subdiv = code.partition("-")
    return holidays.country_holidays(country, subdiv=subdiv or None)


def is_business_day(day: date, hours: BusinessHours) -> bool:
    if day.weekday() not in hours.days:
        return False
    calendar = _holiday_calendar(hours.holidays)
    return calendar is None or day not in calendar  # type: ignore[operator]


def _open_close(day: date, hours: BusinessHours) -> tuple[datetime, datetime]:
    tz = ZoneInfo(hours.timezone)
    opens = datetime.combine(day, hours.start, tz).astimezone(UTC)
    closes = datetime.combine(day, hours.end, tz).astimezone(UTC)
    return opens, closes


def add_business_time(
    start: datetime, duration: timedelta, hours: BusinessHours | None
) -> datetime:
    """``start`` plus ``duration`` counted only in business hours (plain addition without them).

    A ticket that arrives on Friday evening with a 2 h window is due on Monday at 11:00; a zero
    duration outside business hours lands on the next opening time.
    """
    if hours is None:
        return start + duration
    remaining = duration
    day = start.astimezone(ZoneInfo(hours.timezone)).date()
    for _ in range(MAX_DAYS_SCANNED):
        if is_business_day(day, hours):
            opens, closes = _open_close(day, hours)
            begin = max(opens, start)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("business hours never open within ten years; check days and holidays")


# --------------------------------------------------------------------------- due states


@dataclass(frozen=True, slots=True)
class Deadline:
    due_at: datetime
    soon_at: datetime
    window: timedelta


def deadline(ticket: Ticket, config: Config) -> Deadline:
    """When ``ticket`` is due, and when it becomes "due soon".

    The helpdesk's own deadline wins when it reports one and ``use_helpdesk_due`` is on.
    "Due soon" starts when ``alerts.due_soon`` (0.8 by default) of the window has passed,
    counted in business time when business hours are configured.
    """
    window = vip_window(ticket, config.vips) or window_for(ticket, config.windows)
    fraction = config.alerts.due_soon
    if ticket.due_at is not None and config.windows.use_helpdesk_due:
        span = max(ticket.due_at - ticket.waiting_since, timedelta(0))
        return Deadline(ticket.due_at, ticket.waiting_since + span * fraction, span)
    hours = config.business_hours
    if hours is None:
        return Deadline(
            ticket.waiting_since + window, ticket.waiting_since + window * fraction, window
        )
    due, soon = _business_deadline(ticket.waiting_since, window, fraction, hours)
    return Deadline(due, soon, window)


@lru_cache(maxsize=65536)
def _business_deadline(
    start: datetime, window: timedelta, fraction: float, hours: BusinessHours | None
) -> tuple[datetime, datetime]:
    """Due and due-soon times of a window counted from ``start`` (remembered: with business
    hours each costs a walk through the calendar, and every evaluation asks again)."""
    return add_business_time(start, window, hours), add_business_time(
        start, window * fraction, hours
    )


def evaluate(
    queued: Iterable[QueuedTicket],
    config: Config,
    now: datetime,
    stale_sources: Collection[str] = (),
) -> list[WaitingTicket]:
    """Every queued ticket with its effective due time and state, soonest due first."""
    out: list[tuple[datetime, datetime, str, str, int, WaitingTicket]] = []
    append = out.append
    windows = config.windows
    helpdesk_due = windows.use_helpdesk_due
    fraction = config.alerts.due_soon
    hours = config.business_hours
    vips = config.vips
    fine, due_soon, overdue = DueState.FINE, DueState.DUE_SOON, DueState.OVERDUE
    # the window (and its due-soon part) of each (source, category, priority) seen
    spans: dict[tuple[str, str, str, timedelta | None], tuple[timedelta, timedelta]] = {}
    for q in queued:
        t = q.ticket
        since = t.waiting_since
        if t.due_at is not None and helpdesk_due:  # as deadline() says, inline
            due = t.due_at
            soon = since + max(due - since, _ZERO) * fraction
        else:
            vip = vip_window(t, vips) if vips else None  # [[vip]]: their own
            rule = (t.source, t.category, t.priority, vip)
            span = spans.get(rule)
            if span is None:
                window = vip or window_for(t, windows)
                span = spans[rule] = (window, window * fraction)
            if hours is None:  # the same as deadline(), without its per-ticket overhead
                due, soon = since + span[0], since + span[1]
            else:
                due, soon = _business_deadline(since, span[0], fraction, hours)
        snoozed = q.snoozed_until
        if snoozed is not None and not snoozed > now:
            snoozed = None
        state = overdue if now >= due else due_soon if now >= soon else fine
        stale = t.source in stale_sources if stale_sources else False
        w = WaitingTicket(t, due, state, q.first_seen, stale, q.acknowledged, snoozed, soon)
        # sorted by these; the position keeps two equal tickets from comparing ``w``
        append((due, since, t.source, t.id, len(out), w))
    out.sort()
    return [item[-1] for item in out]


# --------------------------------------------------------------------------- escalation levels


def escalation_level(overdue_for: timedelta, escalation: Escalation) -> tuple[int, int] | None:
    """Which escalation step is owed for a ticket overdue by ``overdue_for``.

    Returns ``(level, repeat)``: ``level`` indexes ``escalation.levels``; ``repeat`` counts the
    re-sends of the last level every ``repeat_every``. None before the first level is reached.
    """
    levels = escalation.levels
    reached = [
        i for i, lvl in enumerate(levels) if overdue_for >= lvl.after and lvl.when == "overdue"
    ]
    if not reached:
        return None
    level = reached[-1]
    repeat = 0
    if level == len(levels) - 1 and escalation.repeat_every:
        repeat = int((overdue_for - levels[level].after) / escalation.repeat_every)
    return level, repeat


# --------------------------------------------------------------------------- alerts owed


def _alert(
    kind: str,
    w: WaitingTicket,
    now: datetime,
    level: int | None = None,
    repeat: int = 0,
    message: str = "",
) -> Alert:
    t = w.ticket
    step = None if level is None else f"{level}" if not repeat else f"{level}r{repeat}"
    key = alert_key(t.source, t.id, t.cycle, kind, step)
    return Alert.of_ticket(kind, now, key, w, message, level or 0)


def alerts_owed(
    waiting: Iterable[WaitingTicket],
    config: Config,
    now: datetime,
    done: Collection[str],
    last_reminder_at: datetime | None = None,
    summarise: Collection[str] = (),
) -> list[Alert]:
    """The alerts owed now that are not in the ledger (``done``) yet.

    Per ticket and waiting cycle: ``new`` once; ``due_soon`` once while due soon; ``overdue``
    once when overdue (a ticket that is already overdue when first seen owes no ``due_soon``:
    no burst of stale warnings after a laptop wakes up); ``escalated`` once per level and repeat.
    A snoozed ticket owes nothing until its snooze ends; an acknowledged one owes no repeats.
    Globally: one ``reminder`` when ``remind_every`` has passed since the last reminder (or
    new-ticket alert) while tickets wait that nobody acknowledged or snoozed.

    For the sources in ``summarise`` (a first sync, or the first read after a resume), two or
    more new tickets owe one ``summary`` (first in the list) instead of a ``new`` alert each;
    their due-soon, overdue and escalation alerts still come one by one.
    """
    owed: list[Alert] = []
    gathered = {source: Gathered(source) for source in summarise}
    attention = False
    fine = DueState.FINE
    for w in waiting:
        t = w.ticket
        into = gathered.get(t.source) if gathered else None
        if into is not None:
            into.count(w)
        key = new_alert_key(t)
        if key not in done:
            if into is not None:
                into.new.append(w)
            else:
                owed.append(Alert.of_ticket("new", now, key, w))
        if w.snoozed_until is not None:
            continue
        attention = attention or not w.acknowledged
        if w.state is not fine:
            owed.extend(_due_alerts(w, config, now, done))
    summaries = [g.alert(now) for g in gathered.values() if g.new]
    every = config.alerts.remind_every
    reminder_due = last_reminder_at is not None and every and now - last_reminder_at >= every
    if reminder_due and attention and not summaries and not any(a.kind == "new" for a in owed):
        owed.append(
            Alert(
                kind="reminder",
                at=now,
                key=alert_key("*", "*", now.isoformat(), "reminder"),
                message="tickets are still waiting",
            )
        )
    return summaries + owed


@dataclass
class Gathered:
    """A summarised source's new tickets and its counts, gathered into one alert."""

    source: str
    new: list[WaitingTicket] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"waiting": 0, "new": 0, "overdue": 0, "due_soon": 0}
    )

    def count(self, w: WaitingTicket) -> None:
        self.counts["waiting"] += 1
        if w.state is not DueState.FINE:
            self.counts[w.state.value] += 1

    def alert(self, now: datetime) -> Alert:
        """One ``summary``: "Zendesk: 312 waiting, 4 overdue" (after a resume, where some
        tickets were known before: "Zendesk: 3 new, 312 waiting, …"). A single new ticket
        gets its own ``new`` alert instead: a summary of one says less than the ticket."""
        if len(self.new) == 1:
            w = self.new[0]
            return Alert.of_ticket("new", now, new_alert_key(w.ticket), w)
        counts = self.counts
        counts["new"] = len(self.new)
        parts = [f"{counts['new']} new"] if counts["new"] < counts["waiting"] else []
        parts.append(f"{counts['waiting']} waiting")
        parts += [f"{counts['overdue']} overdue"] if counts["overdue"] else []
        parts += [f"{counts['due_soon']} due soon"] if counts["due_soon"] else []
        text = f"{self.source}: {', '.join(parts)}"
        key = alert_key(self.source, "*", now.isoformat(), "summary")
        return Alert.of_source(
            "summary", now, key, self.source, text, tuple(self.new), tuple(counts.items())
        )


def _due_alerts(
    w: WaitingTicket, config: Config, now: datetime, done: Collection[str]
) -> list[Alert]:
    """What a ticket's due state owes and the ledger (``done``) does not hold yet: ``due_soon``,
    or ``overdue`` and the escalation level it has reached (no repeats once acknowledged)."""
    t = w.ticket
    if w.state is DueState.DUE_SOON:
        # After the clock was set back, an overdue ticket can look due soon again: once overdue
        # was announced in this cycle, "due soon" is stale news.
        if alert_key(t.source, t.id, t.cycle, "overdue") in done:
            return []
        owed = [_alert("due_soon", w, now)]
    elif w.state is DueState.OVERDUE:
        owed = [_alert("overdue", w, now)]
        step = escalation_level(now - w.due_at, config.escalation)
        if step is not None and not (step[1] and w.acknowledged):
            owed.append(_alert("escalated", w, now, step[0], step[1]))
    else:
        return []
    return [a for a in owed if a.key not in done]


def next_change(
    waiting: Iterable[WaitingTicket],
    config: Config,
    now: datetime,
    last_reminder_at: datetime | None = None,
) -> datetime | None:
    """The next moment a ticket's state changes or an alert falls due (None: nothing pending).

    The engine sleeps until then instead of ticking, so an idle agent costs no CPU.
    """
    times: list[datetime] = []
    append = times.append
    attention = False
    fine, due_soon = DueState.FINE, DueState.DUE_SOON
    for w in waiting:
        if w.snoozed_until is not None:
            append(w.snoozed_until)
            continue
        attention = attention or not w.acknowledged
        state = w.state
        if state is fine:
            # evaluate() carries soon_at; a WaitingTicket made elsewhere may not
            append(w.soon_at or deadline(w.ticket, config).soon_at)
        elif state is due_soon:
            append(w.due_at)
        else:
            esc = config.escalation
            overdue_for = now - w.due_at
            later = [w.due_at + lvl.after for lvl in esc.levels if lvl.after > overdue_for]
            if later:
                times.append(min(later))
            elif esc.repeat_every and esc.levels and not w.acknowledged:
                base = w.due_at + esc.levels[-1].after
                n = int((now - base) / esc.repeat_every) + 1
                times.append(base + esc.repeat_every * n)
    every = config.alerts.remind_every
    if every and attention and last_reminder_at is not None:
        times.append(last_reminder_at + every)
    future = [t for t in times if t > now]
    return min(future) if future else None


def in_quiet_hours(now_local: datetime, quiet: tuple[time, time] | None) -> bool:
    """Whether local wall time ``now_local`` lies in the quiet hours (which may span midnight)."""
    if not quiet:
        return False
    start, end = quiet
    t = now_local.time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end


#: "Mute until tomorrow" lasts until this time of the next day: the start of a working day
MUTE_UNTIL_TOMORROW_AT = time(7, 0)


def tomorrow_morning(now_local: datetime) -> datetime:
    """When "Mute until tomorrow" ends: 07:00 on the day after ``now_local``, in its time zone
    (the person's local time, as the tray passes it)."""
    at = MUTE_UNTIL_TOMORROW_AT
    return (now_local + timedelta(days=1)).replace(
        hour=at.hour, minute=at.minute, second=0, microsecond=0
    )


# --------------------------------------------------------------------------- ticket links


def _site(host: str) -> str:
    """The registrable part of a host, near enough: the last two labels, three for the
    ``co.uk`` style (a short second-level label under a two-letter country domain)."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _same_site(host: str, source_host: str) -> bool:
    """Whether a ticket on ``host`` belongs to a source reached at ``source_host``: the same
    host, a parent domain on the same site (api.github.com → github.com), or any host of the
    site when the source talks to its ``api.`` host (api.helpscout.net → secure.helpscout.net).
    Another tenant of a hosted helpdesk (evil.zendesk.com for acme.zendesk.com) is not."""
    host, source_host = host.lower().rstrip("."), source_host.lower().rstrip(".")
    if host == source_host:
        return True
    if _site(host) != _site(source_host):
        return False
    return source_host.endswith("." + host) or source_host.startswith("api.")


def source_hosts(source: SourceConfig) -> set[str]:
    """The hosts a source's tickets may live on: its configured URL's, or its kind's default."""
    from agent.sources import source_class

    urls = [source.url]
    try:
        cls = source_class(source.kind)
        urls += [str(o.default) for o in cls.required + cls.optional if o.key == "url"]
    except KeyError:
        pass
    return {urlsplit(u).hostname or "" for u in urls if u} - {""}


def ticket_url(url: str, source: SourceConfig | None) -> str | None:
    """A ticket's URL as it may be opened or sent (the tray, escalation messages, `check
    --json`), or None when it must not be.

    Only http(s) on the configured source's host or its site (see :func:`_same_site`).
    ``file:``, ``javascript:``, URLs with credentials and every other host are refused: a
    ticket's URL comes from the helpdesk's data.
    """
    url = url.strip() if url else ""
    if source is None or not url or INVISIBLE.search(url) or _NOT_IN_A_LINK.search(url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    if not any(_same_site(host, h) for h in source_hosts(source)):
        return None
    return url


# spaces, controls, a backslash (read as "/" by browsers) and anything not ASCII (look-alikes)
_NOT_IN_A_LINK = re.compile(r"[\x00-\x20\x7f\\]|[^\x00-\x7f]")
