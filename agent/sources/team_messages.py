"""What the team hub and its members say to each other over MQTT: topics and messages (pure).

Everything lives under ``ticketbell/<team>/``; names inside a topic are percent-encoded, so a
source called "EU/Support" or a ticket id with "+" or "#" stays one level of the topic::

    ticketbell/<team>/hub                          the active hub's heartbeat (retained; last will)
    ticketbell/<team>/sources/<source>/tickets     a source's waiting tickets (retained)
    ticketbell/<team>/sources/<source>/health      whether the hub can read that source (retained)
    ticketbell/<team>/claims/<source>/<id>/<user>  "<user> is on it" (retained; empty: ended)
    ticketbell/<team>/presence/<user>              who watches what (retained; last will)

A member reads these like a helpdesk's answer: untrusted. :func:`parse` checks a message's
size, shape, types and lengths and raises :class:`Refused` saying what is wrong; nothing in a
message is trusted because it looks right.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

import orjson

from agent.model import Ticket, one_line, parse_time
from agent.sources.base import BadResponse

ROOT = "ticketbell"
VERSION = 1
#: the largest message a member reads: 10,000 tickets of a full-sized helpdesk fit in ~4 MiB
MAX_MESSAGE = 8 * 1024 * 1024
MAX_TICKETS = 20_000
#: the longest text of each ticket field a member keeps (a subject is cut at display anyway)
TEXT_LIMITS = {
    "id": 200,
    "subject": 2000,
    "requester": 500,
    "category": 200,
    "priority": 20,
    "status": 100,
    "url": 2000,
    "assignee": 500,
}
MAX_NAME = 200
#: topic names up to this long are remembered with their parts (at most 1,024 of them)
MAX_REMEMBERED_TOPIC = 300
#: claims kept of one person and of the whole team: a broker login may publish any number of
#: claim topics; past these they are refused (the notice names the topic), never kept
MAX_CLAIMS_PER_USER = 100
MAX_CLAIMS = 2_000


class Refused(BadResponse):
    """A message a member does not take, and why (the caller names the topic)."""


def topic(team: str, *parts: str) -> str:
    """``ticketbell/<team>/<part>/...`` with every part percent-encoded (no "/", "+", "#")."""
    return "/".join([ROOT, quote(team, safe=""), *(quote(p, safe="") for p in parts)])


def topic_parts(team: str, name: str) -> tuple[str, ...] | None:
    """The decoded parts of ``name`` after ``ticketbell/<team>/``; None: not this team's.
    Remembered: every publication comes again on the same few topics, to every member (only
    short names, a bounded number of them: any login may publish on topics of its choosing)."""
    if len(name) > MAX_REMEMBERED_TOPIC:
        return _topic_parts(team, name)
    return _remembered_topic_parts(team, name)


def _topic_parts(team: str, name: str) -> tuple[str, ...] | None:
    prefix = f"{ROOT}/{quote(team, safe='')}/"
    if not name.startswith(prefix):
        return None
    return tuple(unquote(p) for p in name[len(prefix) :].split("/"))


_remembered_topic_parts = functools.lru_cache(maxsize=1024)(_topic_parts)


@dataclass(frozen=True)
class HubBeat:
    hub: str
    online: bool
    interval: float
    at: datetime | None


@dataclass(frozen=True)
class Published:
    """One source as the hub last read it: its tickets or its health."""

    hub: str
    seq: int
    at: datetime
    complete: bool = True
    tickets: tuple[Ticket, ...] = ()
    health: str = "ok"
    message: str = ""
    #: each ticket's id -> (its message item, the Ticket made of it): the next publication's
    #: items that are equal make the same Ticket and are not parsed again
    parsed: Mapping[str, tuple[dict[str, Any], Ticket]] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True)
class Claim:
    user: str
    at: datetime


@dataclass(frozen=True)
class Presence:
    user: str
    online: bool
    #: source name -> the categories watched there (empty: all)
    watching: dict[str, tuple[str, ...]]
    at: datetime | None


# --------------------------------------------------------------------------- writing


def encode(team: str, body: dict[str, Any]) -> bytes:
    return orjson.dumps({"v": VERSION, "team": team, **body})


def ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "subject": t.subject,
        "created_at": t.created_at.isoformat(),
        "waiting_since": t.waiting_since.isoformat(),
        "requester": t.requester,
        "category": t.category,
        "priority": t.priority,
        "status": t.status,
        "due_at": t.due_at.isoformat() if t.due_at else None,
        "url": t.url,
        "assignee": t.assignee,
    }


# --------------------------------------------------------------------------- reading


def load(team_name: str, raw: bytes) -> dict[str, Any]:
    """The JSON object of a message for the team, or Refused (oversized, malformed, foreign)."""
    if not isinstance(raw, bytes):
        raise Refused("malformed: not a message's bytes")
    if len(raw) > MAX_MESSAGE:
        raise Refused(f"oversized ({len(raw)} bytes; at most {MAX_MESSAGE})")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refused(f"malformed: not JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise Refused("malformed: not a JSON object")
    if data.get("v") != VERSION or data.get("team") != team_name:
        raise Refused(f"foreign: not a version {VERSION} message of team {team_name!r}")
    return data


def _text(data: dict[str, Any], key: str, limit: int = MAX_NAME, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise Refused(f"malformed: {key} must be text")
    if len(value) > limit:
        raise Refused(f"malformed: {key} is longer than {limit} characters")
    return value


def _time(data: dict[str, Any], key: str) -> datetime:
    try:
        value = parse_time(data.get(key), key)
    except ValueError as exc:
        raise Refused(f"malformed: {exc}") from None
    if value is None:
        raise Refused(f"malformed: {key} is missing")
    return value


def _seq(data: dict[str, Any]) -> int:
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
        raise Refused("malformed: seq must be a whole number")
    return seq


def parse_ticket(source: str, ticket: object) -> Ticket:
    if not isinstance(ticket, dict):
        raise Refused("malformed: a ticket is not an object")
    texts = {key: _text(ticket, key, limit, "") for key, limit in TEXT_LIMITS.items()}
    if not texts["id"]:
        raise Refused("malformed: a ticket has no id")
    due = ticket.get("due_at")
    try:
        return Ticket(
            source=source,
            created_at=_time(ticket, "created_at"),
            waiting_since=_time(ticket, "waiting_since"),
            due_at=_time(ticket, "due_at") if due is not None else None,
            **texts,
        )
    except (TypeError, ValueError) as exc:
        raise Refused(f"malformed: ticket {texts['id'][:40]!r}: {exc}") from None


def parse_tickets(
    team_name: str, source: str, raw: bytes, last: Published | None = None
) -> Published:
    """A source's tickets; an item equal to one of ``last`` (the publication before) gives
    the Ticket made of it then, unparsed (parsing is a function of the item alone)."""
    data = load(team_name, raw)
    items = data.get("tickets")
    if not isinstance(items, list):
        raise Refused("malformed: tickets must be a list")
    if len(items) > MAX_TICKETS:
        raise Refused(f"oversized: {len(items)} tickets (at most {MAX_TICKETS})")
    complete = data.get("complete")
    if not isinstance(complete, bool):
        raise Refused("malformed: complete must be true or false")
    known = last.parsed if last is not None else {}
    parsed: dict[str, tuple[dict[str, Any], Ticket]] = {}
    tickets = []
    for item in items:
        # an item equal to one taken before makes the same Ticket: one dict comparison, in C
        # (what parsing reads was all text or null then, so equal means the same; other keys
        # are not read)
        ident = item.get("id") if isinstance(item, dict) else None
        held = known.get(ident) if isinstance(ident, str) else None
        ticket = held[1] if held is not None and held[0] == item else parse_ticket(source, item)
        if isinstance(item, dict):
            parsed[ticket.id] = (item, ticket)
        tickets.append(ticket)
    at = _time(data, "at")
    return Published(_text(data, "hub"), _seq(data), at, complete, tuple(tickets), parsed=parsed)


def parse_health(team_name: str, raw: bytes) -> Published:
    data = load(team_name, raw)
    health = _text(data, "health")
    if health not in ("ok", "failing", "slowed"):
        raise Refused(f"malformed: health {health[:20]!r} is not ok, failing or slowed")
    message = _text(data, "message", 1000, "")
    at = _time(data, "at")
    return Published(_text(data, "hub"), _seq(data), at, health=health, message=message)


def parse_beat(team_name: str, raw: bytes) -> HubBeat:
    data = load(team_name, raw)
    interval = data.get("interval")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise Refused("malformed: interval must be a number of seconds")
    if not 0.1 <= interval <= 86400:
        raise Refused("malformed: interval is out of range")
    state = _text(data, "state")
    if state not in ("online", "offline"):
        raise Refused("malformed: state must be online or offline")
    at = _time(data, "at") if data.get("at") is not None else None
    return HubBeat(_text(data, "hub"), state == "online", float(interval), at)


def _own(team_name: str, user: str, raw: bytes, key: str, what: str) -> dict[str, Any] | None:
    """The JSON object of a message ``user`` publishes about themself, whose ``key`` names
    them; None for an empty message (what it said has ended). Refused when it is in another
    person's name (``what``: the message, for the reason)."""
    if not raw:
        return None
    data = load(team_name, raw)
    if _text(data, key) != user:
        raise Refused(f"foreign: {what} in another person's name")
    return data


