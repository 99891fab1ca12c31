"""``ticketbell check [--json]``: poll once, print what waits, exit like a monitoring plugin."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from typing import Any

import orjson

from agent.commands.common import (
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_UNKNOWN,
    EXIT_WAITING,
    load_config,
    open_agent_or_why,
    setup_logging,
)
from agent.config import Config, ConfigError
from agent.i18n import N_, Text, _, ngettext, weekday_time
from agent.model import Health, SourceHealth, Status, one_line


def check_command(args: argparse.Namespace) -> int:
    setup_logging(args.verbose, console_level=logging.ERROR)
    try:
        config = load_config(args)
    except ConfigError as exc:
        return unknown(str(exc), exc.english, args.json)
    agent = open_agent_or_why(config, args)
    if isinstance(agent, Text):
        return unknown(str(agent), agent.english, args.json)
    team = None
    try:
        report = agent.poll_once()
        team = agent.team_json() if hasattr(agent, "team_json") else None  # [team]: who watches
    finally:
        agent.stop()
    status = report.status
    if args.json:
        shown = check_json(status, report.new_keys, config) | ({"team": team} if team else {})
        print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
    else:
        print(check_table(status, report.new_keys))
    if any(s.health not in (Health.OK, Health.SLOWED) for s in status.sources):
        return EXIT_UNKNOWN
    if status.overdue:
        return EXIT_OVERDUE
    slowed = any(s.health is Health.SLOWED for s in status.sources)
    return EXIT_WAITING if status.waiting or slowed else EXIT_OK


def unknown(message: str, english: str, json: bool) -> int:
    """Nothing could be counted: why on stderr (``message``, in the person's language) and, with
    ``--json``, ``{"error": english, "waiting": null}`` on stdout, so a monitor reads no count."""
    if json:
        print(orjson.dumps({"error": english, "waiting": None}).decode())
    print(f"UNKNOWN: {message}", file=sys.stderr)
    return EXIT_UNKNOWN


def known_waiting(s: SourceHealth) -> int | None:
    """A source's count for the JSON: None where the table says "? waiting" (never read, so
    nothing known), else its count (of the last read when ``s.stale``)."""
    return None if s.stale and s.last_success is None and not s.waiting else s.waiting


def check_json(status: Status, new_keys: frozenset[str], config: Config) -> dict[str, Any]:
    """What `check --json` prints. A ticket's URL only when the tray would open it.

    Never a false count: when not every source could be read (``status.blind``; the table's
    "at least"), ``waiting`` is null and ``"blind": true`` and ``waiting_at_least`` are added; a
    source not read now has ``"stale": true``, and ``"waiting": null`` if it was never read."""
    from agent.policy import ticket_url

    def url(source: str, value: str) -> str | None:
        try:
            return ticket_url(value, config.source(source))
        except KeyError:
            return None

    blind = {"waiting_at_least": status.waiting, "blind": True} if status.blind else {}
    return {
        "waiting": None if status.blind else status.waiting,
        **blind,
        "overdue": status.overdue,
        "due_soon": status.due_soon,
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "health": s.health.value,
                "message": s.message_en,
                "waiting": known_waiting(s),
                **({"stale": True} if s.stale else {}),
            }
            for s in status.sources
        ],
        "tickets": [
            {
                "source": w.ticket.source,
                "id": w.ticket.id,
                "subject": w.ticket.subject,
                "category": w.ticket.category,
                "priority": w.ticket.priority,
                "waiting_since": w.ticket.waiting_since.isoformat(),
                "due_at": w.due_at.isoformat(),
                "state": w.state.value,
                "new": w.ticket.key in new_keys,
                "at_risk": w.at_risk,
                "predicted_breach_at": w.predicted_breach_at.isoformat()
                if w.predicted_breach_at
                else None,
                "url": url(w.ticket.source, w.ticket.url),
                "claimed_by": w.claimed_by,
                "claimed_at": w.claimed_at.isoformat() if w.claimed_at else None,
            }
            for w in status.tickets
        ],
    }


# the states of a waiting ticket as the table names them (WaitingTicket.state's values)
STATE_NAMES = {"fine": N_("fine"), "due_soon": N_("due soon"), "overdue": N_("overdue")}


def _local(dt: datetime) -> str:
    return weekday_time(dt)


def _waiting(count: int) -> str:
    return ngettext("{count} waiting", "{count} waiting", count).format(count=count)


def source_line(s: SourceHealth) -> str:
    """One source's line: never "0 waiting" for a source that could not be read."""
    mark = _("ok") if s.health is Health.OK else _("FAILED: {message}")
    mark = mark.format(message=one_line(s.message, 300))
    if s.health is Health.SLOWED:
        mark = one_line(s.message, 300)
    if not s.stale:
        count = _waiting(s.waiting)
    elif s.last_success is not None:
        when = _local(s.last_success)
        count = ngettext(
            "{count} waiting when last read at {time}",
            "{count} waiting when last read at {time}",
            s.waiting,
        ).format(count=s.waiting, time=when)
    elif s.waiting:  # kept in the queue from an earlier run
        count = ngettext(
            "{count} waiting when last read", "{count} waiting when last read", s.waiting
        ).format(count=s.waiting)
    else:
        count = _("? waiting")
    return f"{s.name} ({s.kind}): {count} — {mark}"


def _summary(status: Status) -> str:
    """ "3 waiting, 1 overdue, 0 due soon"."""
    overdue = ngettext("{count} overdue", "{count} overdue", status.overdue)
    due_soon = ngettext("{count} due soon", "{count} due soon", status.due_soon)
    return ", ".join(
        (
            _waiting(status.waiting),
            overdue.format(count=status.overdue),
            due_soon.format(count=status.due_soon),
        )
    )


def _ticket_rows(status: Status, new_keys: frozenset[str]) -> list[str]:
    """The tickets, one aligned line each; with an ON IT column when a team member said
    "I'm on it" of one (the tray shows who; a terminal showed nobody)."""
    claims = any(w.claimed_by for w in status.tickets)
    heads = (_("STATE"), _("DUE"), _("SOURCE"), _("ID"), _("CATEGORY"))
    rows = [(*heads, *((_("ON IT"),) if claims else ()), _("SUBJECT"))]
    for w in status.tickets:
        state = _(STATE_NAMES.get(w.state.value, w.state.value))
        if w.ticket.key in new_keys:
            state = _("{state} (new)").format(state=state)
        who = (one_line(w.claimed_by or "", 24) or "-",) if claims else ()
        rows.append(
            (
                state,
                _local(w.due_at),
                one_line(w.ticket.source, 30),
                one_line(w.ticket.id, 20),
                one_line(w.ticket.category, 30) or "-",
                *who,
                one_line(w.ticket.subject, 50),  # no terminal escapes or line breaks
            )
        )
    last = len(rows[0]) - 1
    widths = [max(len(r[i]) for r in rows) for i in range(last)]
    return [
        "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:last])) + "  " + r[last] for r in rows
    ]


def check_table(status: Status, new_keys: frozenset[str]) -> str:
    lines = [source_line(s) for s in status.sources]
    summary = _summary(status)
    if status.blind:  # a count that leaves out what could not be read is no count of "all"
        summary = _("at least {counts}: not every helpdesk could be read").format(counts=summary)
    lines.append(summary)
    if status.tickets:
        lines.append("")
        lines.extend(_ticket_rows(status, new_keys))
    return "\n".join(lines)
