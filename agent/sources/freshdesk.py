"""Freshdesk: open tickets waiting on an agent, by group.

The filter API (``GET /api/v2/search/tickets?query="status:2 AND (group_id:11 OR ...)"``)
lists the tickets in a waiting status of the watched groups server-side, 30 a page, at most 10
pages (300 tickets; more marks the poll incomplete). A query may be at most 512 characters, so
many groups are split into several queries. Which statuses wait on the team is read from the
status field's choices (``/api/v2/ticket_fields``): Open, and every custom status whose SLA timer
runs and that the customer is not shown as "awaiting your reply" (like Pending); the
``statuses`` option overrides that.

Who wrote last, and since when the customer waits, come from the ticket's ``stats``
(``requester_responded_at``, ``agent_responded_at``, ``first_responded_at``; see
:func:`parse_stats`), read for every changed ticket in one sweep of the tickets list
(``/api/v2/tickets?include=stats,requester&updated_since=...``, 100 a page), since the filter
API carries no stats. Only a ticket the sweep did not reach has its conversations read: a
conversation is the customer's when its author (``user_id``) is the requester or another
contact (a contact lookup tells a contact from an agent), whatever ``incoming`` says (it only
means "came from outside the portal"). Private notes answer nobody. A ticket is read again only
when its ``updated_at`` moved.

Between two full listings (every 15 minutes, :class:`agent.sources.kit.Relist`) only what changed
is read: the tickets list with ``updated_since`` the last change seen (live, no index delay)
brings new tickets, answers and status changes, so an idle poll costs one request. The full
listing catches what that list never shows again (deleted and spam tickets).

``due_at`` is Freshdesk's own response time: ``fr_due_by`` until the first reply, then
``nr_due_by`` (next response, on plans that have it), never the resolution ``due_by``; None when
Freshdesk gives none and the response window decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from agent.i18n import N_, Text
from agent.model import Snapshot, Ticket
from agent.sources import kit
from agent.sources.base import BadResponse, Forbidden, NotConfigured, NotFound, Option, Source
from agent.sources.http import Page, Pages
from agent.sources.http_limits import throttle_hint

NextUrl = Callable[[Page], str | None]
PER_SEARCH_PAGE = 30  # fixed by Freshdesk
MAX_SEARCH_PAGES = 10  # Freshdesk's filter API stops at page 10 (300 tickets)
MAX_QUERY = 512  # characters of a filter query, its double quotes included
MAX_STATS_PAGES = 10  # of 100 tickets: beyond, the rest read their conversations
NO_RESULTS = N_("Freshdesk's answer has no list of results; is the URL the Freshdesk address?")
#: how late the filter API's index may be ("a few minutes", developers.freshdesk.com/api/)
INDEX_DELAY = timedelta(minutes=5)
OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5
OUTBOUND_EMAIL = 10  # ticket source: an email the team sent first
PRIORITIES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
STATUS_NAMES = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}


def _time(value: Any, what: str) -> datetime | None:
    return kit.parse_time(value, where=f"Freshdesk {what}")


def _objects(data: Any, what: str) -> list[dict[str, Any]]:
    return kit.list_of_objects(data, what, helpdesk="Freshdesk")


def parse_groups(data: Any) -> dict[int, str]:
    groups = {}
    for g in _objects(data, "groups"):
        try:
            group_id = int(g["id"])
        except (KeyError, TypeError, ValueError):
            text = Text(N_("Freshdesk sent a group without a usable id"))
            raise BadResponse(text, str(g)[:200]) from None
        groups[group_id] = kit.text_of(g, "name") or str(group_id)
    return groups


def parse_status_field(data: Any) -> frozenset[int]:
    """The statuses that wait on the team, from the ticket fields' status choices.

    Open always does. A custom status (above 5) does unless it stops the SLA timer or shows the
    customer the same words as Pending ("Awaiting your reply"): both mean the ball is not in
    the team's court. Freshdesk documents the choices as ``{"id": [agent label, customer
    label]}``; its newer form, a list of ``{value/id, customer_display_name, stop_sla_timer,
    deleted}``, is read too.
    """
    field = next(
        (f for f in _objects(data, "ticket fields")
         if f.get("name") == "status" or f.get("type") == "default_status"),
        None,
    )  # fmt: skip
    if field is None:
        raise BadResponse(
            Text(N_("Freshdesk's ticket fields have no status field")), f"got {str(data)[:200]}"
        )
    choices: list[tuple[int, str | None, bool | None, bool]] = []  # id, label, stops, deleted
    raw = field.get("choices")
    if isinstance(raw, dict):
        for key, labels in raw.items():
            label = labels[1] if isinstance(labels, list) and len(labels) > 1 else None
            choices.append(
                (_status_id(key), label if isinstance(label, str) else None, None, False)
            )
    elif isinstance(raw, list):
        for choice in raw:
            if not isinstance(choice, dict):
                raise BadResponse(
                    Text(N_("Freshdesk sent a status choice that is not an object")), str(raw)[:200]
                )
            label = choice.get("customer_display_name", choice.get("label_for_customers"))
            stops = choice.get("stop_sla_timer")
            choices.append((
                _status_id(choice.get("value", choice.get("id"))),
                label if isinstance(label, str) else None,
                stops if isinstance(stops, bool) else None,
                choice.get("deleted") is True,
            ))  # fmt: skip
    else:
        raise BadResponse(Text(N_("Freshdesk's status field has no choices")), str(field)[:200])
    pending = next((label for sid, label, _, _ in choices if sid == PENDING), None)
    waiting = {OPEN}
    for sid, label, stops, deleted in choices:
        if sid <= CLOSED or deleted or stops is True:
            continue
        if pending is not None and label is not None and label.casefold() == pending.casefold():
            continue  # shown to the customer like Pending: waiting on them
        waiting.add(sid)
    return frozenset(waiting)


def _status_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        text = Text(N_("Freshdesk sent a status without a number"))
        raise BadResponse(text, repr(value)[:200]) from None


def parse_results(data: Any) -> tuple[list[dict[str, Any]], int]:
    """(tickets, total) of one filter-API page."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or not all(isinstance(t, dict) for t in results):
        raise BadResponse(
            Text(NO_RESULTS),
            f"expected results[], got {str(data)[:200]}",
        )
    total = data.get("total")
    return results, total if isinstance(total, int) else len(results)


