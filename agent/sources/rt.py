"""Request Tracker 5 (REST2): new and open tickets by queue.

One TicketSQL search (``(Status = 'new' OR Status = 'open') AND (Queue = 'A' OR ...)``, 100 a
page, with ``fields=`` for everything shown) lists the candidates.

Who answers: only the team, that is RT's privileged users (``/users/privileged``, read once an
hour), and the ticket's Owner and AdminCc. RT's own ``Told`` is no proof of an answer: RT sets
it for correspondence from anyone who is not a requestor (RT's source says it "will wrongly ack
mail from any non-requestor"), so a customer's colleague on Cc writing moves it too. So:
``Told`` unset → nobody but the requestors wrote, waiting since ``Created``; the last update is
the correspondence that set ``Told`` and its author (``LastUpdatedBy``) is the team → answered;
otherwise the ticket's history (``/ticket/{id}/history``) decides: ``waiting_since`` is the
oldest correspondence by anyone outside the team after the team's last, and a ticket moved only
by comments or status changes since the team's reply does not wait. History is read again only
when ``LastUpdated`` moved, so an idle poll costs one search. When the token may not list users
(403), only Owner and AdminCc count as the team: a reply by other staff then rings rather than
hides a ticket.

Between two full listings (every 15 minutes, :class:`agent.sources.kit.Relist`), only what
changed is read: ``LastUpdated > 'N minutes ago'`` (every status and queue, matched here), N the
minutes since the last look plus five. Every transaction sets ``LastUpdated``
(lib/RT/Record.pm ``_SetLastUpdated``), so a ticket that starts waiting on any page of the
listing comes back, and an idle poll costs one request. The date is relative on purpose: RT reads
an absolute date in TicketSQL in the user's (or RT's) time zone, whatever zone it names
(lib/RT/Date.pm ``ParseByTimeParseDate``, t/api/date.t), which the API does not tell; "N minutes
ago" is counted from RT's own clock in any zone (``LastUpdated <= '1 month ago'``:
docs/automating_rt.pod). The full listing catches what that never shows (a deleted or merged
ticket is still updated; a ticket whose queue became unreadable is not).

``due_at``: RT's ``Due`` is often a resolution date (RT's SLA sets it from a "Resolve" level, a
"Response" level or the earlier of both: docs/customizing/sla.pod), so it is the response
deadline only with the ``due_is_response_deadline`` option; otherwise None, and the response
window decides (unset is RT's 1970 sentinel). ``url`` is RT's ``/Ticket/Display.html?id=N``
under the configured address (include RT's WebPath).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from agent.i18n import N_, Text
from agent.model import Snapshot, Ticket
from agent.sources import kit
from agent.sources.base import Forbidden, Option, Source
from agent.sources.http import Page

log = logging.getLogger(__name__)

PER_PAGE = 100
FIELDS = "Subject,Status,Queue,Owner,Requestor,AdminCc,Created,LastUpdated,LastUpdatedBy,Told,Due"
STAFF_MAX_AGE = timedelta(hours=1)  # how long the list of privileged users is kept
CORRESPONDENCE = frozenset({"Create", "Correspond"})
#: how much earlier than the last look a "since" search starts (a late commit, a slow request)
SINCE_OVERLAP = timedelta(minutes=5)
#: the statuses that wait on the team when the ``statuses`` option does not say
WAITING_STATUSES = ("new", "open")


def _time(value: Any, what: str) -> datetime | None:
    """RT dates: ISO 8601 UTC, the ``2018-06-29:10:25Z`` form of RT's docs; 1970 is unset."""
    return kit.parse_time(value, where=f"Request Tracker {what}", assume_utc=True)


def parse_items(data: Any) -> list[dict[str, Any]]:
    return kit.objects_under(
        data,
        "items",
        message=Text(
            N_(
                "Request Tracker's answer has no list of items; is the URL the RT address (with "
                "its WebPath) and REST2 enabled?"
            )
        ),
        expected="items[]",
    )


