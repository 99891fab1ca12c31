"""A fake Zendesk Support API answering like https://SUBDOMAIN.zendesk.com/api/v2.

Basic auth ``{email}/token:{token}`` or ``Bearer`` OAuth; ``GET /api/v2/groups.json`` (cursor
pagination: ``meta.has_more``, ``links.next``); ``GET /api/v2/search.json`` with ``query``
(``type:ticket``, ``status<pending``, ``status:X``, ``group:ID``, ``tags:X``), ``sort_by``,
``sort_order``, ``per_page`` (max 100), ``page``, offset pagination with an absolute
``next_page``, ``include=tickets(users,slas,metric_sets)`` sideloads;
``GET /api/v2/tickets/{id}/comments.json`` with ``include=users``, cursor pagination and ``sort``
(``created_at`` or ``-created_at``). Every answer carries
``X-Rate-Limit``/``X-Rate-Limit-Remaining`` and an ETag that ``If-None-Match`` revalidates (304).
Errors are Zendesk's JSON bodies (``{"error": ...}``).

Following https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/:
- "The Search API returns up to 1,000 results per query [...] If you request a page past the
  limit (page=11 at 100 results per page), a 422 Insufficient Resource Error is returned", while
  ``count`` is the true total — and page 10 still links page 11 in ``next_page`` (the fake used
  to stop linking at 1,000, as our code expected);
- "Export Search Results" (``GET /api/v2/search/export``): ``filter[type]`` is required and a
  ``type:`` in the query is an error; cursor pagination (``page[size]`` up to 1000,
  ``page[after]``, ``meta.has_more``, ``meta.after_cursor``, ``links.next``, ``links.prev``
  always null), results ordered by ``created_at`` only, no ``count``. Sideloads are not
  documented there, so the fake sends none.
Ticket metric sets (``metric_sets``, one per ticket, keyed by ``ticket_id``) follow
https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_metrics/: ``replies`` is
"the number of public replies added to a ticket by an agent" (an internal note is not one);
``requester_updated_at`` / ``assignee_updated_at`` "when the requester / assignee last updated
the ticket"; ``latest_comment_added_at`` "when the latest comment was added" (notes included).
The submitter of a ticket is the author of its first comment and by default its requester
(https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/, "Requesters and
submitters"). List Comments sorts by creation, ascending unless cursor pagination asks
``sort=-created_at`` (the OpenAPI text of that page, ListTicketComments).
SLA metrics (``slas.policy_metrics[].metric``) follow
https://developer.zendesk.com/api-reference/ticketing/business-rules/sla_policies/: reply
metrics (``first_reply_time``, ``next_reply_time``, ``periodic_update_time``,
``pausable_update_time``) and resolution metrics (``requester_wait_time``, ``agent_work_time``).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from tests.fakes.oauth import FakeOAuthServer
from tests.fakes.web import FakeHelpdesk, etag_of, json_response

UTC = timezone.utc
STATUS_ORDER = ("new", "open", "pending", "hold", "solved", "closed")


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeZendesk(FakeHelpdesk):
    def __init__(self, server: Any, email: str, token: str) -> None:
        super().__init__(server)
        self.email = email
        self.token = token
        self.oauth_token = ""
        self.oauth: FakeOAuthServer | None = None
        self.groups = {360001: "Support", 360002: "Billing", 360003: "Sales"}
        self.users: dict[int, dict[str, Any]] = {
            501: {"id": 501, "name": "Anna Agent", "email": "anna@acme.test", "role": "agent"},
            502: {"id": 502, "name": "Ben Admin", "email": "ben@acme.test", "role": "admin"},
        }
        self.tickets: list[dict[str, Any]] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.limit = 700
        self.remaining = 650
        self.not_modified = 0
        #: whether the search answers the ``metric_sets`` sideload it is asked for
        self.metric_sets = True
        self._ids = itertools.count(4711)
        self._user_ids = itertools.count(9001)
        self._comment_ids = itertools.count(70001)

    @property
    def web(self) -> str:
        return self.base

    # ------------------------------------------------------------------ building the data

    def add(
        self,
        subject: str,
        *,
        status: str = "open",
        group: int | None = 360001,
        created: datetime,
        comments: tuple[tuple[str, datetime], ...] = (),
        priority: str | None = "normal",
        breach_at: tuple[tuple[str, datetime], ...] = (),
        sla: tuple[tuple[str, str, datetime], ...] = (),
        assignee: int | None = None,
        submitter: str = "customer",
    ) -> int:
        """A ticket; ``comments`` are (who, when) with who customer/agent/note (private);
        the first comment is the ticket's description, written by its submitter (``agent``:
        an agent opened it on the customer's behalf). ``breach_at`` are (stage, when)
        ``next_reply_time`` SLA metrics, ``sla`` (metric, stage, when) any."""
        tid = next(self._ids)
        requester = next(self._user_ids)
        self.users[requester] = {
            "id": requester,
            "name": f"Customer {requester}",
            "email": f"c{requester}@example.net",
            "role": "end-user",
        }
        times = [created, *(at for _, at in comments)]
        ticket: dict[str, Any] = {
            "url": f"{self.base}/api/v2/tickets/{tid}.json",
            "id": tid,
            "external_id": None,
            "via": {"channel": "email"},
            "created_at": iso(created),
            "updated_at": iso(max(times)),
            "type": "question",
            "subject": subject,
            "raw_subject": subject,
            "description": "Hello…",
            "priority": priority,
            "status": status,
            "requester_id": requester,
            "submitter_id": requester if submitter == "customer" else 501,
            "assignee_id": assignee,
            "organization_id": None,
            "group_id": group,
            "tags": [],
            "custom_status_id": 1000 + STATUS_ORDER.index(status),
            "result_type": "ticket",
        }
        metrics = [("next_reply_time", stage, at) for stage, at in breach_at] + list(sla)
        if metrics:
            ticket["slas"] = {
                "policy_metrics": [
                    {"metric": metric, "stage": stage, "breach_at": iso(at), "hours": 2}
                    for metric, stage, at in metrics
                ]
            }
        self.tickets.append(ticket)
        self.comments[tid] = [
            {
                "id": next(self._comment_ids),
                "type": "Comment",
                "author_id": requester if who == "customer" else 501,
                "body": "…",
                "public": who != "note",
                "created_at": iso(at),
                "via": {"channel": "email" if who == "customer" else "web"},
            }
            for who, at in comments
        ]
        return tid

    def metric_set(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """The ticket's Ticket Metrics, computed from its comments as Zendesk describes them."""
        comments = self.comments[ticket["id"]]
        requester, assignee = ticket["requester_id"], ticket["assignee_id"]

        def agent(c: dict[str, Any]) -> bool:
            return self.users.get(c["author_id"], {}).get("role") in ("agent", "admin")

        def last(rows: list[dict[str, Any]]) -> str | None:
            return max((c["created_at"] for c in rows), default=None)

        replies = [c for c in comments if c["public"] and agent(c)]
        if ticket["submitter_id"] != requester and replies:
            # whether Zendesk counts an agent's description as a reply is not documented; the
            # fake says no, the worse case (the connector reads such a ticket's comments)
            replies = replies[1:]
        return {
            "id": 80000 + ticket["id"],
            "ticket_id": ticket["id"],
            "url": f"{self.base}/api/v2/ticket_metrics/{80000 + ticket['id']}.json",
            "created_at": ticket["created_at"],
            "updated_at": ticket["updated_at"],
            "replies": len(replies),
            "reopens": 0,
            "requester_updated_at": last([c for c in comments if c["author_id"] == requester])
            or ticket["created_at"],
            "assignee_updated_at": last([c for c in comments if c["author_id"] == assignee]),
            "latest_comment_added_at": last(comments),
            "status_updated_at": ticket["updated_at"],
        }

    def touch(self, tid: int, who: str, at: datetime) -> None:
        """A new comment on a ticket (which moves its ``updated_at``)."""
        ticket = next(t for t in self.tickets if t["id"] == tid)
        self.comments[tid].append(
            {
                "id": next(self._comment_ids),
                "type": "Comment",
                "author_id": ticket["requester_id"] if who == "customer" else 502,
                "public": who != "note",
                "created_at": iso(at),
            }
        )
        ticket["updated_at"] = iso(at)

    # ------------------------------------------------------------------ answering

    def error(self, status: int, headers: dict[str, str]) -> Response:
        body: dict[str, Any] = {
            401: {"error": "Couldn't authenticate you"},
            403: {
                "error": "Forbidden",
                "description": "You do not have access to this page. Please contact the "
                "account owner of this help desk for further help.",
            },
            404: {"error": "InvalidEndpoint", "description": "Not found"},
            422: {
                "error": "invalid",
                "description": "Invalid search: Requested response size was greater than "
                "Search Response Limits",
            },
        }.get(status, {"error": "Internal Server Error"})
        if status == 429:
            # Zendesk's 429 comes as plain text with Retry-After
            return Response(
                "Rate limit for ticket search exceeded, please wait before retrying",
                status=429,
                headers=headers,
                content_type="text/plain",
            )
        return json_response(body, status, headers)

    def bad_shape(self) -> Any:
        return {"tickets": "not a list", "count": 1}

    def enable_oauth(self, client_id: str, username: str) -> FakeOAuthServer:
        """The account's OAuth client: authorization code with PKCE and refresh tokens on
        Zendesk's own paths (developer.zendesk.com/documentation/api-basics/authentication/
        oauth-pkce and .../rest_api/docs/support/grant_type_tokens: ``/oauth/authorizations/new``,
        ``/oauth/tokens`` taking JSON or form bodies, ``invalid_grant`` for a refused refresh
        token). Access tokens expire (``expires_in``); Zendesk does not rotate refresh tokens
        in what its docs show, so this one keeps them."""
        self.oauth = FakeOAuthServer(
            self.base,
            client_id,
            username,
            paths={"authorize": "/oauth/authorizations/new", "token": "/oauth/tokens"},
            rotate=False,
        )
        return self.oauth

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.oauth_token and header == f"Bearer {self.oauth_token}":
            return True
        if self.oauth is not None and header.startswith("Bearer "):
            return self.oauth.active(header.removeprefix("Bearer "))
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return decoded == f"{self.email}/token:{self.token}"

    def handle(self, request: Request) -> Response:
        if self.oauth is not None and (answer := self.oauth.handle(request)) is not None:
            return answer
        if not self._authorized(request):
            return self.error(401, {})
        path = request.path
        if path == "/api/v2/groups.json":
            items = [
                {"id": gid, "name": name, "deleted": False, "default": gid == 360001}
                for gid, name in self.groups.items()
            ]
            return self._cursor(request, "groups", items, {})
        if path == "/api/v2/search.json":
            return self._search(request)
        if path in ("/api/v2/search/export", "/api/v2/search/export.json"):
            return self._export(request)
        match = re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json", path)
        if match and int(match.group(1)) in self.comments:
            comments = self.comments[int(match.group(1))]
            extra = {}
            if "users" in request.args.get("include", ""):
                ids = {c["author_id"] for c in comments}
                extra["users"] = [self.users[i] for i in sorted(ids) if i in self.users]
            if request.args.get("sort") == "-created_at":
                comments = sorted(comments, key=lambda c: c["created_at"], reverse=True)
            return self._cursor(request, "comments", comments, extra)
        return self.error(404, {})

    def _matches(self, ticket: dict[str, Any], terms: list[str]) -> bool:
        for term in terms:
            if term == "type:ticket":
                continue
            if m := re.fullmatch(r"status([<>:])(\w+)", term):
                here, there = STATUS_ORDER.index(ticket["status"]), STATUS_ORDER.index(m[2])
                op = m[1]
                if (op == "<" and here >= there) or (op == ">" and here <= there):
                    return False
                if op == ":" and here != there:
                    return False
            elif m := re.fullmatch(r"group:(\d+)", term):
                if ticket["group_id"] != int(m[1]):
                    return False
            elif m := re.fullmatch(r"tags:(\S+)", term):
                if m[1] not in ticket["tags"]:
                    return False
            else:
                raise ValueError(f"the fake does not understand {term!r}")
        return True

    def _search(self, request: Request) -> Response:
        args = request.args
        terms = args.get("query", "").split()
        items = [t for t in self.tickets if self._matches(t, terms)]
        key = args.get("sort_by", "created_at")
        items.sort(key=lambda t: t[key], reverse=args.get("sort_order", "desc") == "desc")
        per_page = min(int(args.get("per_page", 100)), 100)
        page = int(args.get("page", 1))
        if (page - 1) * per_page >= 1000:
            return self.error(422, {})
        chunk = items[(page - 1) * per_page : page * per_page]
        include = args.get("include", "")
        out = []
        for ticket in chunk:
            item = dict(ticket)
            if "slas" not in include:
                item.pop("slas", None)
            out.append(item)
        body: dict[str, Any] = {
            "results": out,
            "facets": None,
            "count": len(items),
            "next_page": None,
            "previous_page": None,
        }
        if page * per_page < len(items):  # page 10 links page 11, which answers 422
            query = urlencode({**args, "page": page + 1})
            body["next_page"] = f"{self.base}/api/v2/search.json?{query}"
        if page > 1:
            query = urlencode({**args, "page": page - 1})
            body["previous_page"] = f"{self.base}/api/v2/search.json?{query}"
        if "users" in include:
            ids = {t["requester_id"] for t in chunk} | {t["assignee_id"] for t in chunk}
            body["users"] = [self.users[i] for i in sorted(ids - {None}) if i in self.users]
        if "metric_sets" in include and self.metric_sets:
            body["metric_sets"] = [self.metric_set(t) for t in chunk]
        return self._answer(request, body)

    def _export(self, request: Request) -> Response:
        args = request.args
        terms = args.get("query", "").split()
        if args.get("filter[type]") != "ticket" or any(t.startswith("type:") for t in terms):
            return json_response(
                {"error": "InvalidParameter", "description": "filter[type] is required; "
                 "type in the query string is not allowed"}, 400,
            )  # fmt: skip
        items = sorted(
            (t for t in self.tickets if self._matches(t, terms)), key=lambda t: t["created_at"]
        )
        out = []
        for ticket in items:
            item = dict(ticket)
            item.pop("slas", None)
            out.append(item)
        size = min(int(args.get("page[size]", 100)), 1000)
        start = int(args.get("page[after]", 0))
        chunk = out[start : start + size]
        more = start + size < len(out)
        rest = {k: v for k, v in args.items() if k != "page[after]"}
        after = urlencode({**rest, "page[after]": start + size})
        body = {
            "results": chunk,
            "facets": None,
            "meta": {"has_more": more, "after_cursor": str(start + size) if more else None},
            "links": {
                "prev": None,
                "next": f"{self.base}{request.path}?{after}" if more else None,
            },
        }
        return self._answer(request, body)

    def _cursor(
        self, request: Request, key: str, items: list[Any], extra: dict[str, Any]
    ) -> Response:
        size = min(int(request.args.get("page[size]", 100)), 100)
        start = int(request.args.get("page[after]", 0))
        chunk = items[start : start + size]
        more = start + size < len(items)
        args = {k: v for k, v in request.args.items() if k != "page[after]"}
        after = urlencode({**args, "page[after]": start + size})
        body = {
            key: chunk,
            **extra,
            "meta": {"has_more": more, "after_cursor": str(start + size) if more else None},
            "links": {"next": f"{self.base}{request.path}?{after}" if more else None},
        }
        return self._answer(request, body)

    def _answer(self, request: Request, body: dict[str, Any]) -> Response:
        payload = json.dumps(body).encode()
        etag = etag_of(payload)
        self.remaining = max(0, self.remaining - 1)
        headers = {
            "ETag": etag,
            "X-Rate-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
        }
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return Response(status=304, headers=headers)
        return Response(payload, status=200, headers=headers, content_type="application/json")