def parse_stats(ticket: dict[str, Any]) -> list[kit.Message] | None:
    """The public messages a ticket's ``stats`` stand for; None when it carries no stats.

    Freshdesk keeps ``agent_responded_at`` at the team's last public reply or note and sets
    ``requester_responded_at`` only for the *first* message of a contact after it (a contact's
    next messages are "consecutive" and leave it; before any reply it stays empty, except on an
    email the team sent first) — Helpdesk::Note#save_response_time and
    TicketState#consecutive_customer_response? in Freshdesk's helpdesk source. So: no reply yet,
    the description waits (an outbound email: the customer's first answer, if any); a contact
    wrote after the team's last reply, it waits since then; else the team answered.
    """
    stats = ticket.get("stats")
    if not isinstance(stats, dict):
        return None
    tid = ticket.get("id")
    agent = [
        at
        for key in ("agent_responded_at", "first_responded_at")
        if (at := _time(stats.get(key), f"ticket {tid} stats {key}")) is not None
    ]
    customer = _time(stats.get("requester_responded_at"), f"ticket {tid} requester_responded_at")
    if not agent:
        return [] if customer is None else [(customer, True)]
    last_agent = max(agent)
    if customer is None or customer < last_agent:  # in the same second: the customer waits
        return [(last_agent, False)]
    return [(last_agent, False), (customer, True)]


def conversation_authors(data: Any) -> set[int]:
    """The ``user_id`` of each public conversation of one page."""
    return {
        conv["user_id"]
        for conv in _objects(data, "conversations")
        if not conv.get("private") and isinstance(conv.get("user_id"), int)
    }


def parse_conversations(
    data: Any, requester_id: Any, users: dict[int, bool] | None = None
) -> list[kit.Message]:
    """(time, from the customer) for each public conversation; private notes are left out.

    A conversation is the customer's when its author is the requester or another contact
    (``users``: user id -> is a contact); ``incoming`` only says it came from outside the portal
    (a requester's portal reply is not incoming). An author nobody could tell counts as the
    customer's, so a ticket is never taken as answered by someone unknown.
    """
    users = users or {}
    messages = []
    for conv in _objects(data, "conversations"):
        if conv.get("private"):
            continue
        at = _time(conv.get("created_at"), "conversation created_at")
        if at is None:
            continue
        author: Any = conv.get("user_id")  # a JSON number (or missing: the customer's)
        messages.append((at, author == requester_id or users.get(author, True)))
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


