"""Request Tracker 5 (REST2): new and open tickets by queue, with RT's Due date.

One TicketSQL search (``(Status = 'new' OR Status = 'open') AND (Queue = 'A' OR ...)``, 100 a
page, with ``fields=`` for everything shown) lists the candidates. RT has no "customer wrote
last" field; ``Told`` is the last time someone other than a requestor corresponded with the
customer. So: ``Told`` unset → nobody answered yet, waiting since ``Created``; ``LastUpdated``
not after ``Told`` → we answered last, not waiting; otherwise the ticket's history
(``/ticket/{id}/history``) decides: ``waiting_since`` is the oldest requestor ``Correspond``
after our last correspondence, and a ticket moved only by comments or status changes does not
wait. History is read again only when ``LastUpdated`` moved, so an idle poll costs one search.

``due_at`` is the ticket's ``Due`` (set by hand or by RT's SLA extension); unset (RT's
1970 sentinel) means None, and the response window decides. ``url`` is RT's
``/Ticket/Display.html?id=N`` under the configured address (include RT's WebPath).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent.model import Snapshot, Ticket, utcnow
from agent.sources.base import BadResponse, Option, Source
from agent.sources.http import Page
from agent.sources.kit import parse_time, slowest, waiting_since

if TYPE_CHECKING:
    from agent.config import SourceConfig

PER_PAGE = 100
FIELDS = "Subject,Status,Queue,Owner,Requestor,Created,LastUpdated,Told,Due"
CORRESPONDENCE = frozenset({"Create", "Correspond"})
_ODD_DATE = re.compile(r"^(\d{4}-\d\d-\d\d)[ T:](\d\d:\d\d(?::\d\d)?)(.*)$")


def _time(value: Any, what: str) -> datetime | None:
    """RT dates: ISO 8601 UTC; also the ``2018-06-29:10:25Z`` form seen in RT's own docs."""
    return parse_time(value, where=f"Request Tracker {what}", assume_utc=True)


def parse_items(data: Any) -> list[dict[str, Any]]:
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadResponse(
            "Request Tracker's answer has no list of items; is the URL the RT address "
            "(with its WebPath) and REST2 enabled?",
            f"expected items[], got {str(data)[:200]}",
        )
    return items


def next_page(page: Page) -> str | None:
    nxt = page.data.get("next_page") if isinstance(page.data, dict) else None
    return nxt if isinstance(nxt, str) and nxt else None


