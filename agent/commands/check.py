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
    open_agent,
    setup_logging,
)
from agent.config import Config, ConfigError
from agent.model import Health, SourceHealth, Status, one_line


def check_command(args: argparse.Namespace) -> int:
    setup_logging(args.verbose, console_level=logging.ERROR)
    try:
        config = load_config(args)
    except ConfigError as exc:
        if args.json:
            print(orjson.dumps({"error": str(exc), "waiting": None}).decode())
        print(f"UNKNOWN: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    if not config.sources:
        print(f"UNKNOWN: {config.path}: no [[sources]] configured", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        agent = open_agent(config, args)
    except OSError as exc:
        print(f"UNKNOWN: cannot use the data folder: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
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


def check_json(status: Status, new_keys: frozenset[str], config: Config) -> dict[str, Any]:
    """What `check --json` prints. A ticket's URL only when the tray would open it."""
    from agent.policy import ticket_url

    def url(source: str, value: str) -> str | None:
        try:
            return ticket_url(value, config.source(source))
        except KeyError:
            return None

    return {
        "waiting": status.waiting,
        "overdue": status.overdue,
        "due_soon": status.due_soon,
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "health": s.health.value,
                "message": s.message,
                "waiting": s.waiting,
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


def _local(dt: datetime) -> str:
    return dt.astimezone().strftime("%a %H:%M")


def source_line(s: SourceHealth) -> str:
    """One source's line: never "0 waiting" for a source that could not be read."""
    mark = "ok" if s.health is Health.OK else f"FAILED: {one_line(s.message, 300)}"
    if s.health is Health.SLOWED:
        mark = one_line(s.message, 300)
    if not s.stale:
        count = f"{s.waiting} waiting"
    elif s.last_success is not None:
        count = f"{s.waiting} waiting when last read at {_local(s.last_success)}"
    elif s.waiting:  # kept in the queue from an earlier run
        count = f"{s.waiting} waiting when last read"
    else:
        count = "? waiting"
    return f"{s.name} ({s.kind}): {count} — {mark}"


def check_table(status: Status, new_keys: frozenset[str]) -> str:
    lines = [source_line(s) for s in status.sources]
    summary = f"{status.waiting} waiting, {status.overdue} overdue, {status.due_soon} due soon"
    if status.blind:  # a count that leaves out what could not be read is no count of "all"
        summary = f"at least {summary}: not every helpdesk could be read"
    lines.append(summary)
    if status.tickets:
        rows = [("STATE", "DUE", "SOURCE", "ID", "CATEGORY", "SUBJECT")]
        for w in status.tickets:
            state = w.state.value.replace("_", " ")
            if w.ticket.key in new_keys:
                state += " (new)"
            rows.append(
                (
                    state,
                    _local(w.due_at),
                    one_line(w.ticket.source, 30),
                    one_line(w.ticket.id, 20),
                    one_line(w.ticket.category, 30) or "-",
                    one_line(w.ticket.subject, 50),  # no terminal escapes or line breaks
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines.append("")
        for r in rows:
            lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:5])) + "  " + r[5])
    return "\n".join(lines)
