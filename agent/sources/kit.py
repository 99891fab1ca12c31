"""What every helpdesk connector needs and writes the same way: the Waiting rule, one time
parser, one reading of a field as text, one category lookup, one per-ticket cache and the
next-page URLs of paging.

A connector keeps only what is its helpdesk's own (which endpoint, which field says who wrote a
message); the rules here are written once so every kind counts the same way.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agent.i18n import N_, Text
from agent.model import UTC, Ticket
from agent.sources.base import BadResponse, NotConfigured

if TYPE_CHECKING:
    from agent.sources.http import Page

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
#: a category id: the helpdesks number theirs or name them; either sorts
CategoryId = TypeVar("CategoryId", int, str)

#: ``2018-06-29:10:25Z`` and ``2024-01-01 10:00:00``: date and time joined by a colon or a space
_ODD_DATE = re.compile(r"^(\d{4}-\d\d-\d\d)[ T:](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)(.*)$")
#: epoch numbers above this are milliseconds (1e11 s is the year 5138)
_EPOCH_MS = 1e11


#: one message of a ticket as the Waiting rule reads it: ``(time, from_customer)``
Message = tuple[datetime, bool]


def waiting_since(messages: Iterable[Message]) -> datetime | None:
    """The Waiting rule (docs/architecture.md) over one ticket's messages ``(time, from_customer)``.

    The oldest customer message with no team reply after it; None when the team spoke last
    (or nobody spoke). Messages may come in any order; at equal times the customer's message
    counts as the later one, so a tie never hides a customer who is waiting.
    """
    since = None
    for at, from_customer in sorted(messages, key=lambda m: (m[0], bool(m[1]))):
        if not from_customer:
            since = None
        elif since is None:
            since = at
    return since


# what a connector's answers may be refused with ({helpdesk}: "Zendesk"; {what}: one of WORDS)
NOT_A_LIST = N_("{helpdesk}'s answer is not a list of {what}; is the URL the {helpdesk} address?")
NO_LIST_OF = N_("{helpdesk}'s answer has no list of {key}; {check}")
NO_ID_OR_CREATED = N_("{helpdesk} sent a {what} without an id or creation time")
UNREADABLE = N_("{where} is a date that cannot be read: {value}")
UNREADABLE_TYPE = N_("{where} is a date that cannot be read ({type})")
UNREADABLE_NAIVE = N_("{where} is a date that cannot be read without a time zone: {value}")
OUT_OF_RANGE = N_("{where} is a date that cannot be read (out of range): {value}")
NO_SUCH = N_("{helpdesk} has no {what} named {name} that this token can see; it has: {known}")
#: the words connectors name what they read with (``what=``), translated where shown
WORDS = (
    N_("ticket"),
    N_("tickets"),
    N_("conversation"),
    N_("conversations"),
    N_("group"),
    N_("groups"),
    N_("mailbox"),
    N_("ticket fields"),
)


def text_of(item: Mapping[str, Any], *keys: str) -> str:
    """The first of ``item``'s fields ``keys`` that is set (not missing, null, "", 0 or empty),
    as text; "" when none is."""
    for key in keys:
        value = item.get(key)
        if value:
            return str(value)
    return ""


def category_name(names: Mapping[Any, str], category_id: Any) -> str:
    """The name of a ticket's category id in ``names``; the id as text when it is not there,
    "" when the ticket has none."""
    return "" if category_id is None else names.get(category_id, str(category_id))


def _unreadable(where: str, value: object) -> Text:
    return Text(UNREADABLE, where=where, value=repr(value))


def list_of_objects(data: Any, what: str, *, helpdesk: str) -> list[dict[str, Any]]:
    """``data`` when it is a JSON list of objects; else a :class:`BadResponse` that names the
    helpdesk and what was expected (a wrong address is the usual cause)."""
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise BadResponse(
            Text(NOT_A_LIST, helpdesk=helpdesk, what=Text(what)),
            f"expected a JSON list of objects, got {str(data)[:200]}",
        )
    return data


def objects_under(
    container: Any, key: str, *, message: str | Text, expected: str, answer: Any = None
) -> list[dict[str, Any]]:
    """``container[key]`` when it is a list of objects; else a :class:`BadResponse` with
    ``message`` (for the person) and what was ``expected`` and came (``answer``, else the
    container) in its detail."""
    items = container.get(key) if isinstance(container, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        got = container if answer is None else answer
        raise BadResponse(message, f"expected {expected}, got {str(got)[:200]}")
    return items


def hal_embedded(data: Any, key: str, *, helpdesk: str, check: str) -> list[dict[str, Any]]:
    """``_embedded.<key>`` of a HAL page (Help Scout, FreeScout); an empty page may leave
    ``_embedded`` out. Any other shape: a :class:`BadResponse` saying the helpdesk's answer has
    no list of ``key``, and what to ``check``."""
    embedded = data.get("_embedded") if isinstance(data, dict) else None
    if embedded is None and isinstance(data, dict) and "page" in data:
        return []
    message = Text(NO_LIST_OF, helpdesk=helpdesk, key=key, check=Text(check))
    return objects_under(embedded, key, message=message, expected=f"_embedded.{key}[]", answer=data)


def hal_mailboxes(data: Any, *, helpdesk: str, check: str) -> dict[int, str]:
    """Mailbox id -> name from a HAL page of mailboxes (Help Scout's ``GET /v2/mailboxes``,
    FreeScout's ``GET /api/mailboxes``, which follows it)."""
    mailboxes = hal_embedded(data, "mailboxes", helpdesk=helpdesk, check=check)
    return {int(m["id"]): text_of(m, "name") or str(m["id"]) for m in mailboxes}


def hal_person(value: Any) -> str:
    """A person of a HAL answer (a customer, an assignee) by name, else by email address; ""
    when there is none. Help Scout names ``first`` and ``last``; FreeScout, which follows it,
    ``firstName`` and ``lastName`` (or ``first_name`` and ``last_name``)."""
    if not isinstance(value, dict):
        return ""
    first = value.get("firstName", value.get("first_name", value.get("first")))
    last = value.get("lastName", value.get("last_name", value.get("last")))
    name = " ".join(str(x) for x in (first, last) if x).strip()
    return name or text_of(value, "email")


def hal_email(value: Any) -> str:
    """The email address of a person of a HAL answer; "" when there is none."""
    return text_of(value, "email") if isinstance(value, dict) else ""


def hal_active(conv: Mapping[str, Any]) -> bool:
    """Whether a HAL conversation is active and published (no ``state`` means published): only
    such a conversation can wait on the team."""
    return conv.get("status") == "active" and conv.get("state", "published") == "published"


def hal_ticket(
    conv: Mapping[str, Any],
    cid: Any,
    created: datetime,
    since: datetime,
    *,
    source: str,
    mailboxes: Mapping[int, str],
    customer: str,
    url: str,
) -> Ticket:
    """The ticket of a HAL conversation (id ``cid``) that waits on the team: numbered by its
    ``number`` (else ``cid``), its requester the person under ``customer``, its category its
    mailbox. Active, and with no deadline: neither Help Scout nor FreeScout reports one."""
    return Ticket(
        source=source,
        id=text_of(conv, "number") or str(cid),
        subject=text_of(conv, "subject"),
        created_at=created,
        waiting_since=since,
        requester=hal_person(conv.get(customer)),
        requester_email=hal_email(conv.get(customer)),
        category=category_name(mailboxes, conv.get("mailboxId")),
        status="active",
        due_at=None,
        url=url,
        assignee=hal_person(conv.get("assignee")),
    )


def id_and_created(
    item: Mapping[str, Any],
    created_key: str,
    *,
    helpdesk: str,
    what: str = "ticket",
    assume_utc: bool = False,
) -> tuple[Any, datetime]:
    """The id and creation time (``item[created_key]``, read as :func:`parse_time` reads it)
    every ticket needs; a :class:`BadResponse` naming the helpdesk and the item when either is
    missing."""
    item_id = item.get("id")
    where = f"{helpdesk} {what} {item_id} {created_key}"
    created = parse_time(item.get(created_key), where=where, assume_utc=assume_utc)
    if item_id is None or created is None:
        raise BadResponse(
            Text(NO_ID_OR_CREATED, helpdesk=helpdesk, what=Text(what)), str(item)[:200]
        )
    return item_id, created


def parse_time(value: object, *, where: str, assume_utc: bool = False) -> datetime | None:
    """One helpdesk timestamp as aware UTC; None for null, "" and the epoch-0 sentinels.

    Accepts ISO 8601 with ``Z`` or an offset (``+00:00`` or ``+0000``), fractional seconds, the
    date and time joined by a space or a colon (``2018-06-29:10:25Z``, RT), and epoch seconds or
    milliseconds as a number. A time without a zone is refused (guessing would shift every due
    time by an offset) unless ``assume_utc`` says the helpdesk documents its times as UTC.
    Anything else raises :class:`BadResponse` naming ``where``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadResponse(_unreadable(where, value), f"{where}={value!r}")
    if isinstance(value, (int, float)):
        return _from_epoch(value, where)
    if not isinstance(value, str):
        raise BadResponse(
            Text(UNREADABLE_TYPE, where=where, type=type(value).__name__),
            f"{where}={str(value)[:100]!r}",
        )
    raw = value.strip()
    if (match := _ODD_DATE.match(raw)) is not None:
        seconds = "" if match[2].count(":") == 2 else ":00"
        raw = f"{match[1]}T{match[2]}{seconds}{match[3].strip()}"
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    if len(raw) > 5 and raw[-5] in "+-" and raw[-4:].isdigit() and ":" not in raw[-5:]:
        raw = raw[:-2] + ":" + raw[-2:]  # "+0000": Python 3.10's fromisoformat wants a colon
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise BadResponse(
            _unreadable(where, value[:60]),
            f"{where}={value[:200]!r} is not ISO 8601",
        ) from None
    if parsed.tzinfo is None:
        if not assume_utc:
            raise BadResponse(
                Text(UNREADABLE_NAIVE, where=where, value=repr(value[:60])),
                f"{where}={value[:200]!r} is naive",
            )
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        raise BadResponse(
            Text(OUT_OF_RANGE, where=where, value=repr(value[:60])),
            f"{where}={value[:200]!r}",
        ) from None
    return None if parsed.year <= 1970 else parsed


def _from_epoch(value: float, where: str) -> datetime | None:
    if not math.isfinite(value):
        raise BadResponse(_unreadable(where, value), repr(value))
    seconds = value / 1000 if abs(value) > _EPOCH_MS else value
    try:
        parsed = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):  # beyond the year 9999
        raise BadResponse(
            Text(OUT_OF_RANGE, where=where, value=repr(value)), f"{where}={value!r}"
        ) from None
    return None if parsed.year <= 1970 else parsed


class CategoryResolver(Generic[CategoryId]):
    """A helpdesk's categories (groups, queues, mailboxes) by id and by name, read on demand.

    ``load`` returns ``{id: name}``. The one refresh rule: the table is read again when a name
    or id not in it is asked for, at most once per :meth:`new_fetch` and at most every
    ``refresh_every`` — so a group added a minute ago is found, and a ticket in a group this
    token cannot list does not cost a request per ticket.
    """

    def __init__(
        self,
        load: Callable[[], Mapping[CategoryId, str]],
        *,
        what: str = "category",
        helpdesk: str = "the helpdesk",
        refresh_every: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load: Callable[[], Mapping[CategoryId, str]] = load
        self.what = what
        self.helpdesk = helpdesk
        self.refresh_every = refresh_every.total_seconds()
        self._clock = clock
        self._names: dict[CategoryId, str] | None = None
        self._loaded_at = -math.inf
        self._refreshed_this_fetch = False

    def new_fetch(self) -> None:
        """A fetch begins: an unknown id may read the table again (once, and not too often)."""
        self._refreshed_this_fetch = False

    def table(self) -> dict[CategoryId, str]:
        """``{id: name}``, read on first use."""
        if self._names is None:
            self._read()
        assert self._names is not None
        return self._names

    def reload(self) -> dict[CategoryId, str]:
        """Read the table now (the settings form's category list wants the newest)."""
        self._read()
        assert self._names is not None
        return self._names

    def name(self, category_id: CategoryId, default: str | None = None) -> str:
        """The name of one id; an unknown id refreshes the table (per the rule) and then falls
        back to ``default`` or the id as text."""
        names = self.table()
        if category_id not in names and self._may_refresh():
            names = self._read()
        found = names.get(category_id)
        if found is not None:
            return found
        return str(category_id) if default is None else default

    def ids(self, names: Iterable[str]) -> list[CategoryId]:
        """The ids of these names (case does not matter), sorted. A name the helpdesk does not
        know raises :class:`NotConfigured` naming it and listing the known ones."""
        wanted = list(names)
        by_name = self._by_name(self.table())
        if any(n.casefold() not in by_name for n in wanted) and self._may_refresh():
            by_name = self._by_name(self._read())
        missing = [n for n in wanted if n.casefold() not in by_name]
        if missing:
            known = ", ".join(sorted(self.table().values())) or Text(N_("none"))
            helpdesk, what, name = self.helpdesk, Text(self.what), repr(missing[0])
            raise NotConfigured(Text(NO_SUCH, helpdesk=helpdesk, what=what, name=name, known=known))
        return sorted({by_name[n.casefold()] for n in wanted})

    @staticmethod
    def _by_name(names: Mapping[CategoryId, str]) -> dict[str, CategoryId]:
        return {name.casefold(): cid for cid, name in names.items()}

    def _may_refresh(self) -> bool:
        return (
            not self._refreshed_this_fetch and self._clock() - self._loaded_at >= self.refresh_every
        )

    def _read(self) -> dict[CategoryId, str]:
        self._names = dict(self._load())
        self._loaded_at = self._clock()
        self._refreshed_this_fetch = True
        return self._names


class TicketCache(Generic[K, T]):
    """What a connector read about each ticket (its messages, say), kept while the ticket's
    ``updated_at`` stays the same: an idle poll then reads nothing per ticket.

    Call :meth:`prune` with the ids a complete listing returned: tickets no longer listed are
    forgotten, so the cache holds only what is waiting.
    """

    def __init__(self) -> None:
        self._entries: dict[K, tuple[object, T]] = {}

    def get(self, ticket_id: K, updated_at: object) -> T | None:
        """The value stored for this ticket at this ``updated_at``; None when it changed."""
        entry = self._entries.get(ticket_id)
        if entry is None or entry[0] != updated_at:
            return None
        return entry[1]

    def put(self, ticket_id: K, updated_at: object, value: T) -> None:
        self._entries[ticket_id] = (updated_at, value)

    def read(
        self, ticket_id: K, updated_at: object, read: Callable[[], tuple[T, bool]]
    ) -> tuple[T, bool]:
        """``(value, complete)``: the value kept for this ticket at this ``updated_at``, else
        what ``read()`` returns, kept only when it is complete (what could not all be read is
        read again at the next poll)."""
        kept = self.get(ticket_id, updated_at)
        if kept is not None:
            return kept, True
        value, complete = read()
        if complete:
            self.put(ticket_id, updated_at, value)
        return value, complete

    def prune(self, listed: Iterable[K]) -> None:
        """Forget every ticket not in ``listed``."""
        keep = set(listed)
        self._entries = {k: v for k, v in self._entries.items() if k in keep}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self._entries


def slowest(*throttles: float | None) -> float | None:
    """The longest of several throttle hints (None: no hint), for a snapshot made of several
    listings."""
    known = [t for t in throttles if t is not None]
    return max(known) if known else None


#: how often a connector that reads only what changed between polls lists every waiting ticket
#: again: what a "since" listing never shows (a deleted, merged or moved ticket) is gone by then
RELIST_EVERY = timedelta(minutes=15)


class Relist:
    """When to list every waiting ticket again rather than only what changed since the last look
    (Freshdesk's approach: a full listing every :data:`RELIST_EVERY`, "since" requests between).

    Due before the first listing, after ``every``, and after any listing that was not complete.
    """

    def __init__(self, every: timedelta = RELIST_EVERY) -> None:
        self.every = every
        self._at: datetime | None = None

    def due(self, now: datetime) -> bool:
        return self._at is None or now - self._at >= self.every

    def done(self, now: datetime, complete: bool) -> None:
        """A full listing ended at ``now``; an incomplete one makes the next poll list again."""
        self._at = now if complete else None

    def reset(self) -> None:
        """List everything at the next poll (a "since" request came back incomplete)."""
        self._at = None

    def look(
        self,
        now: datetime,
        list_all: Callable[[], bool],
        list_changes: Callable[[], bool],
        *,
        first: bool = False,
    ) -> bool:
        """List everything when due (or ``first``: nothing is known yet), else only what changed;
        True when what was read is complete."""
        if first or self.due(now):
            complete = list_all()
            self.done(now, complete)
        else:
            complete = list_changes()
            if not complete:
                self.reset()
        return complete


def earlier_clock(headers: Mapping[str, str], now: datetime) -> datetime:
    """The earlier of our clock and the server's (its ``Date`` header), for the next "changed
    since" request: a clock running ahead never makes it skip a change."""
    from email.utils import parsedate_to_datetime

    try:
        theirs = parsedate_to_datetime(str(headers.get("Date"))).astimezone(UTC)
    except (TypeError, ValueError):
        return now
    return min(now, theirs)


def link_header_next(page: Page) -> str | None:
    """The next page's URL from the response's ``Link: <...>; rel="next"`` header (RFC 8288)."""
    return (page.links.get("next") or {}).get("url")


def page_number(url: str) -> int:
    """The ``page`` query parameter of ``url``; 1 when it has none."""
    args = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return int(args.get("page", "1"))


def with_page(url: str, number: int) -> str:
    """``url`` asking for page ``number``, its other query parameters kept: for APIs that say
    nothing about further pages (no link, no cursor)."""
    parts = urlsplit(url)
    args = dict(parse_qsl(parts.query, keep_blank_values=True))
    args["page"] = str(number)
    return urlunsplit(parts._replace(query=urlencode(args)))