def next_page(page: Page) -> str | None:
    nxt = page.data.get("next_page") if isinstance(page.data, dict) else None
    return nxt if isinstance(nxt, str) and nxt else None


def _ref_id(value: Any) -> str:
    """The id of a user/queue reference ``{"id": ..., "type": ..., "_url": ...}``."""
    if isinstance(value, dict):
        return kit.text_of(value, "id")
    return str(value or "")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ticket_sql(statuses: Iterable[str], queues: Iterable[str]) -> str:
    query = "(" + " OR ".join(f"Status = {_quote(s)}" for s in statuses) + ")"
    names = list(queues)
    if names:
        query += " AND (" + " OR ".join(f"Queue = {_quote(q)}" for q in names) + ")"
    return query


def _people(value: Any) -> frozenset[str]:
    """The user ids (RT user Names) of a role: one reference or a list of them."""
    people = value if isinstance(value, list) else [value]
    return frozenset(_ref_id(p).casefold() for p in people if _ref_id(p))


def ticket_team(ticket: dict[str, Any], staff: frozenset[str]) -> frozenset[str]:
    """Who answers this ticket: the privileged users, its Owner and its AdminCc."""
    return (staff | _people(ticket.get("Owner")) | _people(ticket.get("AdminCc"))) - {"nobody"}


def parse_correspondence(data: Any) -> list[tuple[datetime, str]]:
    """(time, creator's Name casefolded) for each correspondence of one history page."""
    messages = []
    for item in parse_items(data):
        if item.get("Type") not in CORRESPONDENCE:
            continue
        at = _time(item.get("Created"), "transaction Created")
        if at is not None:
            messages.append((at, _ref_id(item.get("Creator")).casefold()))
    return messages


def needs_history(ticket: dict[str, Any], team: frozenset[str]) -> bool:
    """Whether only the history can tell: someone other than a requestor wrote, and the last
    update is not the team's correspondence that set ``Told``."""
    tid = ticket.get("id")
    told = _time(ticket.get("Told"), f"ticket {tid} Told")
    updated = _time(ticket.get("LastUpdated"), f"ticket {tid} LastUpdated")
    if told is None:
        return False
    by_team = _ref_id(ticket.get("LastUpdatedBy")).casefold() in team
    return updated is None or updated > told or not by_team


def parse_ticket(
    ticket: dict[str, Any],
    history: list[kit.Message] | None,
    *,
    source: str,
    web: str,
    statuses: frozenset[str] = frozenset(WAITING_STATUSES),
    team: frozenset[str] = frozenset(),
    due_is_deadline: bool = False,
) -> Ticket | None:
    """The ticket for one search item, or None when it does not wait on the team.

    ``history`` is the ticket's correspondence, each message marked by whether someone outside
    the team wrote it (see :func:`parse_correspondence`); it is only needed when
    :func:`needs_history` says so. ``team`` holds the privileged users' Names.
    """
    if kit.text_of(ticket, "Status").casefold() not in statuses:
        return None
    tid, created = kit.id_and_created(
        ticket, "Created", helpdesk="Request Tracker", assume_utc=True
    )
    told = _time(ticket.get("Told"), f"ticket {tid} Told")
    if told is None:
        since = created  # nobody has answered yet
    elif not needs_history(ticket, ticket_team(ticket, team)):
        return None  # the team answered last and nothing happened since
    else:
        customer_since = kit.waiting_since(history or [])
        if customer_since is None:
            return None  # only comments or status changes since our reply
        since = customer_since
    queue = ticket.get("Queue")
    owner = ticket.get("Owner")
    owner_name = ""
    if isinstance(owner, dict):
        owner_name = kit.text_of(owner, "RealName", "Name", "id")
    people = ticket.get("Requestor")
    first = people[0] if isinstance(people, list) and people else {}
    requester = email = ""
    if isinstance(first, dict):
        requester = kit.text_of(first, "RealName", "EmailAddress", "id")
        email = kit.text_of(first, "EmailAddress")
    return Ticket(
        source=source,
        id=str(tid),
        subject=kit.text_of(ticket, "Subject"),
        created_at=created,
        waiting_since=since,
        requester=requester,
        requester_email=email,
        category=kit.text_of(queue, "Name", "id") if isinstance(queue, dict) else "",
        status=kit.text_of(ticket, "Status"),
        due_at=_time(ticket.get("Due"), f"ticket {tid} Due") if due_is_deadline else None,
        url=f"{web}/Ticket/Display.html?id={tid}",
        assignee="" if owner_name == "Nobody" else owner_name,
    )


