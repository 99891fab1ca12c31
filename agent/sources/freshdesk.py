"""Freshdesk: open tickets waiting on an agent, by group.

The filter API (``GET /api/v2/search/tickets?query="status:2 AND (group_id:11 OR ...)"``)
lists open tickets of the watched groups server-side, 30 a page, at most 10 pages (300 tickets;
more marks the poll incomplete). Search results carry no ``stats``, so who wrote last comes from
the ticket's conversations (``/api/v2/tickets/{id}/conversations``): ``incoming`` public ones
are the customer's, outgoing public ones are replies, private notes answer nobody; the ticket's
own description is the customer's first message unless the ticket was an outbound email.
``waiting_since`` is the oldest customer message no reply has followed. Conversations are read
again only when the ticket's ``updated_at`` moved, so an idle poll costs one search request.

``due_at`` is Freshdesk's own SLA time: ``fr_due_by`` until the first reply, then ``nr_due_by``
(next response, on plans that have it) or ``due_by`` (resolution); None when Freshdesk gives
none. Status codes: 2 Open, 3 Pending, 4 Resolved, 5 Closed; accounts with custom statuses
that still mean "waiting on us" list them in ``statuses``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agent.model import Snapshot, Ticket, utcnow
from agent.sources.base import BadResponse, NotConfigured, Option, Source
from agent.sources.http import Page
from agent.sources.kit import CategoryResolver, TicketCache, parse_time, slowest, waiting_since

if TYPE_CHECKING:
    from agent.config import SourceConfig

PER_SEARCH_PAGE = 30  # fixed by Freshdesk
MAX_SEARCH_PAGES = 10  # Freshdesk's filter API stops at page 10 (300 tickets)
OUTBOUND_EMAIL = 10  # ticket source: an email the team sent first
PRIORITIES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
STATUS_NAMES = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}


def _time(value: Any, what: str) -> datetime | None:
    return parse_time(value, where=f"Freshdesk {what}")


def _objects(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise BadResponse(
            f"Freshdesk's answer is not a list of {what}; is the URL the Freshdesk address?",
            f"expected a JSON list of objects, got {str(data)[:200]}",
        )
    return data


def parse_groups(data: Any) -> dict[int, str]:
    groups = {}
    for g in _objects(data, "groups"):
        try:
            group_id = int(g["id"])
        except (KeyError, TypeError, ValueError):
            raise BadResponse("Freshdesk sent a group without a usable id", str(g)[:200]) from None
        groups[group_id] = str(g.get("name") or group_id)
    return groups


def parse_results(data: Any) -> tuple[list[dict[str, Any]], int]:
    """(tickets, total) of one filter-API page."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or not all(isinstance(t, dict) for t in results):
        raise BadResponse(
            "Freshdesk's answer has no list of results; is the URL the Freshdesk address?",
            f"expected results[], got {str(data)[:200]}",
        )
    total = data.get("total")
    return results, total if isinstance(total, int) else len(results)


def parse_conversations(data: Any) -> list[tuple[datetime, bool]]:
    """(time, from the customer) for each public conversation; private notes are left out."""
    messages = []
    for conv in _objects(data, "conversations"):
        if conv.get("private"):
            continue
        at = _time(conv.get("created_at"), "conversation created_at")
        if at is not None:
            messages.append((at, bool(conv.get("incoming"))))
    return messages


def search_query(statuses: Iterable[int], groups: Iterable[int]) -> str:
    """The filter-API query, wrapped in the double quotes Freshdesk requires."""
    status = " OR ".join(f"status:{s}" for s in statuses)
    parts = [f"({status})" if " OR " in status else status]
    group_ids = list(groups)
    if group_ids:
        group = " OR ".join(f"group_id:{g}" for g in group_ids)
        parts.append(f"({group})" if len(group_ids) > 1 else group)
    return '"' + " AND ".join(parts) + '"'


def parse_ticket(
    ticket: dict[str, Any],
    conversations: list[tuple[datetime, bool]],
    *,
    source: str,
    web: str,
    groups: dict[int, str],
    statuses: frozenset[int] = frozenset({2}),
    requester: str = "",
) -> Ticket | None:
    """The ticket for one search result, or None when it does not wait on an agent."""
    status_value = ticket.get("status")
    if not isinstance(status_value, (int, str)) or status_value not in statuses:
        return None
    tid = ticket.get("id")
    created = _time(ticket.get("created_at"), f"ticket {tid} created_at")
    if tid is None or created is None:
        raise BadResponse(
            "Freshdesk sent a ticket without an id or creation time", str(ticket)[:200]
        )
    opened_by_customer = ticket.get("source") != OUTBOUND_EMAIL
    since = waiting_since([(created, opened_by_customer), *conversations])
    if since is None:
        return None  # an agent replied last
    replied = any(not from_customer for _, from_customer in conversations)
    if not replied:
        due = _time(ticket.get("fr_due_by"), f"ticket {tid} fr_due_by")
    else:
        due = _time(ticket.get("nr_due_by"), f"ticket {tid} nr_due_by") or _time(
            ticket.get("due_by"), f"ticket {tid} due_by"
        )
    group = ticket.get("group_id")
    status = ticket["status"]
    return Ticket(
        source=source,
        id=str(tid),
        subject=str(ticket.get("subject") or ""),
        created_at=created,
        waiting_since=since,
        requester=requester,
        category=groups.get(group, str(group)) if group is not None else "",
        priority=PRIORITIES.get(ticket.get("priority"), ""),  # type: ignore[arg-type]
        status=STATUS_NAMES.get(status, str(status)),
        due_at=due,
        url=f"{web}/a/tickets/{tid}",
    )


