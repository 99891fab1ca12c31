"""FreeScout (with its API & Webhooks module): active conversations waiting on the team.

``GET /api/conversations?status=active&embed=threads`` per mailbox (``mailboxId``), paged with
``page``/``pageSize``. Who wrote last is read from the embedded threads (customer messages
versus agent replies; notes and drafts are not messages), falling back to the Help Scout-style
``customerWaitingSince`` when threads are absent. FreeScout has no SLA: ``due_at`` stays None.
The list-filter names come from public FreeScout clients, not from a live instance; parsing
accepts both camelCase and snake_case page keys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from agent.model import Snapshot, Ticket, utcnow
from agent.sources.base import BadResponse, NotConfigured, Option, Source
from agent.sources.http import Page
from agent.sources.kit import parse_time, slowest, waiting_since

if TYPE_CHECKING:
    from agent.config import SourceConfig

PAGE_SIZE = 50
AGENT_THREADS = frozenset({"message"})
CUSTOMER_THREADS = frozenset({"customer"})


def _time(value: Any, what: str) -> datetime | None:
    return parse_time(value, where=f"FreeScout {what}")


def _embedded(data: Any, key: str) -> list[dict[str, Any]]:
    embedded = data.get("_embedded") if isinstance(data, dict) else None
    if embedded is None and isinstance(data, dict) and "page" in data:
        return []
    items = embedded.get(key) if isinstance(embedded, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadResponse(
            f"FreeScout's answer has no list of {key}; is the API & Webhooks module installed "
            "and the URL the FreeScout address?",
            f"expected _embedded.{key}[], got {str(data)[:200]}",
        )
    return items


def parse_mailboxes(data: Any) -> dict[int, str]:
    return {int(m["id"]): str(m.get("name") or m["id"]) for m in _embedded(data, "mailboxes")}


def page_numbers(data: Any) -> tuple[int, int]:
    """(this page, total pages) from the ``page`` object; (1, 1) when absent."""
    page = data.get("page") if isinstance(data, dict) else None
    if not isinstance(page, dict):
        return 1, 1
    number = page.get("number", 1)
    total = page.get("totalPages", page.get("total_pages", 1))
    try:
        return int(number), int(total)
    except (TypeError, ValueError):
        raise BadResponse("FreeScout sent page numbers that are not numbers", str(page)) from None


def waiting_from_threads(threads: list[Any]) -> tuple[bool, datetime | None]:
    """(whether threads were usable, the oldest customer message not answered since)."""
    messages = []
    for thread in threads:
        if not isinstance(thread, dict) or thread.get("state", "published") != "published":
            continue
        kind = str(thread.get("type") or "")
        by = thread.get("createdBy")
        by_type = by.get("type") if isinstance(by, dict) else None
        at = _time(thread.get("createdAt"), "thread createdAt")
        if at is None:
            continue
        if kind in CUSTOMER_THREADS or (kind not in ("note", "lineitem") and by_type == "customer"):
            messages.append((at, True))
        elif kind in AGENT_THREADS or (kind == "phone" and by_type == "user"):
            messages.append((at, False))
    if not messages:
        return False, None
    return True, waiting_since(messages)


def _person(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    first = value.get("firstName", value.get("first_name", value.get("first")))
    last = value.get("lastName", value.get("last_name", value.get("last")))
    name = " ".join(str(x) for x in (first, last) if x).strip()
    return name or str(value.get("email") or "")


def parse_conversation(
    conv: dict[str, Any], *, source: str, web: str, mailboxes: dict[int, str]
) -> Ticket | None:
    """The ticket for one conversation, or None when it does not wait on the team."""
    if conv.get("status") != "active" or conv.get("state", "published") != "published":
        return None
    cid = conv.get("id")
    created = _time(conv.get("createdAt"), f"conversation {cid} createdAt")
    if cid is None or created is None:
        raise BadResponse(
            "FreeScout sent a conversation without an id or creation time", str(conv)[:200]
        )
    embedded = conv.get("_embedded")
    threads = embedded.get("threads") if isinstance(embedded, dict) else None
    usable, since = waiting_from_threads(threads) if isinstance(threads, list) else (False, None)
    if usable:
        if since is None:
            return None  # the team replied last
    else:
        waiting = conv.get("customerWaitingSince")
        waiting = waiting if isinstance(waiting, dict) else {}
        if waiting.get("latestReplyFrom") == "user":
            return None
        since = _time(waiting.get("time"), f"conversation {cid} customerWaitingSince") or created
    mailbox = conv.get("mailboxId")
    return Ticket(
        source=source,
        id=str(conv.get("number") or cid),
        subject=str(conv.get("subject") or ""),
        created_at=created,
        waiting_since=since,
        requester=_person(conv.get("customer")),
        category=mailboxes.get(mailbox, str(mailbox)) if mailbox is not None else "",
        status="active",
        due_at=None,  # FreeScout reports no deadline
        url=f"{web}/conversation/{cid}",
        assignee=_person(conv.get("assignee")),
    )


class FreeScoutSource(Source):
    kind = "freescout"
    description = "FreeScout (API & Webhooks module): active conversations, by mailbox"
    required = (Option("url", "FreeScout address", help="e.g. https://help.example.com"),)
    secret_label = "API key"  # noqa: S105 - a label, not a secret
    category_label = "Mailboxes"

    def __init__(
        self,
        config: SourceConfig,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(config, secret, clock)
        web = config.url.rstrip("/")
        self.web = web[: -len("/api")] if web.endswith("/api") else web
        self.client = self.http(
            self.web,
            headers={"X-FreeScout-API-Key": secret},
        )

    def _mailboxes(self) -> dict[int, str]:
        names: dict[int, str] = {}
        for page in self.client.paginate("api/mailboxes", None, self._next):
            names.update(parse_mailboxes(page.data))
        return names

    def _next(self, page: Page) -> str | None:
        number, total = page_numbers(page.data)
        if number >= total:
            return None
        base, _, query = page.url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        params["page"] = str(number + 1)
        return f"{base}?{urlencode(params, safe='%')}"

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        mailboxes = self._mailboxes()
        targets: list[int | None] = [None]
        if self.config.categories:
            by_name = {name.casefold(): mid for mid, name in mailboxes.items()}
            missing = [c for c in self.config.categories if c.casefold() not in by_name]
            if missing:
                raise NotConfigured(
                    f"FreeScout has no mailbox named {missing[0]!r} that this key can see; "
                    f"it has: {', '.join(sorted(mailboxes.values())) or 'none'}"
                )
            targets = sorted({by_name[c.casefold()] for c in self.config.categories})
        tickets: dict[str, Ticket] = {}
        complete = True
        throttle: float | None = None
        for mailbox in targets:
            params: dict[str, Any] = {
                "status": "active",
                "embed": "threads",
                "sortField": "createdAt",
                "sortOrder": "asc",
                "pageSize": PAGE_SIZE,
            }
            if mailbox is not None:
                params["mailboxId"] = mailbox
            listing = self.client.paginate("api/conversations", params, self._next)
            for page in listing:
                for conv in _embedded(page.data, "conversations"):
                    ticket = parse_conversation(
                        conv, source=self.name, web=self.web, mailboxes=mailboxes
                    )
                    if ticket is not None:
                        tickets[ticket.id] = ticket
            complete = complete and listing.complete
            throttle = slowest(throttle, listing.throttle)
        return Snapshot(self.name, tuple(tickets.values()), now, complete, throttle)

    def list_categories(self) -> list[str]:
        return sorted(self._mailboxes().values())

    def close(self) -> None:
        self.client.close()