def _ref_id(value: Any) -> str:
    """The id of a user/queue reference ``{"id": ..., "type": ..., "_url": ...}``."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ticket_sql(statuses: Iterable[str], queues: Iterable[str]) -> str:
    query = "(" + " OR ".join(f"Status = {_quote(s)}" for s in statuses) + ")"
    names = list(queues)
    if names:
        query += " AND (" + " OR ".join(f"Queue = {_quote(q)}" for q in names) + ")"
    return query


def requestors(ticket: dict[str, Any]) -> frozenset[str]:
    people = ticket.get("Requestor")
    return frozenset(
        _ref_id(p).casefold() for p in (people if isinstance(people, list) else ()) if _ref_id(p)
    )


def parse_history(data: Any, customers: frozenset[str]) -> list[tuple[datetime, bool]]:
    """(time, by a requestor) for each correspondence transaction of one history page."""
    messages = []
    for item in parse_items(data):
        if item.get("Type") not in CORRESPONDENCE:
            continue  # comments, status and field changes answer nobody
        at = _time(item.get("Created"), "transaction Created")
        if at is not None:
            messages.append((at, _ref_id(item.get("Creator")).casefold() in customers))
    return messages


def needs_history(ticket: dict[str, Any]) -> bool:
    """Whether only the history can tell: someone answered, and the ticket moved since."""
    tid = ticket.get("id")
    told = _time(ticket.get("Told"), f"ticket {tid} Told")
    updated = _time(ticket.get("LastUpdated"), f"ticket {tid} LastUpdated")
    return told is not None and updated is not None and updated > told


def parse_ticket(
    ticket: dict[str, Any],
    history: list[tuple[datetime, bool]] | None,
    *,
    source: str,
    web: str,
    statuses: frozenset[str] = frozenset({"new", "open"}),
) -> Ticket | None:
    """The ticket for one search item, or None when it does not wait on the team.

    ``history`` is the ticket's correspondence (see :func:`parse_history`); it is only needed
    when :func:`needs_history` says so.
    """
    if str(ticket.get("Status") or "").casefold() not in statuses:
        return None
    tid = ticket.get("id")
    created = _time(ticket.get("Created"), f"ticket {tid} Created")
    if tid is None or created is None:
        raise BadResponse(
            "Request Tracker sent a ticket without an id or creation time", str(ticket)[:200]
        )
    told = _time(ticket.get("Told"), f"ticket {tid} Told")
    if told is None:
        since: datetime | None = created  # nobody has answered yet
    elif not needs_history(ticket):
        return None  # we answered last and nothing happened since
    else:
        since = waiting_since(history or [])
        if since is None:
            return None  # only comments or status changes since our reply
    queue = ticket.get("Queue")
    owner = ticket.get("Owner")
    owner_name = ""
    if isinstance(owner, dict):
        owner_name = str(owner.get("RealName") or owner.get("Name") or owner.get("id") or "")
    people = ticket.get("Requestor")
    first = people[0] if isinstance(people, list) and people else {}
    requester = ""
    if isinstance(first, dict):
        requester = str(first.get("RealName") or first.get("EmailAddress") or first.get("id") or "")
    return Ticket(
        source=source,
        id=str(tid),
        subject=str(ticket.get("Subject") or ""),
        created_at=created,
        waiting_since=since,
        requester=requester,
        category=str(queue.get("Name") or queue.get("id") or "") if isinstance(queue, dict) else "",
        status=str(ticket.get("Status") or ""),
        due_at=_time(ticket.get("Due"), f"ticket {tid} Due"),
        url=f"{web}/Ticket/Display.html?id={tid}",
        assignee="" if owner_name == "Nobody" else owner_name,
    )


class RTSource(Source):
    kind = "rt"
    description = "Request Tracker 5 (REST2): new and open tickets awaiting a reply, by queue"
    required = (Option("url", "RT address", help="e.g. https://rt.example.com (with WebPath)"),)
    optional = (
        Option(
            "statuses",
            "Waiting statuses",
            list,
            ["new", "open"],
            "statuses that mean waiting on the team (stalled usually does not)",
        ),
    )
    secret_label = "Auth token"  # noqa: S105 - a label, not a secret
    category_label = "Queues"

    def __init__(
        self,
        config: SourceConfig,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(config, secret, clock)
        self.statuses = frozenset(
            str(s).casefold()
            for s in (self.option("statuses") or ("new", "open"))  # type: ignore[union-attr]
        )
        self.web = re.sub(r"/REST/2\.0/?$", "", config.url.rstrip("/"), flags=re.IGNORECASE)
        self.client = self.http(
            f"{self.web}/REST/2.0",
            headers={"Authorization": f"token {secret}"},
        )
        # ticket id -> (LastUpdated it was read at, its correspondence)
        self._history: dict[str, tuple[str, list[tuple[datetime, bool]]]] = {}
        self._throttle: float | None = None

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        params = {
            "query": ticket_sql(sorted(self.statuses), self.config.categories),
            "fields": FIELDS,
            "fields[Queue]": "Name",
            "fields[Owner]": "Name,RealName",
            "fields[Requestor]": "Name,EmailAddress,RealName",
            "orderby": "Created",
            "order": "ASC",
            "per_page": PER_PAGE,
            "page": 1,
        }
        found: dict[str, dict[str, Any]] = {}
        listing = self.client.paginate("tickets", params, next_page)
        self._throttle = listing.throttle
        for page in listing:
            for item in parse_items(page.data):
                queue = item.get("Queue")
                name = str(queue.get("Name") or "") if isinstance(queue, dict) else ""
                if "id" in item and (not self.config.categories or self.wants(name)):
                    found[str(item["id"])] = item
        complete = listing.complete
        tickets = []
        for tid, item in found.items():
            history = None
            if needs_history(item):
                history, read_all = self._read_history(tid, item)
                complete = complete and read_all
            ticket = parse_ticket(
                item, history, source=self.name, web=self.web, statuses=self.statuses
            )
            if ticket is not None:
                tickets.append(ticket)
        self._history = {t: hx for t, hx in self._history.items() if t in found}
        return Snapshot(self.name, tuple(tickets), now, complete, self._throttle)

    def _read_history(
        self, tid: str, ticket: dict[str, Any]
    ) -> tuple[list[tuple[datetime, bool]], bool]:
        updated = str(ticket.get("LastUpdated") or "")
        cached = self._history.get(tid)
        if cached and cached[0] == updated:
            return cached[1], True
        customers = requestors(ticket)
        messages: list[tuple[datetime, bool]] = []
        params = {"fields": "Type,Creator,Created", "per_page": PER_PAGE, "page": 1}
        pages = self.client.paginate(f"ticket/{tid}/history", params, next_page)
        self._throttle = slowest(self._throttle, pages.throttle)
        for page in pages:
            messages.extend(parse_history(page.data, customers))
        if not pages.complete:
            return messages, False
        self._history[tid] = (updated, messages)
        return messages, True

    def list_categories(self) -> list[str]:
        names: list[str] = []
        params = {"fields": "Name", "per_page": PER_PAGE, "page": 1}
        for page in self.client.paginate("queues/all", params, next_page):
            names.extend(str(q.get("Name") or q.get("id")) for q in parse_items(page.data))
        return sorted(names)

    def close(self) -> None:
        self.client.close()
