"""A fake Freshdesk API v2 answering like https://DOMAIN.freshdesk.com/api/v2.

It follows the API reference, https://developers.freshdesk.com/api/ (sections named below):
- Basic auth with the API key as user and ``X`` as password; every answer carries
  ``X-RateLimit-Total``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Used-CurrentRequest``;
  errors are JSON bodies (``code``/``message``; 400 with ``description``/``errors``).
- ``GET /api/v2/groups``, ``/tickets/{id}/conversations``: ``page``/``per_page`` (max 100),
  the next page in a ``Link`` header.
- "Filter Tickets" ``GET /api/v2/search/tickets?query="..."``: the query in double quotes,
  "can have up to 512 characters" (longer: 400); ``status:N``, ``group_id:N``, ``OR``, ``AND``
  and parentheses; 30 results a page, pages 1..10, ``{"results": [...], "total": n}``; no
  ``stats``.
- "List All Tickets" ``GET /api/v2/tickets``: "By default, only tickets that have been created
  within the past 30 days will be returned" (when ``now`` is set), ``updated_since``,
  ``order_by`` (created_at, updated_at), ``order_type`` (asc, desc), ``include=stats`` and
  ``include=requester`` (name, email, id, mobile, phone). The stats fields
  (``agent_responded_at``, ``requester_responded_at``, ``first_responded_at``, ...) are those of
  the official python-freshdesk client's recorded ticket,
  sjkingo/python-freshdesk freshdesk/v2/tests/sample_json_data/ticket_1.json.
- "Conversations": ``incoming`` is "Set to true if a particular conversation should appear as
  being created from outside (i.e., not through web portal)"; ``user_id`` is "ID of the
  agent/user who is adding the conversation"; ``source`` 0 reply, 2 note; ``private`` notes. So a
  requester's portal reply is ``incoming: false`` (the fake used to mark every customer
  message incoming and every agent one not, as our code expected).
- "List All Ticket Fields" ``GET /api/v2/ticket_fields?type=``: the status field's
  ``choices`` are ``{"id": [agent label, customer label]}`` as in the documented sample
  (6 "Waiting on Customer" shown as "Awaiting your Reply", 7 "Waiting on Third Party" shown as
  "Being Processed").
- "View a Contact" ``GET /api/v2/contacts/{id}``: "A contact is a customer"; an agent's user
  id is not a contact and answers 404.
- Tickets carry ``fr_due_by``, ``due_by`` and ``nr_due_by`` (next response; set by Freshdesk on
  plans with next-response SLAs).
"""

from __future__ import annotations

