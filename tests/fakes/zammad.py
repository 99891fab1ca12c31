"""A fake Zammad REST API answering like https://HOST/api/v1.

``Authorization: Token token=...``; ``GET /api/v1/tickets/search`` with ``query`` (the
Elasticsearch forms ``state.name:("new" OR "open")`` and ``group.name:("A" OR "B")`` joined by
``AND``, ``number:N`` and ``updated_at:>now-Nm``), ``expand=true`` (a list of expanded
tickets; without it ids plus
``assets``), ``sort_by``/``order_by``, ``page``/``per_page`` (search caps it at 200, no total: a
short page is the last); ``GET /api/v1/tickets`` (the plain listing: every ticket the token may
read, ``order(id: :asc)``, ``per_page`` capped at 100); ``GET
/api/v1/ticket_articles/by_ticket/{id}`` (``attributes_with_association_names``: ``type`` and
``sender`` by name); ``GET /api/v1/groups``. Tickets are filtered by the token's group
permissions like Zammad does. Errors are Zammad's JSON bodies (``{"error": ..., "error_human":
...}``).

What it follows, from Zammad's own source (github.com/zammad/zammad):
- app/controllers/tickets_controller.rb: ``index`` pages the listing by id (max 100), ``search``
  (max 200, default 50) answers a list with ``expand=true``, else ``tickets``/``assets``.
- app/controllers/ticket_articles_controller.rb: ``index_by_ticket`` renders each article with
  ``attributes_with_association_names``.
- db/seeds/ticket_article_types.rb: which article types are ``communication`` (every seeded type
  but ``note``).
- app/models/ticket/article/has_ticket_contact_attributes_impact.rb: ``last_contact_*`` and
  ``first_response_at`` move only for non-internal articles of a communication type, never for
  System; a customer's follow-up moves ``last_contact_customer_at`` only after an agent contact
  (the default ``ticket_last_contact_behaviour``).
- lib/escalation.rb: ``first_response_escalation_at`` (created + first response time, null once
  answered), ``update_escalation_at`` (``last_contact_customer_at`` + update time, null while the
  agent responded last), ``close_escalation_at`` (created + solution time) and ``escalation_at``
  the earliest of them. The fake's calendar is 24/7.
- the search syntax (``state.name:``, ``group.name:``, ``number:``): zammad/zammad-user-
  documentation advanced/search.rst.
- app/models/ticket/search.rb: without Elasticsearch the search falls back to SQL, matching the
  query text with ``LIKE`` against title, number and article fields (``search_index = False``
  here), so an Elasticsearch query finds nothing there.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc
PRIORITIES = {1: "1 low", 2: "2 normal", 3: "3 high"}
STATES = {1: "new", 2: "open", 3: "pending reminder", 4: "closed", 7: "pending close"}
#: db/seeds/ticket_article_types.rb: name -> communication
ARTICLE_TYPES = {
    "email": True, "sms": True, "chat": True, "fax": True, "phone": True,
    "twitter status": True, "twitter direct-message": True, "facebook feed post": True,
    "facebook feed comment": True, "note": False, "web": True,
    "telegram personal-message": True, "facebook direct-message": True,
    "whatsapp message": True,
}  # fmt: skip


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def contact_times(
    articles: list[tuple[str, str, bool, datetime]],
) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(last_contact_customer_at, last_contact_agent_at, first_response_at) for articles of
    (sender, type, internal, created), replaying has_ticket_contact_attributes_impact.rb."""
    customer = agent = last = first_response = None
    for sender, kind, internal, at in sorted(articles, key=lambda a: a[3]):
        if internal or sender == "System" or not ARTICLE_TYPES.get(kind, False):
            continue
        if sender == "Customer":
            if customer is not None and last is not None and customer == last:
                continue  # the customer wrote again: the update escalation keeps its start
            if customer is None or agent is None or agent > customer:
                customer = last = at
        elif sender == "Agent":
            agent = last = at
            first_response = first_response or at
    return customer, agent, first_response


