"""A fake Request Tracker 5 REST2 API answering like https://HOST/REST/2.0.

``Authorization: token ...``; ``GET /REST/2.0/tickets`` with a TicketSQL ``query``
(``Status = '...'`` / ``Queue = '...'`` joined by ``OR`` inside parentheses and ``AND``
between them), ``fields`` and ``fields[Queue]``/``fields[Owner]``/``fields[Requestor]``,
a relative ``LastUpdated > 'N minutes ago'`` alone, ``orderby``/``order``,
``page``/``per_page`` (default 20, max 100); answers
``{count, page, pages, per_page, total, items, next_page, prev_page}`` with absolute page URLs
present only when that page exists, string ids, users and queues as ``{id, type, _url}`` plus
the asked sub-fields, and unset dates as ``1970-01-01T00:00:00Z``. ``GET
/REST/2.0/ticket/{id}/history`` (transactions with ``Type``, ``Creator``, ``Created``), ``GET
/REST/2.0/users/privileged`` and ``GET /REST/2.0/queues/all``. Errors are RT's
``{"message": ...}`` bodies.

What it follows, from RT's own source (github.com/bestpractical/rt, 6.0-trunk):
- lib/RT/Ticket.pm ``Correspond``: ``Told`` is set to now for correspondence from anyone who
  is not a requestor ("this will wrongly ack mail from any non-requestor as a told"): a
  customer's colleague on Cc sets it too.
- lib/RT/Record.pm ``_SetLastUpdated``: every transaction sets ``LastUpdated`` and
  ``LastUpdatedBy`` (the acting user).
- lib/RT/User.pm ``UID`` and lib/RT/REST2/Util.pm ``expand_uid``: a user reference's ``id`` is
  the user's Name; lib/RT/REST2/Resource/Tickets.pm expands ``Requestor``/``Cc``/``AdminCc`` to
  lists of them.
- lib/RT/REST2/Resource/Users.pm: ``/users/privileged`` lists the privileged users (staff),
  and is forbidden to an unprivileged user.
- docs/customizing/sla.pod: ``Due`` is set from an SLA's "Resolve" or "Response" level (the
  earlier of both when both are defined): ``due`` here is just a date, either may be meant.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug import Request, Response

from tests.fakes.web import FakeHelpdesk, json_response

UTC = timezone.utc
UNSET = "1970-01-01T00:00:00Z"
AGENT = "anna"
COLLEAGUE = "carol@example.org"  # the requestor's colleague, on Cc, unprivileged


def iso(dt: datetime | None) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else UNSET


class FakeRT(FakeHelpdesk):
    def __init__(self, server: Any, token: str) -> None:
        super().__init__(server)
        self.token = token
        self.queues = {1: "General", 4: "Support", 5: "Billing"}
        self.tickets: list[dict[str, Any]] = []
        self.history: dict[int, list[dict[str, Any]]] = {}
        self._ids = itertools.count(3307)
        self._txn = itertools.count(90000)
        self.privileged = {"root", AGENT, "bert"}  # RT's staff; customers are unprivileged
        self.token_privileged = True  # the token's user may list users
        self.now: datetime | None = None  # RT's clock for relative dates (None: the real one)

    @property
    def api(self) -> str:
        return f"{self.base}/REST/2.0"

    def add(
        self,
        subject: str,
        *,
        status: str = "open",
        queue: int = 4,
        created: datetime,
        events: tuple[tuple[str, datetime], ...] = (),
        due: datetime | None = None,
        owner: str = "Nobody",
        requestor: str = "alice@example.org",
        admincc: tuple[str, ...] = (),
    ) -> int:
        """A ticket created by ``requestor``; ``events`` are (what, when) with what one of
        customer (a requestor's Correspond), reply (ours), comment, status, cc (the requestor's
        colleague on Cc corresponds), or "reply:NAME" (a reply by that user)."""
        tid = next(self._ids)
        txns = [("Create", requestor, created)]
        for what, at in events:
            what, _, name = what.partition(":")
            kind, who = {
                "customer": ("Correspond", requestor),
                "reply": ("Correspond", name or AGENT),
                "comment": ("Comment", AGENT),
                "status": ("Status", AGENT),
                "cc": ("Correspond", COLLEAGUE),
            }[what]
            txns.append((kind, who, at))
        # Ticket.pm Correspond: any correspondence not from a requestor sets Told
        told = [at for kind, who, at in txns if kind == "Correspond" and who != requestor]
        self.tickets.append(
            {
                "id": tid,
                "Subject": subject,
                "Status": status,
                "Queue": queue,
                "Owner": owner,
                "Requestor": [requestor],
                "Cc": [COLLEAGUE] if any(who == COLLEAGUE for _, who, _ in txns) else [],
                "AdminCc": list(admincc),
                "Created": iso(created),
                "LastUpdated": iso(max(at for _, _, at in txns)),
                "LastUpdatedBy": max(txns, key=lambda t: t[2])[1],
                "Told": iso(max(told)) if told else UNSET,
                "Due": iso(due),
                "Priority": "50",
            }
        )
        self.history[tid] = [
            {"id": next(self._txn), "Type": kind, "Creator": who, "Created": iso(at)}
            for kind, who, at in txns
        ]
        return tid

    def error(self, status: int, headers: dict[str, str]) -> Response:
        text = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(
            status, "Internal Server Error"
        )
        return json_response({"message": text}, status, headers)

    def bad_shape(self) -> Any:
        return {"count": 1, "page": 1, "items": {"id": "1"}}

    def _user(self, name: str, wanted: str) -> dict[str, Any]:
        user: dict[str, Any] = {"type": "user", "id": name, "_url": f"{self.api}/user/{name}"}
        for field in filter(None, wanted.split(",")):
            user[field] = {
                "Name": name,
                "EmailAddress": name if "@" in name else f"{name}@acme.test",
                "RealName": "" if name == "Nobody" else name.split("@")[0].title(),
            }.get(field, "")
        return user

    def _render(self, request: Request, t: dict[str, Any]) -> dict[str, Any]:
        args = request.args
        item: dict[str, Any] = {
            "type": "ticket",
            "id": str(t["id"]),
            "_url": f"{self.api}/ticket/{t['id']}",
        }
        for field in filter(None, args.get("fields", "").split(",")):
            value = t.get(field)
            if field == "Queue":
                value = {"type": "queue", "id": str(t["Queue"]), "_url": f"{self.api}/queue/"}
                if "Name" in args.get("fields[Queue]", ""):
                    value["Name"] = self.queues[t["Queue"]]
            elif field in ("Owner", "LastUpdatedBy"):
                value = self._user(t[field], args.get(f"fields[{field}]", ""))
            elif field in ("Requestor", "Cc", "AdminCc"):
                value = [self._user(r, args.get(f"fields[{field}]", "")) for r in t[field]]
            item[field] = value
        return item

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"token {self.token}":
            return self.error(401, {})
        path = request.path
        if path == "/REST/2.0/tickets":
            items = self._query(request.args.get("query", ""))
            if items is None:
                return json_response({"message": "Invalid query"}, 400)
            items.sort(key=lambda t: t["Created"], reverse=request.args.get("order") == "DESC")
            return self._page(request, [self._render(request, t) for t in items])
        match = re.fullmatch(r"/REST/2\.0/ticket/(\d+)/history", path)
        if match and int(match.group(1)) in self.history:
            wanted = request.args.get("fields", "").split(",")
            items = []
            for txn in self.history[int(match.group(1))]:
                item: dict[str, Any] = {"type": "transaction", "id": str(txn["id"]),
                                        "_url": f"{self.api}/transaction/{txn['id']}"}  # fmt: skip
                for field in wanted:
                    if field == "Creator":
                        item[field] = self._user(txn["Creator"], "")
                    elif field in txn:
                        item[field] = txn[field]
                items.append(item)
            return self._page(request, items)
        if path == "/REST/2.0/users/privileged":
            if not self.token_privileged:
                return self.error(403, {})
            wanted = request.args.get("fields", "")
            users = [self._user(name, wanted) for name in sorted(self.privileged)]
            return self._page(request, users)
        if path == "/REST/2.0/queues/all":
            items = [
                {"type": "queue", "id": str(qid), "Name": name, "_url": f"{self.api}/queue/{qid}"}
                for qid, name in self.queues.items()
            ]
            return self._page(request, items)
        return self.error(404, {})

    def touch(self, tid: int, event: str, at: datetime, **fields: Any) -> None:
        """One more transaction on a ticket (see ``add``'s events), with field changes such as
        ``Status``; every transaction sets ``LastUpdated`` (Record.pm ``_SetLastUpdated``)."""
        ticket = next(t for t in self.tickets if t["id"] == tid)
        kinds = {"customer": ("Correspond", ticket["Requestor"][0]),
                 "reply": ("Correspond", AGENT), "status": ("Status", AGENT)}  # fmt: skip
        kind, who = kinds[event]
        self.history[tid].append(
            {"id": next(self._txn), "Type": kind, "Creator": who, "Created": iso(at)}
        )
        if kind == "Correspond" and who not in ticket["Requestor"]:
            ticket["Told"] = iso(at)
        ticket.update(fields, LastUpdated=iso(at), LastUpdatedBy=who)

    def _query(self, query: str) -> list[dict[str, Any]] | None:
        items = list(self.tickets)
        # a relative date counts back from RT's clock, in any time zone (lib/RT/Date.pm
        # ParseByTimeParseDate; "LastUpdated <= '1 month ago'" in docs/automating_rt.pod)
        if m := re.fullmatch(r"LastUpdated > '(\d+) minutes ago'", query.strip()):
            since = (self.now or datetime.now(UTC)) - timedelta(minutes=int(m[1]))
            return [t for t in items if t["LastUpdated"] > iso(since)]
        for clause in query.split(" AND "):
            terms = re.findall(r"(\w+) = '((?:[^'\\]|\\.)*)'", clause)
            if not terms:
                return None
            field = terms[0][0]
            values = {v.replace("\\'", "'") for _, v in terms}
            if field == "Queue":
                items = [t for t in items if self.queues[t["Queue"]] in values]
            elif field == "Status":
                items = [t for t in items if t["Status"] in values]
            else:
                return None
        return items

    def _page(self, request: Request, items: list[Any]) -> Response:
        per_page = min(int(request.args.get("per_page", 20)), 100)
        page = int(request.args.get("page", 1))
        pages = -(-len(items) // per_page)
        chunk = items[(page - 1) * per_page : page * per_page]
        body: dict[str, Any] = {
            "count": len(chunk),
            "page": page,
            "pages": float(pages) if pages == 0 else pages,
            "per_page": per_page,
            "total": len(items),
            "items": chunk,
        }
        if page < pages:
            body["next_page"] = (
                f"{self.base}{request.path}?{urlencode({**request.args, 'page': page + 1})}"
            )
        if page > 1:
            body["prev_page"] = (
                f"{self.base}{request.path}?{urlencode({**request.args, 'page': page - 1})}"
            )
        return json_response(body)