import base64
import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc
REQUESTER = 5001
CC_CONTACT = 5002
AGENT = 77
STATUS_CHOICES = {
    "2": ["Open", "Being Processed"],
    "3": ["Pending", "Awaiting your Reply"],
    "4": ["Resolved", "This ticket has been Resolved"],
    "5": ["Closed", "This ticket has been Closed"],
    "6": ["Waiting on Customer", "Awaiting your Reply"],
    "7": ["Waiting on Third Party", "Being Processed"],
}
#: who -> (user_id, incoming, private, source, from_email)
AUTHORS = {
    "customer": (REQUESTER, True, False, 0, "jane@example.org"),  # the requester, by email
    "portal": (REQUESTER, False, False, 0, "jane@example.org"),  # the requester, in the portal
    "cc": (CC_CONTACT, True, False, 0, "boss@example.org"),  # another contact, by email
    "agent": (AGENT, False, False, 0, "support@acme.test"),
    "note": (AGENT, False, True, 2, "support@acme.test"),
}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeFreshdesk(FakeHelpdesk):
    def __init__(self, server: Any, key: str) -> None:
        super().__init__(server)
        self.key = key
        self.now: datetime | None = None  # set: the tickets list's 30-day default applies
        self.groups = {11: "Support", 12: "Billing", 13: "Sales"}
        self.status_choices: dict[str, list[str]] = dict(STATUS_CHOICES)
        self.contacts = {
            REQUESTER: {"id": REQUESTER, "name": "Jane Doe", "email": "jane@example.org"},
            CC_CONTACT: {"id": CC_CONTACT, "name": "Her Boss", "email": "boss@example.org"},
        }
        self.contacts_forbidden = False  # an agent without the privilege to view contacts
        self.tickets: list[dict[str, Any]] = []
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        self.total = 3000
        self.remaining = 2900
        self._ids = itertools.count(812)
        self._conv_ids = itertools.count(5000001)

    def add(
        self,
        subject: str,
        *,
        status: int = 2,
        group: int | None = 11,
        created: datetime,
        convs: tuple[tuple[str, datetime], ...] = (),
        priority: int = 2,
        fr_due_by: datetime | None = None,
        nr_due_by: datetime | None = None,
        due_by: datetime | None = None,
        source: int = 1,
    ) -> int:
        """A ticket; ``convs`` are (who, when) with who one of ``AUTHORS``."""
        tid = next(self._ids)
        self.tickets.append(
            {
                "id": tid,
                "subject": subject,
                "status": status,
                "priority": priority,
                "source": source,
                "requester_id": REQUESTER,
                "responder_id": None,
                "group_id": group,
                "company_id": None,
                "type": "Question",
                "tags": [],
                "cc_emails": [],
                "fr_escalated": False,
                "is_escalated": False,
                "nr_escalated": False,
                "spam": False,
                "custom_fields": {},
                "created_at": iso(created),
                "updated_at": iso(created),
                "fr_due_by": iso(fr_due_by) if fr_due_by else None,
                "nr_due_by": iso(nr_due_by) if nr_due_by else None,
                "due_by": iso(due_by) if due_by else None,
            }
        )
        self.conversations[tid] = []
        for who, at in convs:
            self.touch(tid, who, at)
        return tid

    def touch(self, tid: int, who: str, at: datetime) -> None:
        """A new conversation on a ticket (which moves its ``updated_at``)."""
        user_id, incoming, private, source, from_email = AUTHORS[who]
        self.conversations[tid].append(
            {
                "id": next(self._conv_ids),
                "body_text": "…",
                "incoming": incoming,
                "private": private,
                "user_id": user_id,
                "support_email": None if private else "support@acme.test",
                "source": source,
                "ticket_id": tid,
                "from_email": from_email,
                "to_emails": ["support@acme.test"],
                "created_at": iso(at),
                "updated_at": iso(at),
            }
        )
        ticket = self._ticket(tid)
        ticket["updated_at"] = max(ticket["updated_at"], iso(at))

    def _ticket(self, tid: int) -> dict[str, Any]:
        return next(t for t in self.tickets if t["id"] == tid)

    def stats(self, tid: int) -> dict[str, Any]:
        """What ``include=stats`` adds, kept the way Freshdesk's own helpdesk source keeps it
        (Helpdesk::Note#save_response_time, TicketState#consecutive_customer_response?): a
        contact's message sets ``requester_responded_at`` only when it is the first after the
        team's last public reply or note (before any reply it stays empty, but on an outbound
        email); a public reply or note of an agent sets ``agent_responded_at`` (on an outbound
        email only once the customer answered); private notes set nothing."""
        outbound = self._ticket(tid)["source"] == 10
        agent = customer = first = None
        for conv in sorted(self.conversations[tid], key=lambda c: c["created_at"]):
            at = conv["created_at"]
            if conv["user_id"] in self.contacts:
                if outbound:
                    if (agent is None and customer is None) or (
                        agent and customer and agent > customer
                    ):
                        customer = at
                elif agent is not None and (customer is None or customer < agent):
                    customer = at
            elif not conv["private"]:
                if not outbound or customer:
                    agent = at
                first = first or at
        return {
            "agent_responded_at": agent,
            "requester_responded_at": customer,
            "first_responded_at": first,
            "status_updated_at": None,
            "reopened_at": None,
            "resolved_at": None,
            "closed_at": None,
            "pending_since": None,
        }

    def error(self, status: int, headers: dict[str, str]) -> Response:
        body: dict[str, Any] = {
            400: {
                "description": "Validation failed",
                "errors": [
                    {"field": "query", "message": "Given value is invalid", "code": "invalid_value"}
                ],
            },
            401: {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            },
            403: {
                "code": "access_denied",
                "message": "You are not authorized to perform this action.",
            },
            404: {"code": "not_found", "message": "The requested resource was not found"},
            429: {"message": "You have exceeded the limit of requests per minute"},
        }.get(status, {"code": "internal_error", "message": "We're sorry, something went wrong."})
        return json_response(body, status, {**self._rate(), **headers})

    def bad_shape(self) -> Any:
        return {"groups": [{"id": 11}]}

    def _rate(self) -> dict[str, str]:
        return {
            "X-RateLimit-Total": str(self.total),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Used-CurrentRequest": "1",
        }

    def handle(self, request: Request) -> Response:
        self.remaining = max(0, self.remaining - 1)
        header = request.headers.get("Authorization", "")
        decoded = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else ""
        if decoded.split(":")[0] != self.key:
            return self.error(401, {})
        path = request.path
        if path == "/api/v2/groups":
            items = [
                {"id": gid, "name": name, "description": "", "escalate_to": None}
                for gid, name in self.groups.items()
            ]
            return self._listing(request, items)
        if path == "/api/v2/ticket_fields":
            return json_response(self._ticket_fields(request.args.get("type")), 200, self._rate())
        if path == "/api/v2/search/tickets":
            return self._search(request)
        if path == "/api/v2/tickets":
            return self._tickets(request)
        match = re.fullmatch(r"/api/v2/tickets/(\d+)/conversations", path)
        if match and int(match.group(1)) in self.conversations:
            return self._listing(request, self.conversations[int(match.group(1))])
        match = re.fullmatch(r"/api/v2/contacts/(\d+)", path)
        if match and self.contacts_forbidden:
            return self.error(403, {})
        if match and int(match.group(1)) in self.contacts:
            return json_response(self.contacts[int(match.group(1))], 200, self._rate())
        return self.error(404, {})

    def _ticket_fields(self, kind: str | None) -> list[dict[str, Any]]:
        fields = [
            {"id": 1, "name": "requester", "label": "Search a requester",
             "type": "default_requester", "default": True},
            {"id": 5, "name": "status", "label": "Status", "label_for_customers": "Status",
             "description": "Ticket status", "position": 13, "type": "default_status",
             "default": True, "required_for_closure": False, "required_for_agents": True,
             "required_for_customers": False, "customers_can_edit": False,
             "displayed_to_customers": True, "choices": self.status_choices},
        ]  # fmt: skip
        return [f for f in fields if kind is None or f["type"] == kind]

    def _listing(self, request: Request, items: list[Any]) -> Response:
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        headers = self._rate()
        if page * per_page < len(items):
            query = urlencode({**request.args, "page": page + 1})
            headers["Link"] = f'<{self.origin(request)}{request.path}?{query}>; rel="next"'
        return json_response(items[(page - 1) * per_page : page * per_page], 200, headers)

    def _tickets(self, request: Request) -> Response:
        args = request.args
        items = list(self.tickets)
        since = args.get("updated_since")
        if since:
            items = [t for t in items if t["updated_at"] >= since]
        elif self.now is not None:
            month = iso(self.now - timedelta(days=30))
            items = [t for t in items if t["created_at"] >= month]
        key = args.get("order_by", "created_at")
        items.sort(key=lambda t: t[key], reverse=args.get("order_type", "desc") == "desc")
        include = args.get("include", "").split(",")
        out = []
        for ticket in items:
            item = dict(ticket)
            if "stats" in include:
                item["stats"] = self.stats(ticket["id"])
            if "requester" in include:
                contact = self.contacts[ticket["requester_id"]]
                item["requester"] = {**contact, "mobile": None, "phone": None}
            out.append(item)
        return self._listing(request, out)

    def _search(self, request: Request) -> Response:
        query = request.args.get("query", "")
        page = int(request.args.get("page", 1))
        if not (query.startswith('"') and query.endswith('"')) or len(query) > 512:
            return self.error(400, {})
        if not 1 <= page <= 10:
            return self.error(400, {})
        clauses = [c.strip("() ") for c in query.strip('"').split(" AND ")]
        items = list(self.tickets)
        for clause in clauses:
            wanted: dict[str, set[int]] = {}
            for term in clause.split(" OR "):
                field, _, value = term.strip("() ").partition(":")
                wanted.setdefault(field, set()).add(int(value))
            for field, values in wanted.items():
                items = [t for t in items if t[field] in values]
        items.sort(key=lambda t: t["created_at"], reverse=True)
        body = {"results": items[(page - 1) * 30 : page * 30], "total": len(items)}
        return json_response(body, 200, self._rate())
