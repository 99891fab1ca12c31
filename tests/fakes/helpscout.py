"""A fake Help Scout Mailbox API 2.0 that answers like api.helpscout.net/v2.

OAuth2 client credentials at ``POST /v2/oauth2/token`` (form fields, tokens that can be
revoked), ``GET /v2/mailboxes`` and ``GET /v2/conversations`` with ``status`` (default
``active``; ``all``), ``mailbox``, ``modifiedSince``, ``sortField``/``sortOrder`` (default
``createdAt``/``desc``) and ``page``; HAL pages of 25 conversations with ``_links.next`` that
keep the query; the
per-minute rate-limit headers (``X-RateLimit-Limit-Minute``, ``X-RateLimit-Remaining-Minute``,
``X-RateLimit-Retry-After`` on 429); ``customerWaitingSince`` with ``latestReplyFrom``; snoozed
conversations (``snooze``).

Sources: List Conversations, https://developer.helpscout.com/mailbox-api/endpoints/conversations/list/
(parameters, defaults, the response and its ``page`` object, ``snooze``); the changelog,
https://developer.helpscout.com/mailbox-api/changelog/ (next links keep the query).

What ``mailbox=102,103`` does is not settled: that page shows ``mailbox=123,567`` ("use comma
separated values for more inboxes") while the official PHP client's
``ConversationFilters::withMailbox(int $mailbox)`` (github.com/helpscout/helpscout-api-php,
src/Conversations/ConversationFilters.php) sends one id, and the team's API reference reads
the filter as taking one id. ``mailbox_filter`` picks the reading: ``"list"`` (the page, the
default), ``"first"`` (one id: only the first is read) or ``"ignored"`` (a value that is not
one id filters nothing). The connector must count the same under all three.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc
PAGE_SIZE = 25


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeHelpScout(FakeHelpdesk):
    def __init__(self, server: Any, app_id: str, app_secret: str) -> None:
        super().__init__(server)
        self.app_id = app_id
        self.app_secret = app_secret
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.expires_in = 172800
        self.mailboxes = {101: "Support", 102: "Billing", 103: "Sales"}
        self.conversations: list[dict[str, Any]] = []
        self.remaining = 399
        self.mailbox_filter = "list"  # how a comma list in ``mailbox`` is read (see above)
        self._ids = itertools.count(2284000)
        #: when each conversation was last modified (what ``modifiedSince`` compares)
        self.modified: dict[int, datetime] = {}

    @property
    def api(self) -> str:
        return f"{self.base}/v2"

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def add(
        self,
        number: int,
        subject: str,
        *,
        mailbox: int = 101,
        status: str = "active",
        created: datetime,
        waiting: datetime | None = None,
        reply_from: str | None = "customer",
        snoozed_until: datetime | None = None,
        state: str = "published",
    ) -> None:
        cid = next(self._ids)
        conv: dict[str, Any] = {
            "id": cid,
            "number": number,
            "threads": 2,
            "type": "email",
            "folderId": 900 + mailbox,
            "status": status,
            "state": state,
            "subject": subject,
            "preview": "Hello…",
            "mailboxId": mailbox,
            "assignee": {"id": 456, "first": "Sam", "last": "Lee", "email": "sam@acme.test"},
            "createdBy": {"id": 77, "type": "customer", "email": "ana@example.com"},
            "createdAt": iso(created),
            "closedBy": 0,
            "userUpdatedAt": iso(created),
            "customerWaitingSince": (
                {"time": iso(waiting), "friendly": "2 hours ago", "latestReplyFrom": reply_from}
                if waiting
                else {"friendly": "", "latestReplyFrom": reply_from}
            ),
            "source": {"type": "email", "via": "customer"},
            "tags": [{"id": 1, "tag": "refund", "color": "#0074d9"}],
            "cc": [],
            "bcc": [],
            "primaryCustomer": {
                "id": 77,
                "first": "Ana",
                "last": "Diaz",
                "email": "ana@example.com",
                "type": "customer",
            },
            "customFields": [],
            "_links": {
                "self": {"href": f"https://api.helpscout.net/v2/conversations/{cid}"},
                "mailbox": {"href": f"https://api.helpscout.net/v2/mailboxes/{mailbox}"},
                "web": {"href": f"https://secure.helpscout.net/conversation/{cid}/{number}/"},
            },
        }
        if snoozed_until is not None:
            conv["snooze"] = {
                "snoozedBy": 456,
                "snoozedUntil": iso(snoozed_until),
                "unsnoozeOnCustomerReply": True,
            }
        self.conversations.append(conv)
        self.modified[cid] = max(filter(None, (created, waiting)))

    def change(self, number: int, at: datetime, **fields: Any) -> None:
        """Modify a conversation at ``at`` (a customer's reply: ``customerWaitingSince``; an
        agent's: ``status``/``latestReplyFrom``; a move: ``mailboxId``)."""
        conv = next(c for c in self.conversations if c["number"] == number)
        conv.update(fields)
        self.modified[conv["id"]] = at

    # ------------------------------------------------------------------ serving

    def rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit-Minute": "400",
            "X-RateLimit-Remaining-Minute": str(self.remaining),
        }

    def error(self, status: int, headers: dict[str, str]) -> Response:
        if status == 429:
            headers = {"X-RateLimit-Retry-After": "17", **headers}
        text = {
            401: "Invalid or expired access token",
            403: "The user does not have access to this mailbox",
            404: "Resource not found",
            429: "Too many requests",
        }.get(status, "Internal server error")
        body = {"message": text, "logRef": "4c2b7d1e-0000", "_links": {"about": {"href": ""}}}
        response = json_response(body, status, {**self.rate_headers(), **headers})
        response.content_type = "application/vnd.error+json"
        return response

    def bad_shape(self) -> Any:
        return {"conversations": [], "total": 0}  # v1-like, not HAL

    def handle(self, request: Request) -> Response:
        if request.path == "/v2/oauth2/token":
            return self._token(request)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return self.error(401, {})
        self.remaining -= 1
        if request.path == "/v2/mailboxes":
            items = [
                {"id": mid, "name": name, "slug": f"s{mid}", "email": f"{name.lower()}@acme.test"}
                for mid, name in self.mailboxes.items()
            ]
            return self._page(request, "mailboxes", items, 50)
        if request.path == "/v2/conversations":
            return self._page(request, "conversations", self._conversations(request), PAGE_SIZE)
        return self.error(404, {})

    def _token(self, request: Request) -> Response:
        self.token_requests += 1
        form = request.form
        if (
            request.method != "POST"
            or form.get("grant_type") != "client_credentials"
            or form.get("client_id") != self.app_id
            or form.get("client_secret") != self.app_secret
        ):
            return json_response(
                {"error": "invalid_client", "error_description": "Invalid client credentials"}, 401
            )
        token = f"hs-access-{self.token_requests:04d}-0f9e8d7c6b5a"
        self.tokens.add(token)
        return json_response(
            {"token_type": "bearer", "access_token": token, "expires_in": self.expires_in}
        )

    def _conversations(self, request: Request) -> list[dict[str, Any]]:
        args = request.args
        status = args.get("status", "active")  # Help Scout lists active ones by default
        items = [c for c in self.conversations if status == "all" or c["status"] == status]
        if args.get("mailbox"):
            ids = args["mailbox"].split(",")
            if self.mailbox_filter == "first":
                ids = ids[:1]
            if self.mailbox_filter == "list" or len(ids) == 1:
                wanted = {int(m) for m in ids}
                items = [c for c in items if c["mailboxId"] in wanted]
        if args.get("modifiedSince"):
            # "Returns conversations that have been modified since the given date/time.
            # Date/time is in UTC" (List Conversations; the official PHP client's
            # ConversationFilters::withModifiedSince sends Y-m-d\TH:i:s\Z)
            since = datetime.fromisoformat(args["modifiedSince"].replace("Z", "+00:00"))
            items = [c for c in items if self.modified[c["id"]] >= since]
        field = args.get("sortField", "createdAt")

        def key(c: dict[str, Any]) -> Any:
            return self.modified[c["id"]] if field == "modifiedAt" else c.get(field, c["createdAt"])

        items.sort(key=key, reverse=args.get("sortOrder", "desc") == "desc")
        return items

    def _page(self, request: Request, key: str, items: list[Any], size: int) -> Response:
        number = int(request.args.get("page", 1))
        total_pages = max(1, -(-len(items) // size))
        chunk = items[(number - 1) * size : number * size]
        args = dict(request.args.items())
        url = f"{self.base}{request.path}"

        def link(n: int) -> dict[str, str]:
            return {"href": f"{url}?{urlencode({**args, 'page': n})}"}

        links: dict[str, Any] = {
            "self": link(number),
            "first": link(1),
            "last": link(total_pages),
            "page": {"href": f"{url}{{?page}}", "templated": True},
        }
        if number < total_pages:
            links["next"] = link(number + 1)
        if number > 1:
            links["previous"] = link(number - 1)
        body = {
            "_embedded": {key: chunk},
            "_links": links,
            "page": {
                "size": size,
                "totalElements": len(items),
                "totalPages": total_pages,
                "number": number,
            },
        }
        return json_response(body, headers=self.rate_headers())
