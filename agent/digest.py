"""The owner's daily digest: when it is due, its text from the alert ledger (pure functions),
and its outbox messages. The escalator queues it (:mod:`agent.engine.escalator`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo

from agent import i18n
from agent.channels import OWNER_DESKTOP
from agent.config import Escalation
from agent.escalation import local_time, with_key
from agent.i18n import _, ngettext
from agent.model import WaitingTicket, parse_time
from agent.storage import AlertKey, LedgerEntry, OutboxKey


def digest_due(
    now: datetime, at: time, tz: tzinfo | None, last_day: str | None
) -> tuple[date | None, datetime]:
    """Which day's digest is owed now (None: none), and when the next one falls due.

    With no digest sent yet (a fresh install), the first is the next scheduled one: no digest
    of an empty day at first start.
    """
    local_now = now.astimezone(tz)
    today_at = datetime.combine(local_now.date(), at, local_now.tzinfo)
    latest = today_at if today_at <= local_now else today_at - timedelta(days=1)
    latest_day = latest.date()
    following = datetime.combine(latest_day + timedelta(days=1), at, local_now.tzinfo)
    following_utc = following.astimezone(now.tzinfo)
    if last_day is None or last_day >= latest_day.isoformat():
        return None, following_utc
    return latest_day, following_utc


class _Ledger:
    """The ledger's rows grouped for the digest: by waiting cycle, and by blind spell."""

    def __init__(self, entries: Iterable[LedgerEntry], now: datetime, tz: tzinfo | None) -> None:
        self.now = now
        self.tz = tz
        self.cycles: dict[tuple[str, str, str], dict[str, LedgerEntry]] = {}
        self.blind: dict[tuple[str, str], dict[str, LedgerEntry]] = {}
        for e in entries:
            try:
                key = AlertKey.decode(e.key)
            except ValueError:
                continue
            if key.ticket == "*" and key.kind in ("source_down", "source_up"):
                self.blind.setdefault((key.source, key.cycle), {})[key.kind] = e
            elif key.ticket != "*":
                cycle = self.cycles.setdefault((key.source, key.ticket, key.cycle), {})
                cycle.setdefault(key.kind, e)

    def at(self, e: LedgerEntry) -> datetime:
        return e.at

    def day(self, value: datetime) -> str:
        """ "Mon 23 Nov 14:05"; in another language as its locale writes it."""
        if i18n.current().code == i18n.SOURCE_LANGUAGE:
            return local_time(value, self.tz, "%a %d %b %H:%M")
        from babel.dates import format_skeleton

        day = format_skeleton("MMMEd", value.astimezone(self.tz), locale=i18n.current().formats)
        return f"{day} {i18n.time_text(value, self.tz)}"


def digest_text(
    entries: Iterable[LedgerEntry],
    waiting: Iterable[WaitingTicket],
    failing: Mapping[str, datetime],
    since: datetime,
    now: datetime,
    tz: tzinfo | None = None,
) -> tuple[str, str]:
    """The daily digest (title, body) from the alert ledger: a pure function.

    Answered tickets within their window per category and per assignee (a cycle counts as late
    when the ledger has an ``overdue`` entry for it), the longest waits (answered or still
    waiting), breaches and how long they took, and the sources that were blind and how long.
    ``failing`` maps the sources failing right now to when they started failing.
    """
    ledger = _Ledger(entries, now, tz)
    answered, breaches, waits = _cycles(ledger, since)
    for w in waiting:
        t = w.ticket
        label = f"{t.source} #{t.id} {t.subject}"
        waits.append((now - t.waiting_since, _("{ticket} (still waiting)").format(ticket=label)))
    lines = [_("Since {time}:").format(time=ledger.day(since)), ""]
    done, within = len(answered), sum(1 for *_rows, ok in answered if ok)
    said = ngettext(
        "Answered: {count}, {within} within their window",
        "Answered: {count}, {within} within their window",
        done,
    )
    lines.append(said.format(count=done, within=within))
    lines += _tally(answered, "category", _("(no category)"))
    by_assignee = [ln for ln in _tally(answered, "assignee", "") if not ln.startswith("  : ")]
    if by_assignee:
        lines += ["", _("By assignee:"), *by_assignee]
    lines += ["", _("Longest waits:")]
    top = sorted(waits, key=lambda x: x[0], reverse=True)[:5]
    none = "  " + _("none")
    lines += [f"  {i18n.duration(span)}  {label}" for span, label in top] or [none]
    lines += ["", _("Breaches: {count}").format(count=len(breaches)), *sorted(breaches)]
    lines += ["", _("Blind sources:"), *(_blind_lines(ledger, failing, since) or [none])]
    title = _("Ticketbell daily digest: {answered}, {breaches}").format(
        answered=ngettext("{count} answered", "{count} answered", done).format(count=done),
        breaches=ngettext("{count} breach", "{count} breaches", len(breaches)).format(
            count=len(breaches)
        ),
    )
    return title, "\n".join(lines)


