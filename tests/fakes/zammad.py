"""A fake Zammad REST API answering like https://HOST/api/v1.

``Authorization: Token token=...``; ``GET /api/v1/tickets/search`` with ``query`` (the
Elasticsearch forms ``state.name:("new" OR "open")`` and ``group.name:("A" OR "B")`` joined by
``AND``), ``expand=true`` (a list of expanded tickets; without it ids plus ``assets``),
``sort_by``/``order_by``, ``page``/``per_page`` (search caps it at 200, no total: a short page
is the last); ``GET /api/v1/ticket_articles/by_ticket/{id}``; ``GET /api/v1/groups``. Tickets
are filtered by the token's group permissions like Zammad does. Errors are Zammad's JSON bodies
(``{"error": ..., "error_human": ...}``).
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from typing import Any

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc
PRIORITIES = {1: "1 low", 2: "2 normal", 3: "3 high"}
STATES = {1: "new", 2: "open", 3: "pending reminder", 4: "closed", 7: "pending close"}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


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

    def add(
        self,
        title: str,
        *,
        state: str = "open",
        group: int = 2,
        created: datetime,
        articles: tuple[tuple[str, datetime], ...] | None = None,
        escalation_at: datetime | None = None,
        priority: int = 2,
        owner: tuple[int, str] = (1, "-"),
    ) -> str:
        """A ticket; ``articles`` are (who, when) with who customer/agent/note/system
        (default: the customer's first message). Returns its number."""
        tid = next(self._ids)
        number = str(31000 + tid)
        arts = list(articles) if articles is not None else [("customer", created)]
        customer = [at for who, at in arts if who == "customer"]
        agent = [at for who, at in arts if who == "agent"]
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
                "organization_id": None,
                "created_at": iso(created),
                "updated_at": iso(max([created, *(at for _, at in arts)])),
                "last_contact_at": iso(max(customer + agent)) if customer + agent else None,
                "last_contact_customer_at": iso(max(customer)) if customer else None,
                "last_contact_agent_at": iso(max(agent)) if agent else None,
                "first_response_at": iso(min(agent)) if agent else None,
                "escalation_at": iso(escalation_at) if escalation_at else None,
                "update_escalation_at": iso(escalation_at) if escalation_at else None,
                "first_response_escalation_at": None,
                "close_escalation_at": None,
                "pending_time": None,
                "article_count": len(arts),
            }
        )
        self.articles[tid] = [
            {
                "id": next(self._article_ids),
                "ticket_id": tid,
                "type": "note" if who == "note" else "email",
                "sender": {"customer": "Customer", "system": "System"}.get(who, "Agent"),
                "internal": who == "note",
                "from": "jane@example.com",
                "subject": title,
                "body": "…",
                "created_at": iso(at),
                "updated_at": iso(at),
            }
            for who, at in arts
        ]
        return number

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
        for clause in query.split(" AND "):
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
