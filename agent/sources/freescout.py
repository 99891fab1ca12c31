"""FreeScout (with its API & Webhooks module): active conversations waiting on the team.

Sources: the module's ApiController (listConversations, getConversation: the text of
https://api-docs.freescout.net) and ApiWebhooksServiceProvider::formatEntity; FreeScout's own
app/Thread.php (thread types) and app/Observers/ThreadObserver.php (what a thread changes).

One listing per poll: ``GET /api/conversations?status=active&state=published&mailboxId=3,4``
(``mailboxId`` takes a comma list; a conversation of another mailbox is dropped here as well),
paged with ``page``/``pageSize`` and the ``page`` object. Each conversation carries FreeScout's
own waiting fields, ``customerWaitingSince = {time: last_reply_at, latestReplyFrom:
last_reply_from}``: ``latestReplyFrom: user`` means the team's reply came last (an e-mail reply,
or a note in a phone conversation), so it does not wait and nothing more is read. Otherwise the
threads decide: the oldest customer message not answered since, where an agent's ``message`` or
``chat`` thread answers (FreeScout does not move ``last_reply_from`` for a chat thread). Threads
are read (``GET /api/conversations/{id}``) only for a conversation whose ``updatedAt`` changed
since they were last read — every new thread saves the conversation — and the first sync asks
the listing to embed them instead, which costs only its pages. FreeScout has no SLA: ``due_at``
stays None.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from agent.model import Snapshot, Ticket, parse_time, utcnow
from agent.sources.base import BadResponse, NotConfigured, NotFound, Option, Source
from agent.sources.http import Page

if TYPE_CHECKING:
    from agent.config import SourceConfig

PAGE_SIZE = 100  # the module's default is 50; it reads pageSize without a documented maximum
FIRST_SYNC_PAGE_SIZE = 25  # pages that embed every thread: kept small
MAILBOXES_FOR = timedelta(hours=1)  # how long the mailbox names are trusted


def _time(value: Any, what: str) -> datetime | None:
    try:
        return parse_time(value, what)
    except ValueError as exc:
        raise BadResponse("FreeScout sent a date that cannot be read", str(exc)) from None


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


def waiting_from_threads(threads: list[Any], *, phone: bool) -> tuple[bool, datetime | None]:
    """(whether the threads hold any message, the oldest customer message not answered since).

    Per FreeScout's app/Thread.php and ThreadObserver: ``customer`` threads are the customer's,
    ``message`` threads the team's replies; a ``chat`` thread is whoever wrote it
    (``createdBy.type``); in a phone conversation a note is the call (FreeScout counts it as a
    reply), elsewhere notes and ``lineitem`` (a status or assignment change) say nothing.
    Drafts and hidden threads do not count.
    """
    messages = []
    for thread in threads:
        if not isinstance(thread, dict) or thread.get("state", "published") != "published":
            continue
        kind = str(thread.get("type") or "")
        by = thread.get("createdBy")
        by_user = (by.get("type") if isinstance(by, dict) else None) == "user"
        if kind == "customer":
            from_customer = True
        elif kind == "message":
            from_customer = False
        elif kind == "chat" or (kind == "note" and phone):
            from_customer = not by_user
        else:
            continue
        at = _time(thread.get("createdAt"), "thread createdAt")
        if at is not None:
            messages.append((at, from_customer))
    if not messages:
        return False, None
    since = None
    for at, from_customer in sorted(messages, key=lambda m: (m[0], not m[1])):
        if not from_customer:
            since = None
        elif since is None:
            since = at
    return True, since


def _team_wrote_last(conv: dict[str, Any]) -> bool:
    """FreeScout's ``last_reply_from`` says the team's reply came last."""
    waiting = conv.get("customerWaitingSince")
    return isinstance(waiting, dict) and waiting.get("latestReplyFrom") == "user"


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
    """The ticket for one conversation, or None when it does not wait on the team.

    Waiting: status ``active``, state ``published``, the team did not write last
    (``customerWaitingSince.latestReplyFrom``) and, when the threads are embedded, a customer
    message is unanswered in them. Without threads it waits since ``customerWaitingSince.time``
    (FreeScout's ``last_reply_at``: the newest customer message), else since creation.
    """
    if conv.get("status") != "active" or conv.get("state", "published") != "published":
        return None
    cid = conv.get("id")
    created = _time(conv.get("createdAt"), f"conversation {cid} createdAt")
    if cid is None or created is None:
        raise BadResponse(
            "FreeScout sent a conversation without an id or creation time", str(conv)[:200]
        )
    if _team_wrote_last(conv):
        return None
    embedded = conv.get("_embedded")
    threads = embedded.get("threads") if isinstance(embedded, dict) else None
    usable, since = (
        waiting_from_threads(threads, phone=conv.get("type") == "phone")
        if isinstance(threads, list)
        else (False, None)
    )
    if usable:
        if since is None:
            return None  # the team answered (a chat reply, say)
    else:
        waiting = conv.get("customerWaitingSince")
        waiting = waiting if isinstance(waiting, dict) else {}
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
        self._mailboxes: dict[int, str] = {}
        self._mailboxes_at: datetime | None = None
        #: conversation id -> (its updatedAt, the ticket made from its threads then)
        self._read: dict[Any, tuple[Any, Ticket | None]] = {}
        self._synced = False

    def _mailbox_names(self) -> dict[int, str]:
        now = self.clock()
        if self._mailboxes_at is None or now - self._mailboxes_at >= MAILBOXES_FOR:
            names: dict[int, str] = {}
            for page in self.client.paginate("api/mailboxes", None, self._next):
                names.update(parse_mailboxes(page.data))
            self._mailboxes, self._mailboxes_at = names, now
        return self._mailboxes

    def _next(self, page: Page) -> str | None:
        number, total = page_numbers(page.data)
        if number >= total:
            return None
        base, _, query = page.url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        params["page"] = str(number + 1)
        return f"{base}?{urlencode(params, safe='%')}"

    def _watched(self, mailboxes: dict[int, str]) -> list[int] | None:
        if not self.config.categories:
            return None
        by_name = {name.casefold(): mid for mid, name in mailboxes.items()}
        missing = [c for c in self.config.categories if c.casefold() not in by_name]
        if missing:
            raise NotConfigured(
                f"FreeScout has no mailbox named {missing[0]!r} that this key can see; "
                f"it has: {', '.join(sorted(mailboxes.values())) or 'none'}"
            )
        return sorted({by_name[c.casefold()] for c in self.config.categories})

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        mailboxes = self._mailbox_names()
        watched = self._watched(mailboxes)
        first = not self._synced
        params: dict[str, Any] = {
            "status": "active",
            "state": "published",
            "sortField": "createdAt",
            "sortOrder": "asc",
            "pageSize": FIRST_SYNC_PAGE_SIZE if first else PAGE_SIZE,
        }
        if first:
            params["embed"] = "threads"
        if watched is not None:
            params["mailboxId"] = ",".join(str(m) for m in watched)
        ours = {str(m) for m in watched} if watched is not None else None
        listed: list[dict[str, Any]] = []
        for page in self.client.paginate("api/conversations", params, self._next):
            listed.extend(
                conv
                for conv in _embedded(page.data, "conversations")
                if ours is None or str(conv.get("mailboxId")) in ours
            )
        complete = not self.client.truncated
        tickets: dict[str, Ticket] = {}
        read: dict[Any, tuple[Any, Ticket | None]] = {}
        for conv in listed:
            ticket = self._ticket(conv, mailboxes, with_threads=first, read=read)
            if ticket is not None:
                tickets[ticket.id] = ticket
        # What was read is kept for the conversations still listed (and, when the listing
        # stopped part way, for the ones not reached this time).
        self._read = read if complete else {**self._read, **read}
        self._synced = self._synced or complete
        return Snapshot(
            self.name, tuple(tickets.values()), now, complete, self.client.last_throttle
        )

    def _ticket(
        self,
        conv: dict[str, Any],
        mailboxes: dict[int, str],
        *,
        with_threads: bool,
        read: dict[Any, tuple[Any, Ticket | None]],
    ) -> Ticket | None:
        """The ticket of a listed conversation, reading its threads only if it changed."""

        def parse(c: dict[str, Any]) -> Ticket | None:
            return parse_conversation(c, source=self.name, web=self.web, mailboxes=mailboxes)

        if (
            conv.get("status") != "active"
            or conv.get("state", "published") != "published"
            or _team_wrote_last(conv)
        ):
            return parse(conv)  # decided by the listing alone
        cid, updated = conv.get("id"), conv.get("updatedAt")
        kept = self._read.get(cid)
        if kept is not None and updated is not None and kept[0] == updated:
            read[cid] = kept
            return kept[1]
        if not with_threads:
            try:
                full = self.client.get_json(f"api/conversations/{cid}", {"embed": "threads"})
            except NotFound:
                return None  # deleted since it was listed
            if not isinstance(full.data, dict):
                raise BadResponse(
                    f"FreeScout's answer for conversation {cid} is not a conversation",
                    str(full.data)[:200],
                )
            conv = full.data
        ticket = parse(conv)
        read[cid] = (updated, ticket)
        return ticket

    def list_categories(self) -> list[str]:
        self._mailboxes_at = None
        return sorted(self._mailbox_names().values())

    def close(self) -> None:
        self.client.close()