def link_next(page: Page) -> str | None:
    return (page.links.get("next") or {}).get("url")


def search_next(page: Page) -> str | None:
    """The filter API has no next link: ask for the next page while one can exist."""
    results, total = parse_results(page.data)
    parts = urlsplit(page.url)
    args = dict(parse_qsl(parts.query, keep_blank_values=True))
    number = int(args.get("page", "1"))
    if number >= MAX_SEARCH_PAGES or number * PER_SEARCH_PAGE >= total or not results:
        return None
    args["page"] = str(number + 1)
    return urlunsplit(parts._replace(query=urlencode(args)))


class FreshdeskSource(Source):
    kind = "freshdesk"
    description = "Freshdesk: open tickets waiting on an agent, by group, with SLA due times"
    required = (Option("url", "Freshdesk address", help="e.g. https://acme.freshdesk.com"),)
    optional = (
        Option(
            "statuses",
            "Waiting statuses",
            list,
            ["2"],
            "status codes that mean waiting on an agent: 2 = Open, plus any custom ones",
        ),
    )
    secret_label = "API key"  # noqa: S105 - a label, not a secret
    category_label = "Groups"

    def __init__(
        self,
        config: SourceConfig,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(config, secret, clock)
        raw = self.option("statuses") or ["2"]
        try:
            self.statuses = frozenset(int(str(s).strip()) for s in raw)  # type: ignore[union-attr]
        except ValueError:
            raise NotConfigured(
                f"{self.name}: statuses must be Freshdesk status numbers (2 = Open), not {raw!r}"
            ) from None
        self.web = re.sub(r"/api(/v2)?/?$", "", config.url.rstrip("/"))
        self.client = self.http(
            f"{self.web}/api/v2",
            auth=(secret, "X"),
        )
        self.groups: CategoryResolver = CategoryResolver(
            self._read_groups, what="group", helpdesk="Freshdesk"
        )
        #: each ticket's public conversations and requester email, while ``updated_at`` stays
        self._convs: TicketCache[int, tuple[list[tuple[datetime, bool]], str]] = TicketCache()
        self._throttle: float | None = None

    def _read_groups(self) -> dict[int, str]:
        groups: dict[int, str] = {}
        for page in self.client.paginate("groups", {"per_page": 100}, link_next):
            groups.update(parse_groups(page.data))
        return groups

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        self.groups.new_fetch()
        wanted: list[int] = []
        if self.config.categories:
            wanted = list(self.groups.ids(self.config.categories))
        params = {"query": search_query(sorted(self.statuses), wanted)}
        found: dict[int, dict[str, Any]] = {}
        complete = True
        pages = self.client.paginate("search/tickets", params, search_next)
        self._throttle = pages.throttle
        for page in pages:
            results, total = parse_results(page.data)
            complete = complete and total <= PER_SEARCH_PAGE * MAX_SEARCH_PAGES
            for item in results:
                if "id" in item and (not wanted or item.get("group_id") in wanted):
                    found[item["id"]] = item
        complete = complete and pages.complete
        for item in found.values():
            if item.get("group_id"):
                self.groups.name(item["group_id"])  # an unknown group reads the table again
        groups = self.groups.table()
        tickets = []
        for tid, item in found.items():
            if item.get("status") not in self.statuses:
                continue
            convs, requester, read_all = self._conversations(tid, item)
            complete = complete and read_all
            ticket = parse_ticket(
                item,
                convs,
                source=self.name,
                web=self.web,
                groups=groups,
                statuses=self.statuses,
                requester=requester,
            )
            if ticket is not None:
                tickets.append(ticket)
        if complete:
            self._convs.prune(found)
        return Snapshot(self.name, tuple(tickets), now, complete, self._throttle)

    def _conversations(
        self, tid: int, ticket: dict[str, Any]
    ) -> tuple[list[tuple[datetime, bool]], str, bool]:
        """The ticket's public conversations, read again only when the ticket changed."""
        updated = str(ticket.get("updated_at") or "")
        cached = self._convs.get(tid, updated)
        if cached is not None:
            return cached[0], cached[1], True
        messages: list[tuple[datetime, bool]] = []
        requester = ""
        path = f"tickets/{tid}/conversations"
        pages = self.client.paginate(path, {"per_page": 100}, link_next)
        self._throttle = slowest(self._throttle, pages.throttle)
        for page in pages:
            messages.extend(parse_conversations(page.data))
            if not requester:
                requester = next(
                    (
                        str(c.get("from_email") or "")
                        for c in page.data
                        if c.get("incoming") and c.get("from_email")
                    ),
                    "",
                )
        if not pages.complete:
            return messages, requester, False
        self._convs.put(tid, updated, (messages, requester))
        return messages, requester, True

    def list_categories(self) -> list[str]:
        return sorted(self.groups.reload().values())

    def close(self) -> None:
        self.client.close()