def _cycles(
    ledger: _Ledger, since: datetime
) -> tuple[list[tuple[LedgerEntry, LedgerEntry, bool]], list[str], list[tuple[timedelta, str]]]:
    """Cycles answered since ``since`` (info, answered row, within window), breaches, waits."""
    answered = []
    breaches = []
    waits: list[tuple[timedelta, str]] = []
    at, now = ledger.at, ledger.now
    for (source, ticket, cycle), kinds in ledger.cycles.items():
        start = parse_time(cycle) or now
        done = kinds.get("answered")
        late = kinds.get("overdue")
        info = kinds.get("new") or done or late or next(iter(kinds.values()))
        label = f"{source} #{ticket} {info.subject}".rstrip()
        if done is not None and at(done) >= since:
            answered.append((info, done, late is None))
            waits.append((at(done) - start, _("{ticket} (answered)").format(ticket=label)))
        if late is not None and (at(late) >= since or (done is not None and at(done) >= since)):
            if done is not None:
                took = _("answered after {duration}").format(
                    duration=i18n.duration(at(done) - start)
                )
            else:
                took = _("still waiting after {duration}").format(
                    duration=i18n.duration(now - start)
                )
            said = _("{ticket}: overdue at {time}, {took}")
            breaches.append("  " + said.format(ticket=label, time=ledger.day(at(late)), took=took))
    return answered, breaches, waits


def _tally(
    answered: list[tuple[LedgerEntry, LedgerEntry, bool]], field: str, fallback: str
) -> list[str]:
    counts: dict[str, list[int]] = {}
    for info, done, ok in answered:
        name = str(getattr(done, field) or getattr(info, field) or fallback)
        c = counts.setdefault(name, [0, 0])
        c[0] += 1
        c[1] += ok
    said = _("{name}: {within} of {count} within window")
    return ["  " + said.format(name=n, within=c[1], count=c[0]) for n, c in sorted(counts.items())]


def _blind_lines(ledger: _Ledger, failing: Mapping[str, datetime], since: datetime) -> list[str]:
    lines = []
    at, now = ledger.at, ledger.now
    for (source, cycle), kinds in sorted(ledger.blind.items()):
        start = parse_time(cycle) or now
        down, up = kinds.get("source_down"), kinds.get("source_up")
        why = "" if down is None else str(down.text) if down.text is not None else down.subject
        if up is not None:
            if at(up) < since:
                continue
            span = _("for {duration}").format(duration=i18n.duration(at(up) - start))
        elif failing.get(source) == start:
            span = _("still, for {duration} so far").format(duration=i18n.duration(now - start))
        else:
            span = _("until Ticketbell restarted")
        said = _("{source}: unreadable from {time} {span} ({why})")
        lines.append("  " + said.format(source=source, time=ledger.day(start), span=span, why=why))
    return lines


def digest_targets(escalation: Escalation) -> tuple[str, ...]:
    """Where the digest goes: ``digest_to``, else every channel of the levels."""
    chosen = escalation.digest_to or tuple(t for lvl in escalation.levels for t in lvl.notify)
    return tuple(dict.fromkeys(t for t in chosen if t != OWNER_DESKTOP))


def digest_messages(
    day: date, title: str, body: str, escalation: Escalation
) -> list[tuple[str, dict[str, str]]]:
    out = []
    for target in digest_targets(escalation):
        key = OutboxKey(AlertKey("*", "*", day.isoformat(), "digest"), target).encode()
        record = {
            "kind": "digest",
            "target": target,
            "source": "",
            "ticket": "",
            "title": title,
            "body": with_key(body, key),
        }
        out.append((key, record))
    return out