class FakeZammad(FakeHelpdesk):
    def __init__(self, server: Any, token: str) -> None:
        super().__init__(server)
        self.token = token
        self.groups = {1: "Users", 2: "1st Level", 3: "Billing"}
        self.visible_groups: set[int] = {1, 2, 3}  # the token's group permissions
        self.tickets: list[dict[str, Any]] = []
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self._ids = itertools.count(57)
        self._article_ids = itertools.count(300)
        #: Elasticsearch is configured and has indexed every ticket (Zammad recommends it,
        #: does not require it)
        self.search_index = True
        self.now: datetime | None = None  # Elasticsearch's clock for "now" (None: the real one)

    def add(
        self,
        title: str,
        *,
        state: str = "open",
        group: int = 2,
        created: datetime,
        articles: tuple[tuple[str, datetime], ...] | None = None,
        sla: tuple[int | None, int | None, int | None] | None = None,
        priority: int = 2,
        owner: tuple[int, str] = (1, "-"),
        organization: str | None = None,
    ) -> str:
        """A ticket; returns its number. ``articles`` are (who, when) with who one of customer,
        agent, note (internal), public note, system, optionally with a type: "agent/phone"
        (default: the customer's first message by email). ``sla`` is Zammad's first response,
        update and solution time in minutes."""
        tid = next(self._ids)
        number = str(31000 + tid)
        arts = []
        for who, at in articles if articles is not None else [("customer", created)]:
            role, _, kind = who.partition("/")
            sender = {"customer": "Customer", "system": "System"}.get(role, "Agent")
            internal = role == "note"
            kind = kind or ("note" if role in ("note", "public note", "system") else "email")
            arts.append((sender, kind, internal, at))
        customer, agent, first_response = contact_times(arts)
        escalations = self._escalations(sla, created, customer, agent, first_response)
        state_id = next(k for k, v in STATES.items() if v == state)
        self.tickets.append(
            {
                "id": tid,
                "number": number,
                "title": title,
                "group_id": group,
                "group": self.groups[group],
                "state_id": state_id,
                "state": state,
                "priority_id": priority,
                "priority": PRIORITIES[priority],
                "owner_id": owner[0],
                "owner": owner[1],
                "customer_id": 14,
                "customer": "jane@example.com",
                # expand=true names it as the other *_id associations (the zammad-api client's
                # TicketExpanded: https://docs.rs/zammad-api/0.1.0/zammad_api/models/struct.TicketExpanded.html)
                "organization_id": 7 if organization else None,
                "organization": organization,
                "created_at": iso(created),
                "updated_at": iso(max([created, *(a[3] for a in arts)])),
                "last_contact_at": iso(max(filter(None, (customer, agent))))
                if customer or agent
                else None,
                "last_contact_customer_at": iso(customer) if customer else None,
                "last_contact_agent_at": iso(agent) if agent else None,
                "first_response_at": iso(first_response) if first_response else None,
                **{k: iso(v) if v else None for k, v in escalations.items()},
                "pending_time": None,
                "article_count": len([a for a in arts if a[0] != "System"]),
            }
        )
        self.articles[tid] = [
            {
                "id": next(self._article_ids),
                "ticket_id": tid,
                "type": kind,
                "sender": sender,
                "internal": internal,
                "from": "jane@example.com" if sender == "Customer" else "Anna Agent",
                "subject": title,
                "body": "…",
                "created_at": iso(at),
                "updated_at": iso(at),
            }
            for sender, kind, internal, at in arts
        ]
        return number

    @staticmethod
    def _escalations(
        sla: tuple[int | None, int | None, int | None] | None,
        created: datetime,
        customer: datetime | None,
        agent: datetime | None,
        first_response: datetime | None,
    ) -> dict[str, datetime | None]:
        """lib/escalation.rb on a 24/7 calendar; all null without an SLA."""
        first_time, update_time, solution_time = sla or (None, None, None)

        def plus(start: datetime | None, minutes: int | None) -> datetime | None:
            return start + timedelta(minutes=minutes) if start and minutes else None

        agent_responded = agent is not None and (customer is None or agent > customer)
        first = None if first_response else plus(created, first_time)
        update = None if agent_responded else plus(customer, update_time)
        close = plus(created, solution_time)
        soonest = [t for t in (first, update, close) if t]
        return {
            "escalation_at": min(soonest) if soonest else None,
            "first_response_escalation_at": first,
            "update_escalation_at": update,
            "close_escalation_at": close,
        }

    def _ticket(self, number: str) -> dict[str, Any]:
        return next(t for t in self.tickets if t["number"] == number)

    def write(self, number: str, who: str, at: datetime, state: str | None = None) -> None:
        """One more article on a ticket (``who`` as in ``add``), optionally with a new state;
        the contact times move as has_ticket_contact_attributes_impact.rb moves them, and the
        ticket's ``updated_at`` with every article (``ticket.save!`` or ``ticket.touch``)."""
        ticket = self._ticket(number)
        role, _, kind = who.partition("/")
        sender = {"customer": "Customer", "system": "System"}.get(role, "Agent")
        kind = kind or ("note" if role in ("note", "public note", "system") else "email")
        self.articles[ticket["id"]].append(
            {"id": next(self._article_ids), "ticket_id": ticket["id"], "type": kind,
             "sender": sender, "internal": role == "note", "from": "", "subject": "",
             "body": "…", "created_at": iso(at), "updated_at": iso(at)}
        )  # fmt: skip
        arts = [
            (a["sender"], a["type"], a["internal"], datetime.fromisoformat(a["created_at"][:-1]))
            for a in self.articles[ticket["id"]]
        ]
        customer, agent, first = contact_times(
            [(s, k, i, d.replace(tzinfo=UTC)) for s, k, i, d in arts]
        )
        ticket.update(
            last_contact_customer_at=iso(customer) if customer else None,
            last_contact_agent_at=iso(agent) if agent else None,
            first_response_at=iso(first) if first else None,
            article_count=len([a for a in arts if a[0] != "System"]),
            updated_at=iso(at),
        )
        if state is not None:
            ticket.update(state=state, state_id=next(k for k, v in STATES.items() if v == state))

    def error(self, status: int, headers: dict[str, str]) -> Response:
        text = {
            401: "Authentication failed!",
            403: "Not authorized",
            404: "No route matches [GET] /api/v1/nothing",
            422: "Unprocessable Entity",
        }.get(status, "Internal Server Error")
        return json_response({"error": text, "error_human": text}, status, headers)

    def bad_shape(self) -> Any:
        return {"error": None, "tickets_count": 3}

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return self.error(401, {})
        if request.path == "/api/v1/tickets/search":
            return self._search(request)
        if request.path == "/api/v1/tickets":
            items = sorted(
                (t for t in self.tickets if t["group_id"] in self.visible_groups),
                key=lambda t: t["id"],
            )
            if request.args.get("expand") == "true":
                return self._page(request, items, 100)
            names = ("group", "state", "priority", "owner", "customer", "organization")  # ids only
            page = self._slice(request, items, 100)
            return json_response([{k: v for k, v in t.items() if k not in names} for t in page])
        if request.path == "/api/v1/groups":
            items = [{"id": gid, "name": name, "active": True} for gid, name in self.groups.items()]
            return self._page(request, items, 100)
        match = re.fullmatch(r"/api/v1/ticket_articles/by_ticket/(\d+)", request.path)
        if match and int(match.group(1)) in self.articles:
            return json_response(self.articles[int(match.group(1))])
        return self.error(404, {})

    def _search(self, request: Request) -> Response:
        query = request.args.get("query", "")
        items = [t for t in self.tickets if t["group_id"] in self.visible_groups]
        if not self.search_index:
            # app/models/ticket/search.rb: the SQL fallback matches the text with LIKE
            text = query.casefold()
            items = [t for t in items if text in t["title"].casefold() or text in t["number"]]
            return self._page(request, items, 200)
        for clause in query.split(" AND "):
            if number := re.fullmatch(r"number:(\d+)", clause.strip()):
                items = [t for t in items if t["number"] == number[1]]
                continue
            # Elasticsearch date math from its own clock ("created_at:>now-1h", Zammad's
            # advanced/search.rst; minutes are ES's "m" unit)
            if since := re.fullmatch(r"updated_at:>now-(\d+)m", clause.strip()):
                start = iso((self.now or datetime.now(UTC)) - timedelta(minutes=int(since[1])))
                items = [t for t in items if t["updated_at"] > start]
                continue
            m = re.fullmatch(r"(state|group)\.name:\((.*)\)", clause.strip())
            if not m:
                return self.error(422, {})
            values = {v.replace('\\"', '"') for v in re.findall(r'"((?:[^"\\]|\\.)*)"', m[2])}
            items = [t for t in items if t[m[1]] in values]
        key = request.args.get("sort_by", "created_at")
        items.sort(key=lambda t: t[key], reverse=request.args.get("order_by") == "desc")
        if request.args.get("expand") == "true":
            return self._page(request, items, 200)
        page = self._slice(request, items, 200)
        body = {
            "tickets": [t["id"] for t in page],
            "tickets_count": len(page),
            "assets": {"Ticket": {str(t["id"]): t for t in page}},
        }
        return json_response(body)

    def _slice(self, request: Request, items: list[Any], cap: int) -> list[Any]:
        per_page = min(int(request.args.get("per_page", 50)), cap)
        page = int(request.args.get("page", 1))
        return items[(page - 1) * per_page : page * per_page]

    def _page(self, request: Request, items: list[Any], cap: int) -> Response:
        return json_response(self._slice(request, items, cap))
