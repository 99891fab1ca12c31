"""A fake FreeScout with the API & Webhooks module, answering like https://HOST/api.

It follows the module's own source, whose docblocks are the text of https://api-docs.freescout.net
(Modules/ApiWebhooks/Http/Controllers/ApiController.php: listConversations, getConversation,
addPageDataToResponse; Modules/ApiWebhooks/Providers/ApiWebhooksServiceProvider.php:
formatEntity — as found in the public copies freescout-help-desk/freescout and
webfactory/webfactory-de-freescout), and FreeScout's core (github.com/freescout-helpdesk/freescout:
app/Thread.php, app/Observers/ThreadObserver.php, app/Conversation.php):

* ``X-FreeScout-API-Key`` (or ``?api_key=``) auth; ``GET /api/mailboxes``;
* ``GET /api/conversations`` reads ``mailboxId`` (a comma list), ``status`` (a comma list,
  default: every status), ``state``, ``type``, ``updatedSince``, ``sortField`` (createdAt,
  mailboxId, number, subject, updatedAt, waitingSince), ``sortOrder`` (default desc), ``page``,
  ``pageSize`` (default 50) and ``embed`` (threads); it ignores any other parameter;
* without ``embed=threads`` a conversation has ``_embedded: {"threads": []}``;
  ``GET /api/conversations/{id}`` embeds the threads unless ``embed`` says otherwise;
* the ``page`` object: ``size``, ``totalElements``, ``totalPages``, ``number``;
* threads are the published ones, newest first; types ``customer``, ``message``, ``note``,
  ``lineitem``, ``chat`` (``phone`` is commented out in Thread.php: a call is a note);
  ``createdBy.type`` is ``user`` or ``customer``;
* ``customerWaitingSince`` is ``{time: last_reply_at, latestReplyFrom: last_reply_from}``:
  FreeScout moves those for published ``customer`` and ``message`` threads, and for notes of a
  phone conversation — not for a ``chat`` thread; every new thread saves the conversation, so
  ``updatedAt`` moves (ThreadObserver::created);
* ``threadsCount`` is ``threads_count``: every published thread except notes and line items
  (ThreadObserver::created; ConversationsController counts a reply published from a draft);
* ``pageSize`` has no maximum (listConversations passes it to Laravel's ``paginate()``).
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from typing import Any

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc
#: what the module's listConversations sorts by, and the field it sorts on
SORT_FIELDS = {
    "createdAt": "createdAt",
    "mailboxId": "mailboxId",
    "number": "number",
    "subject": "subject",
    "updatedAt": "_updated",
    "waitingSince": "_last_reply_at",
}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeFreeScout(FakeHelpdesk):
    def __init__(self, server: Any, key: str) -> None:
        super().__init__(server)
        self.key = key
        self.mailboxes = {3: "Support", 4: "Billing"}
        self.conversations: list[dict[str, Any]] = []
        #: parameters this module version does not read (the controller ignores what it does
        #: not know: an older module, or a proxy that drops them — not a documented setup)
        self.unknown_params: set[str] = set()
        self._ids = itertools.count(431)
        self._thread_ids = itertools.count(9000)

    def add(
        self,
        subject: str,
        *,
        mailbox: int = 3,
        status: str = "active",
        kind: str = "email",
        created: datetime,
        threads: tuple[tuple[Any, ...], ...] = (),
    ) -> int:
        """A conversation; ``threads`` are (type, created[, by]) with type customer, message,
        note, lineitem or chat; ``by`` (user or customer) defaults from the type."""
        cid = next(self._ids)
        conv: dict[str, Any] = {
            "id": cid,
            "number": cid,
            "type": kind,
            "folderId": 10 + mailbox,
            "status": status,
            "state": "published",
            "subject": subject,
            "preview": "Hello…",
            "mailboxId": mailbox,
            "assignee": None,
            "createdBy": {"id": 88, "type": "customer", "email": "tom@example.net"},
            "createdAt": iso(created),
            "closedBy": None,
            "closedByUser": None,
            "closedAt": None,
            "source": {"type": "email", "via": "customer"},
            "cc": [],
            "bcc": [],
            "customer": {
                "id": 88,
                "type": "customer",
                "firstName": "Tom",
                "lastName": "Novak",
                "photoUrl": "",
                "email": "tom@example.net",
            },
            "_threads": [],  # newest first, as getThreads() orders them
            "_updated": created,
            "_last_reply_at": None,
            "_last_reply_from": "",
            "_user_updated_at": None,
        }
        self.conversations.append(conv)
        for thread in threads:
            self.reply(cid, *thread)
        return cid

    def reply(self, cid: int, kind: str, at: datetime, by: str = "") -> None:
        """A new thread on a conversation, with what ThreadObserver::created does to it."""
        conv = next(c for c in self.conversations if c["id"] == cid)
        by = by or ("customer" if kind == "customer" else "user")
        conv["_threads"].insert(
            0,
            {
                "id": next(self._thread_ids),
                "type": kind,
                "status": conv["status"],
                "state": "published",
                "action": {"type": "", "text": "", "associatedEntities": []},
                "body": "<p>…</p>",
                "source": {"type": "email", "via": by},
                "customer": conv["customer"],
                "createdBy": {"id": 88 if by == "customer" else 7, "type": by},
                "assignedTo": None,
                "to": [],
                "cc": [],
                "bcc": [],
                "createdAt": iso(at),
                "openedAt": None,
                "_embedded": {"attachments": []},
            },
        )
        if kind != "customer":
            conv["_user_updated_at"] = at
        if kind in ("customer", "message") or (conv["type"] == "phone" and kind == "note"):
            conv["_last_reply_at"] = at
            conv["_last_reply_from"] = by
        conv["_updated"] = max(conv["_updated"], at)

    def change(self, cid: int, at: datetime, **fields: Any) -> None:
        """Change a conversation as FreeScout does when it is closed, moved or deleted to the
        Deleted folder: the conversation is saved, so ``updatedAt`` moves to ``at``."""
        conv = next(c for c in self.conversations if c["id"] == cid)
        conv.update(fields)
        conv["_updated"] = max(conv["_updated"], at)

    # ------------------------------------------------------------------ serving

    def render(self, conv: dict[str, Any], with_threads: bool) -> dict[str, Any]:
        last = conv["_last_reply_at"]
        body = {k: v for k, v in conv.items() if not k.startswith("_")}
        body.update(
            {
                "threadsCount": sum(
                    1 for t in conv["_threads"] if t["type"] not in ("note", "lineitem")
                ),
                "updatedAt": iso(conv["_updated"]),
                "userUpdatedAt": iso(conv["_user_updated_at"])
                if conv["_user_updated_at"]
                else None,
                "customerWaitingSince": {
                    "time": iso(last) if last else None,
                    "friendly": "2 hours ago" if last else "",
                    "latestReplyFrom": conv["_last_reply_from"],
                },
                "_embedded": {"threads": list(conv["_threads"]) if with_threads else []},
            }
        )
        return body

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
        args = {k: v for k, v in request.args.items() if k not in self.unknown_params}
        if request.path == "/api/mailboxes":
            items = [
                {"id": mid, "name": name, "email": f"{name.lower()}@example.com"}
                for mid, name in self.mailboxes.items()
            ]
            return self._page(args, "mailboxes", items)
        if request.path == "/api/conversations":
            return self._list(args)
        found = re.fullmatch(r"/api/conversations/(\d+)", request.path)
        if found:
            conv = next((c for c in self.conversations if c["id"] == int(found[1])), None)
            if conv is None:
                return self.error(404, {})
            embed = args.get("embed")
            return json_response(self.render(conv, not embed or "threads" in embed.split(",")))
        return self.error(404, {})

    def _list(self, args: dict[str, str]) -> Response:
        items = list(self.conversations)
        if args.get("mailboxId"):
            wanted = {int(m) for m in args["mailboxId"].split(",")}
            items = [c for c in items if c["mailboxId"] in wanted]
        if args.get("status"):
            statuses = {s.strip() for s in args["status"].split(",")}
            items = [c for c in items if c["status"] in statuses]
        if args.get("state"):
            items = [c for c in items if c["state"] == args["state"]]
        if args.get("type"):
            items = [c for c in items if c["type"] == args["type"]]
        if args.get("updatedSince"):
            since = datetime.fromisoformat(args["updatedSince"].replace("Z", "+00:00"))
            items = [c for c in items if c["_updated"] >= since]
        field = SORT_FIELDS.get(args.get("sortField", ""), "createdAt")
        items.sort(
            key=lambda c: str(c[field] or ""), reverse=args.get("sortOrder", "desc") == "desc"
        )
        with_threads = "threads" in args.get("embed", "").split(",")
        return self._page(args, "conversations", [self.render(c, with_threads) for c in items])

    def _page(self, args: dict[str, str], key: str, items: list[Any]) -> Response:
        size = int(args.get("pageSize") or 50)
        number = int(args.get("page", 1))
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