def parse_claim(team_name: str, user: str, raw: bytes) -> Claim | None:
    """A claim, or None for an empty message (the claim ended)."""
    data = _own(team_name, user, raw, "by", "a claim")
    return None if data is None else Claim(user, _time(data, "at"))


def check_room(
    claims: Mapping[tuple[str, str], Mapping[str, object]], key: tuple[str, str], user: str
) -> None:
    """Refused when keeping a new claim of ``user`` on ``key`` would pass the bounds (claims:
    (source, ticket) -> user -> claim); a claim already held, renewed, always fits."""
    if user in claims.get(key, {}):
        return
    if sum(len(held) for held in claims.values()) >= MAX_CLAIMS:
        raise Refused(f"too many claims: the team already holds {MAX_CLAIMS}")
    if sum(user in held for held in claims.values()) >= MAX_CLAIMS_PER_USER:
        raise Refused(f"too many claims: this person already holds {MAX_CLAIMS_PER_USER}")


def parse_presence(team_name: str, user: str, raw: bytes) -> Presence | None:
    data = _own(team_name, user, raw, "user", "presence")
    if data is None:
        return None
    watching = data.get("watching", {})
    if not isinstance(watching, dict) or len(watching) > 100:
        raise Refused("malformed: watching must be an object of at most 100 sources")
    shown: dict[str, tuple[str, ...]] = {}
    for source, cats in watching.items():
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise Refused("malformed: watching lists categories as text")
        shown[str(source)[:MAX_NAME]] = tuple(c[:MAX_NAME] for c in cats[:100])
    state = _text(data, "state")
    at = _time(data, "at") if data.get("at") is not None else None
    return Presence(user, state == "online", shown, at)


# --------------------------------------------------------------------------- shown to people


def claim_text(by: str | None, at: datetime | None, now: datetime) -> str:
    """ "Anna · 4 min" beside a ticket someone else claimed ("" when nobody did)."""
    if not by or at is None:
        return ""
    minutes = max(0, int((now - at).total_seconds() // 60))
    since = f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{one_line(by, 40)} · {since}"


def open_anyway(by: str | None) -> str:
    """The question before opening a ticket someone else claimed first ("" when nobody did)."""
    return f"{one_line(by, 40)} is on it — open anyway?" if by else ""
