"""Zammad: open tickets by group, with Zammad's escalation times.

``GET /api/v1/tickets/search?query=state.name:(new OR open) AND group.name:("A" OR "B")
&expand=true`` lists the candidates (the token's own group permissions apply on top, so an
assistant's token sees only their groups). The search runs on Elasticsearch, which Zammad calls
"highly recommended", not required: without it Zammad falls back to SQL text matching and finds
nothing. So an empty search result is checked against the plain listing ``GET /api/v1/tickets``
(every ticket the token may read, 100 a page) before "nothing waiting" is believed: when its
first page has a ticket the search cannot find by number, the index is missing and the whole
listing is read and filtered here by state and group.

What answers: Zammad keeps ``last_contact_customer_at`` and ``last_contact_agent_at`` itself,
moved only by public articles of a communication type (email, phone, web, chat, sms, fax,
social messages; not a note, even a public one; never a System article). A ticket whose agent
contact is the newer one was answered and does not wait. For the others, ``waiting_since`` is
the oldest customer article with no agent article after it, counting the same articles, from
``/api/v1/ticket_articles/by_ticket/{id}``, read again only when the ticket's ``updated_at``
moved. A ticket whose only article is the customer's (``article_count`` 1, no agent contact)
waits since ``last_contact_customer_at`` and its articles are not read: that is exact whatever
the ``ticket_last_contact_behaviour`` setting. With more articles they are read: under Zammad's
default setting (``check_if_agent_already_replied``, db/seeds/settings.rb) the customer's
contact time is the start of their unanswered thread, under ``based_on_customer_reaction`` their
very last article, and the setting needs admin rights to read. Pending states do not wait
(their escalation clock is stopped too).

Between two full searches (every 15 minutes, :class:`agent.sources.kit.Relist`), only what
changed is asked for: ``updated_at:>now-Nm`` (Elasticsearch date math relative to its own clock;
``created_at:>now-1h`` in Zammad's advanced/search.rst), N the minutes since the last look plus
15, in every state and group (matched here), so a ticket closed or answered leaves and one that
starts waiting on any page comes in; an idle poll costs one request. Every article moves the
ticket's ``updated_at`` (has_ticket_contact_attributes_impact.rb: ``ticket.save!`` or
``ticket.touch``). Zammad indexes changes in a background job and documents no delay: the 15
minutes of overlap cover a slow index, the full search every 15 minutes the rest. Without a
working index (the plain listing stood in for the search) every poll reads the listing, as
before.

``due_at`` is the response deadline: ``first_response_escalation_at`` until the first response,
then ``update_escalation_at``; never ``close_escalation_at`` (the solution time) nor
``escalation_at`` (the earliest of all three). Null when no SLA applies, and the response window
decides. The ticket's id is Zammad's ticket number (what people see); its URL opens
``/#ticket/zoom/{internal id}``.
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
from agent.sources.base import BadResponse, Option, Source
from agent.sources.http import Page
from agent.sources.http_limits import throttle_hint

log = logging.getLogger(__name__)

#: the states that wait on the team when the ``states`` option does not say
WAITING_STATES = ("new", "open")

PER_PAGE = 100
NOBODY = 1  # Zammad's system user "-": an unassigned ticket's owner
#: how much earlier than the last look a "since" search starts: Zammad's search index is written
#: by a background job, late by an undocumented delay
SINCE_OVERLAP = timedelta(minutes=15)
#: the article types Zammad seeds with ``communication: true`` (db/seeds/ticket_article_types.rb);
#: ``note`` is the one that is not. A type added by an admin counts as not communication.
COMMUNICATION_TYPES = frozenset(
    {
        "email",
        "sms",
        "chat",
        "fax",
        "phone",
        "twitter status",
        "twitter direct-message",
        "facebook feed post",
        "facebook feed comment",
        "web",
        "telegram personal-message",
        "facebook direct-message",
        "whatsapp message",
    }
)


def _time(value: Any, what: str) -> datetime | None:
    return kit.parse_time(value, where=f"Zammad {what}")


def _objects(data: Any, what: str) -> list[dict[str, Any]]:
    return kit.list_of_objects(data, what, helpdesk="Zammad")


def parse_search(data: Any) -> list[dict[str, Any]]:
    """The tickets of one search page: a list with ``expand=true``, else ids joined to assets."""
    if isinstance(data, dict) and isinstance(data.get("tickets"), list):
        assets = data.get("assets")
        by_id = assets.get("Ticket") if isinstance(assets, dict) else None
        if not isinstance(by_id, dict):
            raise BadResponse(Text(N_("Zammad's search answer has ticket ids but no ticket data")))
        return [by_id[str(i)] for i in data["tickets"] if isinstance(by_id.get(str(i)), dict)]
    return _objects(data, "tickets")


def parse_articles(data: Any) -> list[kit.Message]:
    """(time, from the customer) for each public customer or agent article of a communication
    type: the articles Zammad itself moves ``last_contact_*`` for."""
    messages = []
    for article in _objects(data, "articles"):
        sender = kit.text_of(article, "sender")
        if article.get("internal") or sender not in ("Customer", "Agent"):
            continue  # internal articles and system messages answer nobody
        if kit.text_of(article, "type").casefold() not in COMMUNICATION_TYPES:
            continue  # a note, even a public one, is not a message to the customer
        at = _time(article.get("created_at"), "article created_at")
        if at is not None:
            messages.append((at, sender == "Customer"))
    return messages


def customer_spoke_last(ticket: dict[str, Any]) -> bool:
    """From Zammad's own contact times: no agent contact yet, or the customer's is newer."""
    tid = ticket.get("id")
    customer = _time(ticket.get("last_contact_customer_at"), f"ticket {tid} customer contact")
    agent = _time(ticket.get("last_contact_agent_at"), f"ticket {tid} agent contact")
    return agent is None or (customer is not None and customer > agent)


def only_article_is_the_customers(ticket: dict[str, Any]) -> datetime | None:
    """The customer's contact time when their article is the ticket's only one (and no agent
    contact): when they wait since, exact under either ``ticket_last_contact_behaviour``
    (``article_count`` counts every article but System ones; has_ticket_contact_attributes_
    impact.rb). None otherwise: the articles decide."""
    if ticket.get("article_count") != 1 or ticket.get("last_contact_agent_at"):
        return None
    tid = ticket.get("id")
    return _time(ticket.get("last_contact_customer_at"), f"ticket {tid} customer contact")


def response_deadline(ticket: dict[str, Any]) -> datetime | None:
    """``first_response_escalation_at`` until the first response, then ``update_escalation_at``.

    Zammad nulls the first-response time once answered and the update time while the agent
    spoke last (lib/escalation.rb); ``close_escalation_at`` is the solution target.
    """
    tid = ticket.get("id")
    update = _time(ticket.get("update_escalation_at"), f"ticket {tid} update_escalation_at")
    if ticket.get("first_response_at"):
        return update
    first = _time(
        ticket.get("first_response_escalation_at"), f"ticket {tid} first_response_escalation_at"
    )
    return first or update


def priority_name(value: Any) -> str:
    """Zammad names priorities "1 low", "2 normal", "3 high"."""
    match = re.match(r"^\s*\d*\s*(\w+)", str(value or ""))
    return match.group(1) if match else ""


def parse_ticket(
    ticket: dict[str, Any],
    messages: list[kit.Message] | None,
    *,
    source: str,
    web: str,
    states: frozenset[str] = frozenset(WAITING_STATES),
) -> Ticket | None:
    """The ticket for one expanded search result, or None when it does not wait on the team."""
    if kit.text_of(ticket, "state").casefold() not in states:
        return None
    tid, created = kit.id_and_created(ticket, "created_at", helpdesk="Zammad")
    if not customer_spoke_last(ticket):
        return None  # an agent replied last
    since = kit.waiting_since(messages) if messages else created
    if since is None:
        return None
    owner = "" if ticket.get("owner_id") == NOBODY else kit.text_of(ticket, "owner")
    return Ticket(
        source=source,
        id=kit.text_of(ticket, "number") or str(tid),
        subject=kit.text_of(ticket, "title"),
        created_at=created,
        waiting_since=since,
        requester=kit.text_of(ticket, "customer"),
        organization=kit.text_of(ticket, "organization"),
        category=kit.text_of(ticket, "group"),
        priority=priority_name(ticket.get("priority")),
        status=kit.text_of(ticket, "state"),
        due_at=response_deadline(ticket),
        url=f"{web}/#ticket/zoom/{tid}",
        assignee="" if owner == "-" else owner,
    )


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search_query(states: Iterable[str], groups: Iterable[str]) -> str:
    query = f"state.name:({' OR '.join(_quote(s) for s in states)})"
    names = list(groups)
    if names:
        query += f" AND group.name:({' OR '.join(_quote(g) for g in names)})"
    return query


def next_page(page: Page) -> str | None:
    """Zammad says nothing about further pages: ask for the next while pages are full."""
    data = page.data
    items = data.get("tickets") if isinstance(data, dict) else data
    if not isinstance(items, list) or len(items) < PER_PAGE:
        return None
    return kit.with_page(page.url, kit.page_number(page.url) + 1)


class ZammadSource(Source):
    kind = "zammad"
    title = "Zammad"
    description = N_(
        "Zammad: new and open tickets awaiting a reply, by group, with escalation times"
    )
    required = (Option("url", N_("Zammad address"), help=N_("e.g. https://support.example.com")),)
    optional = (
        Option(
            "states",
            N_("Waiting states"),
            list,
            list(WAITING_STATES),
            N_("ticket states that mean waiting on the team"),
        ),
    )
    secret_label = N_("Access token")
    credential_steps = N_(  # the README's steps
        "in Zammad, your avatar → Profile → Token Access → Create, with the permission "
        "ticket.agent; copy it"
    )
    category_label = N_("My groups (none ticked: all of them)")

    def set_up(self) -> None:
        self.states = frozenset(
            s.casefold() for s in (self.option_texts("states") or WAITING_STATES)
        )
        self.web = re.sub(r"/api(/v1)?/?$", "", self.config.url.rstrip("/"))
        self.client = self.http(
            f"{self.web}/api/v1",
            headers={"Authorization": f"Token token={self.secret}"},
        )
        #: each ticket's public articles, kept while its ``updated_at`` stays the same
        self._articles: kit.TicketCache[int, list[kit.Message]] = kit.TicketCache()
        self._throttle: float | None = None
        #: the tickets in a waiting state of the watched groups, as last read
        self._found: dict[int, dict[str, Any]] = {}
        self._looked_at: datetime | None = None  # the last search, on our clock
        #: the search answered (False: the plain listing stood in for a missing index)
        self._index_ok = False
        self._relist = kit.Relist()

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        self._throttle = None
        first = self._looked_at is None or not self._index_ok
        complete = self._relist.look(
            now, self._list_all, lambda: self._list_changes(now), first=first
        )
        self._looked_at = now
        found = self._found
        tickets = []
        for tid, item in found.items():
            if kit.text_of(item, "state").casefold() not in self.states:
                continue
            if not customer_spoke_last(item):
                continue
            messages, read_all = self._ticket_articles(tid, item)
            complete = complete and read_all
            ticket = parse_ticket(
                item, messages, source=self.name, web=self.web, states=self.states
            )
            if ticket is not None:
                tickets.append(ticket)
        if complete:
            self._articles.prune(found)
        return Snapshot(self.name, tuple(tickets), now, complete, self._throttle)

    def _list_all(self) -> bool:
        params = {
            "query": search_query(sorted(self.states), self.config.categories),
            "expand": "true",
            "sort_by": "created_at",
            "order_by": "asc",
            "page": 1,
            "per_page": PER_PAGE,
        }
        found: dict[int, dict[str, Any]] = {}
        pages = self.client.paginate("tickets/search", params, next_page)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        for page in pages:
            self._keep_wanted(parse_search(page.data), found)
        complete = pages.complete
        self._index_ok = bool(found)
        if not found:
            found, complete = self._listed()
        self._found = found
        return complete

    def _list_changes(self, now: datetime) -> bool:
        """Bring the waiting tickets up to date from those updated since the last look, in any
        state or group (one request when nothing changed); True when all were read."""
        assert self._looked_at is not None
        seconds = max((now - self._looked_at).total_seconds(), 0) + SINCE_OVERLAP.total_seconds()
        params = {
            "query": f"updated_at:>now-{math.ceil(seconds / 60)}m",
            "expand": "true",
            "sort_by": "updated_at",
            "order_by": "asc",
            "page": 1,
            "per_page": PER_PAGE,
        }
        pages = self.client.paginate("tickets/search", params, next_page)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        for page in pages:
            for item in parse_search(page.data):
                if "id" not in item:
                    continue
                group = kit.text_of(item, "group")
                state = kit.text_of(item, "state").casefold()
                if state in self.states and (not self.config.categories or self.wants(group)):
                    self._found[item["id"]] = item
                else:
                    self._found.pop(item["id"], None)  # answered and closed, pending, moved
        return pages.complete

    def _keep_wanted(self, items: list[dict[str, Any]], found: dict[int, dict[str, Any]]) -> None:
        for item in items:
            group = kit.text_of(item, "group")
            if "id" in item and (not self.config.categories or self.wants(group)):
                found[item["id"]] = item

    def _listed(self) -> tuple[dict[int, dict[str, Any]], bool]:
        """The waiting-state tickets of the plain listing, which needs no Elasticsearch.

        Asked only when the search found nothing: without Elasticsearch (or with its index
        lost) the search answers an empty list, never an error. The listing's first page
        decides how far to go: no tickets at all, or the search finds its first ticket by
        number (so the index works), and the empty search is believed; otherwise every page
        is read and filtered here.
        """
        found: dict[int, dict[str, Any]] = {}
        params = {"expand": "true", "page": 1, "per_page": PER_PAGE}
        first = self.client.get_json("tickets", params)
        self._throttle = kit.slowest(self._throttle, throttle_hint(first.headers))
        items = _objects(first.data, "tickets")
        self._keep_waiting(items, found)
        if not found and not items:
            return found, True  # nothing at all: whether the index works is still unknown
        if not found and self._search_finds(items[0]):
            self._index_ok = True
            return found, True
        complete = True
        if next_page(first):
            rest = self.client.paginate("tickets", {**params, "page": 2}, next_page)
            self._throttle = kit.slowest(self._throttle, rest.throttle)
            for page in rest:
                self._keep_waiting(_objects(page.data, "tickets"), found)
            complete = rest.complete
        if found:
            log.warning(
                "%s: Zammad's search found nothing but its ticket list has %d waiting; is "
                "Elasticsearch set up and indexed? Reading the list instead",
                self.name,
                len(found),
            )
        return found, complete

    def _keep_waiting(self, items: list[dict[str, Any]], found: dict[int, dict[str, Any]]) -> None:
        waiting = [t for t in items if kit.text_of(t, "state").casefold() in self.states]
        self._keep_wanted(waiting, found)

    def _search_finds(self, ticket: dict[str, Any]) -> bool:
        """Whether the search finds a ticket the listing has, by its number: the index works."""
        params = {"query": f"number:{ticket.get('number')}", "expand": "true", "per_page": 1}
        page = self.client.get_json("tickets/search", params)
        self._throttle = kit.slowest(self._throttle, throttle_hint(page.headers))
        return bool(parse_search(page.data))

    def _ticket_articles(self, tid: int, ticket: dict[str, Any]) -> tuple[list[kit.Message], bool]:
        only = only_article_is_the_customers(ticket)
        if only is not None:
            return [(only, True)], True
        updated = kit.text_of(ticket, "updated_at")
        return self._articles.read(tid, updated, lambda: self._read_articles(tid))

    def _read_articles(self, tid: int) -> tuple[list[kit.Message], bool]:
        """The ticket's articles, all in one answer."""
        page = self.client.get_json(f"ticket_articles/by_ticket/{tid}")
        self._throttle = kit.slowest(self._throttle, throttle_hint(page.headers))
        return parse_articles(page.data), True

    def list_categories(self) -> list[str]:
        names: list[str] = []
        params = {"page": 1, "per_page": PER_PAGE}
        for page in self.client.paginate("groups", params, next_page):
            names.extend(
                str(g["name"]) for g in _objects(page.data, "groups") if g.get("active", True)
            )
        return sorted(names)

    def close(self) -> None:
        self.client.close()
