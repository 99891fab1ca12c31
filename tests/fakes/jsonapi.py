"""A fake in-house helpdesk with a plain JSON API, for the generic ``json`` kind.

Shaped like the small home-grown or lesser-known helpdesks the kind is for: an API key header,
the tickets nested under ``data.tickets``, the next page's absolute URL under ``links.next``
(null on the last page), nested objects for the customer and queue, ISO times with offsets
and epoch milliseconds, ``{"error": ...}`` bodies and a ``Retry-After`` on 429.
Like many such APIs it lists tickets in every state and takes ``updated_since`` (ISO 8601 UTC:
only tickets whose ``updated_at`` is at or after it), the parameter the kind's ``since_param``
option names. ``reply_headers`` replace the quota headers of a normal answer
(``X-RateLimit-Remaining: 0`` with a reset as epoch seconds, the form GitHub documents at
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc
PATH = "/api/v1/tickets"
#: the json kind's ``fields`` mapping for this fake's items (one place for every test and bench)
FIELDS = {
    "id": "ticket_id",
    "subject": "title",
    "requester": "customer.name",
    "category": "queue.name",
    "priority": "prio",
    "status": "state",
    "created": "opened_at",
    "waiting_since": "last_customer_message_at",
    "due": "sla.due",
    "url": "links.web",
}


class FakeJsonHelpdesk(FakeHelpdesk):
    def __init__(self, server: Any, key: str, page_size: int = 2) -> None:
        super().__init__(server)
        self.key = key
        self.page_size = page_size
        self.tickets: list[dict[str, Any]] = []
        self.endless_next = False
        self.loop_next = False
        self.reply_headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"{self.base}{PATH}"

    def add(
        self,
        ticket_id: int,
        title: str,
        *,
        state: str = "open",
        queue: str = "Support",
        opened: datetime,
        customer_wrote: datetime | None = None,
        due: datetime | None = None,
        prio: str = "normal",
    ) -> None:
        item: dict[str, Any] = {
            "ticket_id": ticket_id,
            "title": title,
            "state": state,
            "prio": prio,
            "customer": {"name": "Ana Diaz", "email": "ana@example.com"},
            "queue": {"id": len(queue), "name": queue},
            "opened_at": opened.astimezone(UTC).isoformat(),
            # epoch milliseconds, as some APIs send them
            "last_customer_message_at": (
                int(customer_wrote.timestamp() * 1000) if customer_wrote else None
            ),
            "links": {"web": f"https://desk.example.com/t/{ticket_id}"},
            "updated_at": max(filter(None, (opened, customer_wrote))).astimezone(UTC).isoformat(),
        }
        if due is not None:
            item["sla"] = {"due": due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        self.tickets.append(item)

    def change(self, ticket_id: int, at: datetime, **fields: Any) -> None:
        """Change a ticket at ``at`` (``state``, ``last_customer_message_at``...)."""
        item = next(t for t in self.tickets if t["ticket_id"] == ticket_id)
        item.update(fields, updated_at=at.astimezone(UTC).isoformat())

    def error(self, status: int, headers: dict[str, str]) -> Response:
        text = {
            401: "invalid api key",
            403: "key lacks the tickets:read scope",
            404: "no such route",
        }
        return json_response({"error": text.get(status, "internal error")}, status, headers)

    def bad_shape(self) -> Any:
        return {"data": {"tickets": {"17": {"title": "a map, not a list"}}}, "links": {}}

    def handle(self, request: Request) -> Response:
        if request.headers.get("X-Api-Key") != self.key:
            return self.error(401, {})
        if request.path != PATH:
            return self.error(404, {})
        page = int(request.args.get("page", 1))
        tickets = self.tickets
        since = request.args.get("updated_since")
        if since:
            at = datetime.fromisoformat(since.replace("Z", "+00:00"))
            tickets = [t for t in tickets if datetime.fromisoformat(t["updated_at"]) >= at]
        chunk = tickets[(page - 1) * self.page_size : page * self.page_size]
        more = page * self.page_size < len(tickets)
        nxt = None
        if more or self.endless_next:
            keep = f"&updated_since={since}" if since else ""
            nxt = f"{self.origin(request)}{PATH}?page={page + 1}{keep}"
        if self.loop_next:
            nxt = f"{self.origin(request)}{PATH}?page=1"
        return json_response(
            {"data": {"tickets": chunk, "count": len(chunk)}, "links": {"next": nxt}},
            headers=self.reply_headers
            or {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "599"},
        )
