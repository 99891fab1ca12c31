"""A fake FreeScout with the API & Webhooks module, answering like https://HOST/api.

``X-FreeScout-API-Key`` (or ``?api_key=``) auth, ``GET /api/mailboxes`` and
``GET /api/conversations`` with ``mailboxId``, ``status`` (comma list), ``embed=threads``,
``sortField``/``sortOrder``, ``page`` and ``pageSize``; HAL-like ``_embedded.conversations``
with a ``page`` object (``number``, ``totalPages``); threads of type ``customer`` (a customer
message), ``message`` (an agent reply) and ``note``, newest first as FreeScout lists them.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeFreeScout(FakeHelpdesk):
    def __init__(self, server: Any, key: str) -> None:
        super().__init__(server)
        self.key = key
        self.mailboxes = {3: "Support", 4: "Billing"}
        self.conversations: list[dict[str, Any]] = []
        self._ids = itertools.count(431)
        self._thread_ids = itertools.count(9000)

    def add(
        self,
        subject: str,
        *,
        mailbox: int = 3,
        status: str = "active",
        created: datetime,
        threads: tuple[tuple[str, datetime], ...] = (),
    ) -> int:
        """A conversation; ``threads`` are (type, created) with type customer/message/note."""
        cid = next(self._ids)
        conv: dict[str, Any] = {
            "id": cid,
            "number": cid,
            "threadsCount": len(threads),
            "type": "email",
            "folderId": 10 + mailbox,
            "status": status,
            "state": "published",
            "subject": subject,
            "preview": "Hello…",
            "mailboxId": mailbox,
            "assignee": None,
            "createdBy": {"id": 88, "type": "customer", "email": "tom@example.net"},
            "source": {"type": "email", "via": "customer"},
            "cc": [],
            "bcc": [],
            "customer": {
                "id": 88,
                "firstName": "Tom",
                "lastName": "Novak",
                "email": "tom@example.net",
            },
            "createdAt": iso(created),
            "updatedAt": iso(max([created, *(t[1] for t in threads)])),
            "closedAt": None,
            "customFields": [],
            "_embedded": {"threads": []},
        }
        for kind, at in threads:
            by = "customer" if kind == "customer" else "user"
            conv["_embedded"]["threads"].insert(
                0,
                {
                    "id": next(self._thread_ids),
                    "type": kind,
                    "status": status,
                    "state": "published",
                    "action": {"type": "default", "text": "", "associatedEntities": []},
                    "body": "<p>…</p>",
                    "source": {"type": "email", "via": by},
                    "customer": conv["customer"],
                    "createdBy": {"id": 88 if by == "customer" else 7, "type": by},
                    "assignedTo": None,
                    "createdAt": iso(at),
                },
            )
        self.conversations.append(conv)
        return cid

    def error(self, status: int, headers: dict[str, str]) -> Response:
        text = {
            401: "API Key is either not provided or not valid",
            403: "Your API Key is valid, but you are denied access",
            404: "Not found",
            405: "Method not allowed",
        }.get(status, "Server error")
        return json_response({"message": text}, status, headers)

    def bad_shape(self) -> Any:
        return [{"id": 1}]

    def handle(self, request: Request) -> Response:
        if self.key not in (
            request.headers.get("X-FreeScout-API-Key"),
            request.args.get("api_key"),
        ):
            return self.error(401, {})
        if request.path == "/api/mailboxes":
            items = [
                {"id": mid, "name": name, "email": f"{name.lower()}@example.com"}
                for mid, name in self.mailboxes.items()
            ]
            return self._page(request, "mailboxes", items)
        if request.path == "/api/conversations":
            args = request.args
            items = list(self.conversations)
            if args.get("status"):
                wanted = set(args["status"].split(","))
                items = [c for c in items if c["status"] in wanted]
            if args.get("mailboxId"):
                items = [c for c in items if c["mailboxId"] == int(args["mailboxId"])]
            if args.get("embed") != "threads":
                items = [{k: v for k, v in c.items() if k != "_embedded"} for c in items]
            items.sort(key=lambda c: c["createdAt"], reverse=args.get("sortOrder") != "asc")
            return self._page(request, "conversations", items)
        return self.error(404, {})

    def _page(self, request: Request, key: str, items: list[Any]) -> Response:
        size = min(int(request.args.get("pageSize", 50)), 100)
        number = int(request.args.get("page", 1))
        total = max(1, -(-len(items) // size))
        body = {
            "_embedded": {key: items[(number - 1) * size : number * size]},
            "page": {
                "size": size,
                "totalElements": len(items),
                "totalPages": total,
                "number": number,
            },
        }
        return json_response(body)
