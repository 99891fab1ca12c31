"""A fake Freshdesk API v2 answering like https://DOMAIN.freshdesk.com/api/v2.

Basic auth with the API key as user and ``X`` as password; ``GET /api/v2/groups`` and
``GET /api/v2/tickets/{id}/conversations`` with ``page``/``per_page`` (max 100) and a ``Link``
header to the next page; the filter API ``GET /api/v2/search/tickets?query="..."`` (the query
must be wrapped in double quotes; ``status:N``, ``group_id:N``, ``OR``, ``AND`` and parentheses;
30 results a page, pages 1..10, ``{"results": [...], "total": n}``). Every answer carries
``X-RateLimit-Total``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Used-CurrentRequest``.
Errors are Freshdesk's JSON bodies (``code``/``message``; 400 with ``description``/``errors``).
"""

from __future__ import annotations

import base64
import itertools
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeFreshdesk(FakeHelpdesk):
    def __init__(self, server: Any, key: str) -> None:
        super().__init__(server)
        self.key = key
        self.groups = {11: "Support", 12: "Billing", 13: "Sales"}
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
        due_by: datetime | None = None,
        source: int = 1,
    ) -> int:
        """A ticket; ``convs`` are (who, when) with who customer/agent/note."""
        tid = next(self._ids)
        times = [created, *(at for _, at in convs)]
        self.tickets.append(
            {
                "id": tid,
                "subject": subject,
                "status": status,
                "priority": priority,
                "source": source,
                "requester_id": 5001,
                "responder_id": None,
                "group_id": group,
                "company_id": None,
                "type": "Question",
                "tags": [],
                "cc_emails": [],
                "fr_escalated": False,
                "is_escalated": False,
                "spam": False,
                "custom_fields": {},
                "created_at": iso(created),
                "updated_at": iso(max(times)),
                "fr_due_by": iso(fr_due_by) if fr_due_by else None,
                "due_by": iso(due_by) if due_by else None,
            }
        )
        self.conversations[tid] = [
            {
                "id": next(self._conv_ids),
                "body_text": "…",
                "incoming": who == "customer",
                "private": who == "note",
                "user_id": 5001 if who == "customer" else 77,
                "support_email": "support@acme.test",
                "source": 0 if who == "customer" else 2,
                "ticket_id": tid,
                "from_email": "jane@example.org" if who == "customer" else "support@acme.test",
                "to_emails": ["support@acme.test"],
                "created_at": iso(at),
                "updated_at": iso(at),
            }
            for who, at in convs
        ]
        return tid

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
        if request.path == "/api/v2/groups":
            items = [
                {"id": gid, "name": name, "description": "", "escalate_to": None}
                for gid, name in self.groups.items()
            ]
            return self._listing(request, items)
        if request.path == "/api/v2/search/tickets":
            return self._search(request)
        match = re.fullmatch(r"/api/v2/tickets/(\d+)/conversations", request.path)
        if match and int(match.group(1)) in self.conversations:
            return self._listing(request, self.conversations[int(match.group(1))])
        return self.error(404, {})

    def _listing(self, request: Request, items: list[Any]) -> Response:
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        headers = self._rate()
        if page * per_page < len(items):
            query = urlencode({**request.args, "page": page + 1})
            headers["Link"] = f'<{self.origin(request)}{request.path}?{query}>; rel="next"'
        return json_response(items[(page - 1) * per_page : page * per_page], 200, headers)

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