class RTSource(Source):
    kind = "rt"
    title = "Request Tracker"
    description = N_("Request Tracker 5: new and open tickets awaiting a reply, by queue")
    required = (
        Option("url", N_("RT address"), help=N_("e.g. https://rt.example.com (with WebPath)")),
    )
    optional = (
        Option(
            "statuses",
            N_("Waiting statuses"),
            list,
            list(WAITING_STATUSES),
            N_("statuses that mean waiting on the team (stalled usually does not)"),
        ),
        Option(
            "due_is_response_deadline",
            N_("Due is the response deadline"),
            bool,
            False,
            N_(
                "use the ticket's Due date as the deadline for the next reply (off: Due is "
                "often the resolution date; the response window decides)"
            ),
        ),
    )
    secret_label = N_("Auth token")
    credential_steps = (  # the README's steps
        N_("in RT, Logged in as … → Settings → Auth Tokens → Create, copy it")
    )
    category_label = N_("My queues (none ticked: all of them)")

    def set_up(self) -> None:
        self.statuses = frozenset(
            s.casefold() for s in (self.option_texts("statuses") or WAITING_STATUSES)
        )
        self.web = re.sub(r"/REST/2\.0/?$", "", self.config.url.rstrip("/"), flags=re.IGNORECASE)
        self.client = self.http(
            f"{self.web}/REST/2.0",
            headers={"Authorization": f"token {self.secret}"},
        )
        self.due_is_deadline = bool(self.option("due_is_response_deadline"))
        #: each ticket's correspondence as (time, creator), kept while LastUpdated stays the same
        self._history: kit.TicketCache[str, list[tuple[datetime, str]]] = kit.TicketCache()
        self._throttle: float | None = None
        self._staff: frozenset[str] = frozenset()
        self._staff_read_at: datetime | None = None
        #: the tickets in a waiting status of the watched queues, as last read
        self._found: dict[str, dict[str, Any]] = {}
        self._looked_at: datetime | None = None  # the last search, on our clock
        self._relist = kit.Relist()

    def _search(self, query: str) -> Iterable[tuple[dict[str, Any], bool]]:
        """The tickets of one search; then ``({}, complete)``."""
        params = {
            "query": query,
            "fields": FIELDS,
            "fields[Queue]": "Name",
            "fields[Owner]": "Name,RealName",
            "fields[Requestor]": "Name,EmailAddress,RealName",
            "fields[AdminCc]": "Name",
            "fields[LastUpdatedBy]": "Name",
            "orderby": "Created",
            "order": "ASC",
            "per_page": PER_PAGE,
            "page": 1,
        }
        pages = self.client.paginate("tickets", params, next_page)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        for page in pages:
            for item in parse_items(page.data):
                if "id" in item:
                    yield item, True
        yield {}, pages.complete

    def _wanted(self, item: dict[str, Any]) -> bool:
        queue = item.get("Queue")
        name = kit.text_of(queue, "Name") if isinstance(queue, dict) else ""
        return not self.config.categories or self.wants(name)

    def _list_all(self) -> bool:
        found: dict[str, dict[str, Any]] = {}
        complete = True
        for item, done in self._search(ticket_sql(sorted(self.statuses), self.config.categories)):
            if not item:
                complete = done
            elif self._wanted(item):
                found[str(item["id"])] = item
        self._found = found
        return complete

    def _list_changes(self, now: datetime) -> bool:
        """Bring the waiting tickets up to date from those updated since the last look, in any
        status or queue (one request when nothing changed); True when all were read."""
        assert self._looked_at is not None
        minutes = math.ceil(max((now - self._looked_at).total_seconds(), 0) / 60)
        minutes += math.ceil(SINCE_OVERLAP.total_seconds() / 60)
        complete = True
        for item, done in self._search(f"LastUpdated > '{minutes} minutes ago'"):
            if not item:
                complete = done
                continue
            tid = str(item["id"])
            status = kit.text_of(item, "Status").casefold()
            if status in self.statuses and self._wanted(item):
                self._found[tid] = item
            else:
                self._found.pop(tid, None)  # answered and resolved, stalled, or moved away
        return complete

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        self._throttle = None
        complete = self._relist.look(
            now, self._list_all, lambda: self._list_changes(now), first=self._looked_at is None
        )
        self._looked_at = now
        found = self._found
        tickets = []
        for tid, item in found.items():
            if kit.text_of(item, "Status").casefold() not in self.statuses:
                continue
            team = ticket_team(item, self._staff_list(now, item))
            history = None
            if needs_history(item, team):
                history, read_all = self._read_history(tid, item, team)
                complete = complete and read_all
            ticket = parse_ticket(
                item,
                history,
                source=self.name,
                web=self.web,
                statuses=self.statuses,
                team=team,
                due_is_deadline=self.due_is_deadline,
            )
            if ticket is not None:
                tickets.append(ticket)
        if complete:
            self._history.prune(found)
        return Snapshot(self.name, tuple(tickets), now, complete, self._throttle)

    def _staff_list(self, now: datetime, ticket: dict[str, Any]) -> frozenset[str]:
        """RT's privileged users, read when a ticket's answer depends on them, once an hour."""
        if _time(ticket.get("Told"), f"ticket {ticket.get('id')} Told") is None:
            return self._staff  # nobody but the requestors wrote: no need to know
        fresh = self._staff_read_at and now - self._staff_read_at < STAFF_MAX_AGE
        if fresh:
            return self._staff
        names: set[str] = set()
        try:
            params = {"fields": "Name", "per_page": PER_PAGE, "page": 1}
            pages = self.client.paginate("users/privileged", params, next_page)
            self._throttle = kit.slowest(self._throttle, pages.throttle)
            for page in pages:
                names.update(_ref_id(u).casefold() for u in parse_items(page.data))
        except Forbidden:
            log.warning(
                "%s: this RT user may not list the privileged users; only each ticket's "
                "Owner and AdminCc count as answering",
                self.name,
            )
        self._staff, self._staff_read_at = frozenset(names - {""}), now
        return self._staff

    def _read_history(
        self, tid: str, ticket: dict[str, Any], team: frozenset[str]
    ) -> tuple[list[kit.Message], bool]:
        updated = kit.text_of(ticket, "LastUpdated")
        authored, read_all = self._history.read(tid, updated, lambda: self._correspondence(tid))
        return [(at, who not in team) for at, who in authored], read_all

    def _correspondence(self, tid: str) -> tuple[list[tuple[datetime, str]], bool]:
        """(time, author) of every correspondence of the ticket; True when all pages were read."""
        params = {"fields": "Type,Creator,Created", "per_page": PER_PAGE, "page": 1}
        pages = self.client.paginate(f"ticket/{tid}/history", params, next_page)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        return [m for page in pages for m in parse_correspondence(page.data)], pages.complete

    def list_categories(self) -> list[str]:
        names: list[str] = []
        params = {"fields": "Name", "per_page": PER_PAGE, "page": 1}
        for page in self.client.paginate("queues/all", params, next_page):
            names.extend(str(q.get("Name") or q.get("id")) for q in parse_items(page.data))
        return sorted(names)

    def close(self) -> None:
        self.client.close()