def search_queries(statuses: Iterable[int], groups: Iterable[int]) -> list[str]:
    """The filter queries for these statuses and groups, none longer than 512 characters."""
    statuses, groups = list(statuses), list(groups)
    if len(search_query(statuses, groups[:1])) > MAX_QUERY:
        text = N_("too many waiting statuses for one Freshdesk filter query: {count}")
        raise NotConfigured(Text(text, count=len(statuses)))
    queries: list[str] = []
    chunk: list[int] = []
    for group in groups:
        if chunk and len(search_query(statuses, [*chunk, group])) > MAX_QUERY:
            queries.append(search_query(statuses, chunk))
            chunk = []
        chunk.append(group)
    queries.append(search_query(statuses, chunk))
    return queries


def _updated(ticket: dict[str, Any]) -> str:
    """A ticket's ``updated_at`` as Freshdesk wrote it (ISO 8601 UTC: sorts as text)."""
    return kit.text_of(ticket, "updated_at")


def _minus(stamp: str, delta: timedelta) -> str:
    """An ``updated_at`` moved back by ``delta``, in Freshdesk's format."""
    at = kit.parse_time(stamp, where="Freshdesk updated_at")
    return stamp if at is None else (at - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def requester_name(ticket: dict[str, Any]) -> str:
    """The requester's name or email from ``include=requester``; empty when not embedded."""
    requester = ticket.get("requester")
    if not isinstance(requester, dict):
        return ""
    return kit.text_of(requester, "name", "email")


def parse_ticket(
    ticket: dict[str, Any],
    conversations: list[kit.Message],
    *,
    source: str,
    web: str,
    groups: dict[int, str],
    statuses: frozenset[int] = frozenset({OPEN}),
    requester: str = "",
) -> Ticket | None:
    """The ticket for one search result, or None when it does not wait on an agent.

    ``conversations`` are its public messages after the description (see
    :func:`parse_conversations` and :func:`parse_stats`).
    """
    status_value = ticket.get("status")
    if not isinstance(status_value, (int, str)) or status_value not in statuses:
        return None
    tid, created = kit.id_and_created(ticket, "created_at", helpdesk="Freshdesk")
    opened_by_customer = ticket.get("source") != OUTBOUND_EMAIL
    since = kit.waiting_since([(created, opened_by_customer), *conversations])
    if since is None:
        return None  # an agent replied last
    replied = not opened_by_customer or any(not c for _, c in conversations)
    key = "nr_due_by" if replied else "fr_due_by"  # never due_by: that is the resolution
    due = _time(ticket.get(key), f"ticket {tid} {key}")
    status = ticket["status"]
    return Ticket(
        source=source,
        id=str(tid),
        subject=kit.text_of(ticket, "subject"),
        created_at=created,
        waiting_since=since,
        requester=requester,
        category=kit.category_name(groups, ticket.get("group_id")),
        priority=PRIORITIES.get(ticket["priority"], "") if "priority" in ticket else "",
        status=STATUS_NAMES.get(status, str(status)),
        due_at=due,
        url=f"{web}/a/tickets/{tid}",
    )


def changed_since(stamp: str, order: str) -> dict[str, Any]:
    """The tickets list's parameters for the tickets changed since ``stamp``, with their stats
    and requester, 100 a page, ``order`` ("asc" or "desc") by change."""
    return {
        "include": "stats,requester",
        "updated_since": stamp,
        "order_by": "updated_at",
        "order_type": order,
        "per_page": 100,
    }


def search_next(page: Page) -> str | None:
    """The filter API has no next link: ask for the next page while one can exist."""
    results, total = parse_results(page.data)
    number = kit.page_number(page.url)
    if number >= MAX_SEARCH_PAGES or number * PER_SEARCH_PAGE >= total or not results:
        return None
    return kit.with_page(page.url, number + 1)


class FreshdeskSource(Source):
    kind = "freshdesk"
    title = "Freshdesk"
    description = N_("Freshdesk: open tickets waiting on an agent, by group, with SLA due times")
    required = (Option("url", N_("Freshdesk address"), help=N_("e.g. https://acme.freshdesk.com")),)
    optional = (
        Option(
            "statuses",
            N_("Waiting statuses"),
            list,
            [],
            N_(
                "status numbers that mean waiting on an agent (2 = Open); empty: read from "
                "Freshdesk's status field (Open, and custom statuses whose SLA timer runs and that "
                "the customer does not see as awaiting their reply)"
            ),
        ),
    )
    secret_label = N_("API key")
    credential_steps = N_(  # the README's steps
        "in Freshdesk, click your profile picture → Profile settings → View API Key (next to "
        "the password fields), copy it"
    )
    category_label = N_("My groups (none ticked: all of them)")
    #: pages of the tickets list one stats sweep may read
    stats_pages = MAX_STATS_PAGES

    def set_up(self) -> None:
        raw = self.option_texts("statuses")
        try:
            chosen = frozenset(int(s.strip()) for s in raw)
        except ValueError:
            text = N_("{name}: statuses must be Freshdesk status numbers (2 = Open), not {raw}")
            raise NotConfigured(Text(text, name=self.name, raw=repr(raw))) from None
        self.web = re.sub(r"/api(/v2)?/?$", "", self.config.url.rstrip("/"))
        self.client = self.http(f"{self.web}/api/v2", auth=(self.secret, "X"))
        self.groups: kit.CategoryResolver[int] = kit.CategoryResolver(
            self._read_groups, what="group", helpdesk="Freshdesk"
        )
        self._statuses: frozenset[int] | None = chosen or None
        # user id -> is a contact (the customer's side), for authors other than the requester
        self._authors: dict[int, bool] = {}
        #: the tickets waiting now, as last read (live from the tickets list where it gave them)
        self._waiting: dict[int, dict[str, Any]] = {}
        #: the ``updated_since`` of the next look for changes; None: list them all
        self._mark: str | None = None
        self._relist = kit.Relist()
        #: each ticket's public messages after its description and its requester, while its
        #: ``updated_at`` stays the same
        self._read: kit.TicketCache[int, tuple[list[kit.Message], str]] = kit.TicketCache()
        self._throttle: float | None = None

    def _read_groups(self) -> dict[int, str]:
        groups: dict[int, str] = {}
        for page in self.client.paginate("groups", {"per_page": 100}, kit.link_header_next):
            groups.update(parse_groups(page.data))
        return groups

    def _read_statuses(self) -> frozenset[int]:
        page = self._get("ticket_fields", {"type": "default_status"})
        self._statuses = parse_status_field(page.data)
        return self._statuses

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Page:
        """One request outside a listing, its quota hint kept for the snapshot."""
        page = self.client.get_json(path, params)
        self._throttle = kit.slowest(self._throttle, throttle_hint(page.headers))
        return page

    def _paginate(self, path: str, params: dict[str, Any], next_url: NextUrl) -> Pages:
        """One listing, its quota hint kept for the snapshot."""
        pages = self.client.paginate(path, params, next_url)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        return pages

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        self.groups.new_fetch()
        self._throttle = None
        statuses = self._statuses if self._statuses is not None else self._read_statuses()
        wanted: list[int] = []
        if self.config.categories:
            wanted = list(self.groups.ids(self.config.categories))
        complete = self._relist.look(
            now,
            lambda: self._list_waiting(statuses, wanted),
            lambda: self._list_changes(statuses, wanted),
            first=self._mark is None,
        )
        tickets, all_read = self._tickets(statuses)
        complete = complete and all_read
        if complete:
            self._read.prune(self._waiting)
        else:
            self._relist.reset()  # list them all again next time
        return Snapshot(self.name, tuple(tickets), now, complete, self._throttle)

    def _tickets(self, statuses: frozenset[int]) -> tuple[list[Ticket], bool]:
        """The waiting tickets' tickets; False when a ticket's conversations were not all read
        (that ticket is left out)."""
        for ticket in self._waiting.values():
            if ticket.get("group_id"):
                self.groups.name(ticket["group_id"])  # an unknown group reads the table again
        groups = self.groups.table()
        tickets, all_read = [], True
        for tid, ticket in self._waiting.items():
            read = self._messages(tid, ticket)
            if read is None:
                all_read = False
                continue
            messages, requester = read
            parsed = parse_ticket(
                ticket, messages, source=self.name, web=self.web, groups=groups,
                statuses=statuses, requester=requester,
            )  # fmt: skip
            if parsed is not None:
                tickets.append(parsed)
        return tickets, all_read

    def _list_waiting(self, statuses: frozenset[int], wanted: list[int]) -> bool:
        """List every waiting ticket with the filter API; True when all were read.

        The filter API carries no stats and its index is minutes late: tickets it shows changed
        are read again from the tickets list (:meth:`_read_stats`), which is live.
        """
        found: dict[int, dict[str, Any]] = {}
        complete = True
        for query in search_queries(sorted(statuses), wanted):
            pages = self._paginate("search/tickets", {"query": query}, search_next)
            for page in pages:
                results, total = parse_results(page.data)
                complete = complete and total <= PER_SEARCH_PAGE * MAX_SEARCH_PAGES
                for item in results:
                    if "id" in item and (not wanted or item.get("group_id") in wanted):
                        found[item["id"]] = item
            complete = complete and pages.complete
        known = self._waiting
        changed = [
            item
            for tid, item in found.items()
            if tid not in known or _updated(known[tid]) < _updated(item)
        ]
        live = self._read_stats(changed)
        moved = {item["id"] for item in changed}
        self._waiting = {
            tid: live.get(tid, item) if tid in moved else known[tid] for tid, item in found.items()
        }
        # the filter index may miss the last minutes: the next "since" request starts before
        stamps = [_updated(t) for t in found.values() if _updated(t)]
        self._mark = _minus(max(stamps), INDEX_DELAY) if stamps else None
        return complete

    def _list_changes(self, statuses: frozenset[int], wanted: list[int]) -> bool:
        """Bring the waiting tickets up to date from the tickets changed since the last look
        (one request when nothing changed); True when all changes were read."""
        # a second early: whether Freshdesk counts "since" inclusively is not documented
        params = changed_since(_minus(self._mark or "", timedelta(seconds=1)), "asc")
        pages = self._paginate("tickets", params, kit.link_header_next)
        for page in pages:
            for ticket in _objects(page.data, "tickets"):
                tid = ticket.get("id")
                if tid is None:
                    continue
                group = ticket.get("group_id")
                if ticket.get("status") in statuses and (not wanted or group in wanted):
                    self._waiting[tid] = ticket
                else:
                    self._waiting.pop(tid, None)  # answered, pending, resolved or moved away
                if _updated(ticket) > (self._mark or ""):
                    self._mark = _updated(ticket)
        return pages.complete

    def _messages(self, tid: int, ticket: dict[str, Any]) -> tuple[list[kit.Message], str] | None:
        """A ticket's public messages after its description and its requester, from its stats
        where they suffice, else from its conversations; None when those were not all read.
        Read again only when the ticket's ``updated_at`` moved."""
        updated = _updated(ticket)
        read = self._read.get(tid, updated)
        if read is not None:
            return read
        requester = requester_name(ticket)
        messages = parse_stats(ticket)
        if messages is None:
            messages, author_email, read_all = self._conversations(tid, ticket)
            if not read_all:
                return None
            requester = requester or author_email
        self._read.put(tid, updated, (messages, requester))
        return messages, requester

    def _read_stats(self, tickets: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """``tickets`` as the tickets list shows them with their stats, newest change first.

        One sweep of ``/tickets?include=stats,requester&updated_since=`` the oldest change;
        it stops once every ticket asked for was seen (or after ``stats_pages`` pages: the
        tickets not seen then read their conversations).
        """
        times = [str(t.get("updated_at")) for t in tickets if t.get("updated_at")]
        if not times:
            return {}
        wanted = {t["id"] for t in tickets}
        seen: dict[int, dict[str, Any]] = {}
        url: str = "tickets"
        query: dict[str, Any] | None = changed_since(min(times), "desc")
        for _ in range(self.stats_pages):  # followed by hand: it stops once all are seen
            page = self._get(url, query)
            for item in _objects(page.data, "tickets"):
                if item.get("id") in wanted:
                    seen[item["id"]] = item
            following = kit.link_header_next(page)
            if not following or len(seen) == len(wanted):
                break
            url, query = following, None
        return seen

    def _conversations(
        self, tid: int, ticket: dict[str, Any]
    ) -> tuple[list[kit.Message], str, bool]:
        """(public messages, the requester's email, read them all) of one ticket."""
        path = f"tickets/{tid}/conversations"
        listing = self._paginate(path, {"per_page": 100}, kit.link_header_next)
        pages = [page.data for page in listing]
        read_all = listing.complete
        requester_id = ticket.get("requester_id")
        for data in pages:
            for author in conversation_authors(data) - {requester_id} - self._authors.keys():
                self._authors[author] = self._is_contact(author)
        messages = [
            m for data in pages for m in parse_conversations(data, requester_id, self._authors)
        ]
        email = next(
            (
                str(conv["from_email"])
                for data in pages
                for conv in data
                if conv.get("user_id") == requester_id and conv.get("from_email")
            ),
            "",
        )
        return messages, email, read_all

    def _is_contact(self, user_id: int) -> bool:
        """A contact is a customer; an agent is not one (``/contacts/{id}`` answers 404)."""
        try:
            self._get(f"contacts/{user_id}")
        except NotFound:
            return False
        except Forbidden as exc:
            text = N_(
                "Freshdesk does not let this API key view contacts, which Ticketbell needs to "
                "tell a customer's reply from an agent's; give the agent the contacts privilege"
            )
            raise Forbidden(Text(text), exc.detail) from None
        return True

    def list_categories(self) -> list[str]:
        return sorted(self.groups.reload().values())

    def close(self) -> None:
        self.client.close()
