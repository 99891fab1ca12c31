"""FreeScout (with its API & Webhooks module): active conversations waiting on the team.

Sources: the module's ApiController (listConversations, getConversation: the text of
https://api-docs.freescout.net) and ApiWebhooksServiceProvider::formatEntity; FreeScout's own
app/Thread.php (thread types) and app/Observers/ThreadObserver.php (what a thread changes).

The first sync lists ``GET /api/conversations?status=active&state=published&mailboxId=3,4``
(``mailboxId`` takes a comma list; a conversation of another mailbox is dropped here as well),
paged with ``page``/``pageSize`` and the ``page`` object. An idle poll asks only for the
conversations saved since the newest ``updatedAt`` seen (``updatedSince``, every status and
mailbox, so one that was closed, deleted or moved away drops out), and every 30 minutes lists
in full again (a conversation deleted for good never shows up as changed).

Each conversation carries FreeScout's own waiting fields, ``customerWaitingSince = {time:
last_reply_at, latestReplyFrom: last_reply_from}``, and ``threadsCount`` (``threads_count``:
every published thread but notes and line items, ThreadObserver::created and
ConversationsController). The listing alone decides two cases, which are most conversations:
``latestReplyFrom: user`` means the team's reply came last (an e-mail reply, or a note in a
phone conversation), so it does not wait; and a conversation (not a phone one) whose only
counted thread is the customer's (``threadsCount`` 1, ``latestReplyFrom: customer``) waits
since that message (``last_reply_at``). Notes never count and never answer, so neither case
needs the threads. For any other conversation the threads decide: the oldest customer message
not answered since, where an agent's ``message`` or ``chat`` thread answers (FreeScout does not
move ``last_reply_from`` for a chat thread). Threads are read (``GET /api/conversations/{id}``)
only for a conversation whose ``updatedAt`` changed since they were last read — every new
thread saves the conversation — or, when a full listing leaves more of them undecided than one
page in 25 would carry, by listing again with the threads embedded (25 a page: a page that
carries every thread is kept small). FreeScout has no SLA: ``due_at`` stays None.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from agent.i18n import N_, Text
from agent.model import Snapshot, Ticket
from agent.sources import kit
from agent.sources.base import BadResponse, NotFound, Option, Source
from agent.sources.http import Page
from agent.sources.http_limits import throttle_hint

log = logging.getLogger(__name__)

#: the module's default is 50; ApiController::listConversations passes pageSize to Laravel's
#: paginate() without a maximum, and none is documented
PAGE_SIZE = 100
THREADS_PAGE_SIZE = 25  # pages that embed every thread: kept small
#: how often an idle poll lists every active conversation instead of only the changed ones
#: (a conversation deleted for good never shows up as changed)
FULL_LISTING_EVERY = timedelta(minutes=30)
#: ``updatedSince`` asks this far back: a conversation saved while the last listing ran
SINCE_OVERLAP = timedelta(minutes=1)
#: every status, so a conversation that stopped being active shows up as changed
ALL_STATUSES = "active,pending,closed,spam"
#: what to check when an answer lacks the list asked for
CHECK = N_("is the API & Webhooks module installed and the URL the FreeScout address?")


def _time(value: Any, what: str) -> datetime | None:
    return kit.parse_time(value, where=f"FreeScout's {what}")


def _embedded(data: Any, key: str) -> list[dict[str, Any]]:
    return kit.hal_embedded(data, key, helpdesk="FreeScout", check=CHECK)


def page_numbers(data: Any) -> tuple[int, int]:
    """(this page, total pages) from the ``page`` object; (1, 1) when absent."""
    page = data.get("page") if isinstance(data, dict) else None
    if not isinstance(page, dict):
        return 1, 1
    number: Any = page.get("number", 1)
    total: Any = page.get("totalPages", page.get("total_pages", 1))
    try:
        return int(number), int(total)
    except (TypeError, ValueError):
        text = Text(N_("FreeScout sent page numbers that are not numbers"))
        raise BadResponse(text, str(page)) from None


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
        kind = kit.text_of(thread, "type")
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
    return bool(messages), kit.waiting_since(messages)


def _team_wrote_last(conv: dict[str, Any]) -> bool:
    """FreeScout's ``last_reply_from`` says the team's reply came last."""
    waiting = conv.get("customerWaitingSince")
    return isinstance(waiting, dict) and waiting.get("latestReplyFrom") == "user"


def _customer_only(conv: dict[str, Any]) -> bool:
    """The one thread FreeScout counts is the customer's, so the conversation waits since it
    (``customerWaitingSince.time``) whatever notes and line items came after.

    ``threadsCount`` counts published threads other than notes and line items, and
    ``last_reply_from`` moves only for customer and message threads (ThreadObserver::created):
    with one counted thread and ``latestReplyFrom: customer``, that thread is the customer's.
    Not for a phone conversation, where a note is the team's reply and is not counted.
    """
    waiting = conv.get("customerWaitingSince")
    return (
        conv.get("type") != "phone"
        and type(conv.get("threadsCount")) is int
        and conv["threadsCount"] == 1
        and isinstance(waiting, dict)
        and waiting.get("latestReplyFrom") == "customer"
        and bool(waiting.get("time"))
    )


def parse_conversation(
    conv: dict[str, Any], *, source: str, web: str, mailboxes: dict[int, str]
) -> Ticket | None:
    """The ticket for one conversation, or None when it does not wait on the team.

    Waiting: status ``active``, state ``published``, the team did not write last
    (``customerWaitingSince.latestReplyFrom``) and, when the threads are embedded, a customer
    message is unanswered in them. Without threads it waits since ``customerWaitingSince.time``
    (FreeScout's ``last_reply_at``: the newest customer message), else since creation.
    """
    if not kit.hal_active(conv):
        return None
    cid, created = kit.id_and_created(conv, "createdAt", helpdesk="FreeScout", what="conversation")
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
    url = f"{web}/conversation/{cid}"
    return kit.hal_ticket(
        conv, cid, created, since, source=source, mailboxes=mailboxes, customer="customer", url=url
    )


def _decided_by_listing(conv: dict[str, Any]) -> bool:
    """Whether the listing alone says if the conversation waits and since when: not active or
    not published, the team wrote last, or the customer's message is its only counted thread."""
    return not kit.hal_active(conv) or _team_wrote_last(conv) or _customer_only(conv)


class FreeScoutSource(Source):
    kind = "freescout"
    title = "FreeScout"
    description = N_("FreeScout (API & Webhooks module): active conversations, by mailbox")
    required = (Option("url", N_("FreeScout address"), help=N_("e.g. https://help.example.com")),)
    secret_label = N_("API key")
    credential_steps = (  # the README's steps
        N_("Manage → API & Webhooks in FreeScout shows the API key")
    )
    category_label = N_("My mailboxes (none ticked: all of them)")

    def set_up(self) -> None:
        web = self.config.url.rstrip("/")
        self.web = web[: -len("/api")] if web.endswith("/api") else web
        self.client = self.http(
            self.web,
            headers={"X-FreeScout-API-Key": self.secret},
        )
        self.mailboxes: kit.CategoryResolver[int] = kit.CategoryResolver(
            self._read_mailboxes, what="mailbox", helpdesk="FreeScout"
        )
        #: the ticket made from each conversation's threads (none: not waiting), kept while
        #: its ``updatedAt`` stays the same
        self._threads_read: kit.TicketCache[Any, list[Ticket]] = kit.TicketCache()
        self._synced = False
        #: the conversations that may wait, as last listed; kept up to date by idle polls
        self._active: dict[Any, dict[str, Any]] = {}
        self._mark: datetime | None = None  # the newest updatedAt seen
        self._full_at: datetime | None = None  # when everything was last listed
        self._since_works = True

    def _read_mailboxes(self) -> dict[int, str]:
        names: dict[int, str] = {}
        for page in self.client.paginate("api/mailboxes", None, self._next):
            names.update(kit.hal_mailboxes(page.data, helpdesk="FreeScout", check=CHECK))
        return names

    def _next(self, page: Page) -> str | None:
        number, total = page_numbers(page.data)
        if number >= total:
            return None
        return kit.with_page(page.url, number + 1)

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        self.mailboxes.new_fetch()
        watched = self.mailboxes.ids(self.config.categories) if self.config.categories else None
        ours = {str(m) for m in watched} if watched is not None else None
        changed, throttle = self._changes(now)
        with_threads: dict[Any, dict[str, Any]] = {}
        if changed is not None:  # an idle poll: only what changed since the last one
            listed, complete = self._apply_changes(changed, ours), True
        else:
            listed, complete, hint = self._list_active(now, watched, ours)
            throttle = kit.slowest(throttle, hint)
        for conv in listed:  # a mailbox added since the names were read
            if isinstance(conv.get("mailboxId"), int):
                self.mailboxes.name(conv["mailboxId"])
        mailboxes = self.mailboxes.table()
        if changed is None:
            with_threads, threads_complete, hint = self._list_with_threads(listed, watched)
            complete, throttle = complete and threads_complete, kit.slowest(throttle, hint)
        tickets: dict[str, Ticket] = {}
        for conv in listed:
            ticket, hint = self._ticket(conv, mailboxes, with_threads.get(conv.get("id")))
            throttle = kit.slowest(throttle, hint)
            if ticket is not None:
                tickets[ticket.id] = ticket
        if complete:
            self._threads_read.prune(conv.get("id") for conv in listed)
            self._synced = True
        return Snapshot(self.name, tuple(tickets.values()), now, complete, throttle)

    def _changes(self, now: datetime) -> tuple[list[dict[str, Any]] | None, float | None]:
        """What changed since the last look, when an idle poll may ask only for that (synced,
        the server honours ``updatedSince``, the last full listing is recent); else None."""
        if (
            self._synced
            and self._since_works
            and self._mark is not None
            and self._full_at is not None
            and now - self._full_at < FULL_LISTING_EVERY
        ):
            return self._changed_since(self._mark)
        return None, None

    def _apply_changes(
        self, changed: list[dict[str, Any]], ours: set[str] | None
    ) -> list[dict[str, Any]]:
        """The conversations that may wait, once ``changed`` is applied to the last listing."""
        for conv in changed:
            if self._may_wait(conv, ours):
                self._active[conv.get("id")] = conv
            else:
                self._active.pop(conv.get("id"), None)
        self._advance_mark(changed)
        return list(self._active.values())

    def _list_active(
        self, now: datetime, watched: Any, ours: set[str] | None
    ) -> tuple[list[dict[str, Any]], bool, float | None]:
        """The full listing of the conversations that may wait: (them, complete, hint)."""
        pages = self.client.paginate("api/conversations", self._active_params(watched), self._next)
        listed = [
            conv
            for page in pages
            for conv in _embedded(page.data, "conversations")
            if self._may_wait(conv, ours)
        ]
        if pages.complete:
            self._active = {conv.get("id"): conv for conv in listed}
            self._full_at, self._mark = now, None
            self._advance_mark(listed)
        else:
            self._full_at = None  # not all of it: list in full again next time
        return listed, pages.complete, pages.throttle

    def _list_with_threads(
        self, listed: list[dict[str, Any]], watched: Any
    ) -> tuple[dict[Any, dict[str, Any]], bool, float | None]:
        """The listing again with threads embedded, by id, when that costs fewer requests than
        reading the undecided conversations one by one: (them, complete, hint)."""
        undecided = [conv for conv in listed if self._needs_threads(conv)]
        if len(undecided) <= math.ceil(len(listed) / THREADS_PAGE_SIZE):
            return {}, True, None
        params = {**self._active_params(watched), "pageSize": THREADS_PAGE_SIZE}
        pages = self.client.paginate(
            "api/conversations", {**params, "embed": "threads"}, self._next
        )
        with_threads = {
            conv.get("id"): conv for page in pages for conv in _embedded(page.data, "conversations")
        }
        return with_threads, pages.complete, pages.throttle

    @staticmethod
    def _active_params(watched: Any) -> dict[str, Any]:
        """The full listing: every active, published conversation of the watched mailboxes."""
        params: dict[str, Any] = {
            "status": "active",
            "state": "published",
            "sortField": "createdAt",
            "sortOrder": "asc",
            "pageSize": PAGE_SIZE,
        }
        if watched is not None:
            params["mailboxId"] = ",".join(str(m) for m in watched)
        return params

    def _needs_threads(self, conv: dict[str, Any]) -> bool:
        """Whether only its threads can tell if this listed conversation waits (and they are
        not kept from an earlier read with the same ``updatedAt``)."""
        if _decided_by_listing(conv):
            return False
        updated = conv.get("updatedAt")
        return updated is None or self._threads_read.get(conv.get("id"), updated) is None

    @staticmethod
    def _may_wait(conv: dict[str, Any], ours: set[str] | None) -> bool:
        """Active, published and in a watched mailbox (the team may still have answered)."""
        return (
            conv.get("status") == "active"
            and conv.get("state", "published") == "published"
            and (ours is None or str(conv.get("mailboxId")) in ours)
        )

    def _advance_mark(self, rows: list[dict[str, Any]]) -> None:
        """The newest ``updatedAt`` seen: the server's own clock, for the next updatedSince."""
        for conv in rows:
            at = _time(conv.get("updatedAt"), f"conversation {conv.get('id')} updatedAt")
            if at is not None and (self._mark is None or at > self._mark):
                self._mark = at

    def _changed_since(self, mark: datetime) -> tuple[list[dict[str, Any]] | None, float | None]:
        """Every conversation saved since ``mark`` (any status, state and mailbox, so one that
        was closed, deleted or moved away shows up too); None when that cannot be trusted —
        the listing stopped part way, or the server ignored ``updatedSince`` (an older API &
        Webhooks module), after which this source always lists in full."""
        since = mark - SINCE_OVERLAP
        params = {
            "updatedSince": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": ALL_STATUSES,
            "sortField": "updatedAt",
            "sortOrder": "asc",
            "pageSize": PAGE_SIZE,
        }
        pages = self.client.paginate("api/conversations", params, self._next)
        if not pages.complete:
            return None, pages.throttle
        rows = [conv for page in pages for conv in _embedded(page.data, "conversations")]
        for conv in rows:
            at = _time(conv.get("updatedAt"), f"conversation {conv.get('id')} updatedAt")
            if at is None or at < since:
                log.info("%s: the server ignores updatedSince; listing in full", self.name)
                self._since_works = False
                return None, pages.throttle
        return rows, pages.throttle

    def _ticket(
        self,
        conv: dict[str, Any],
        mailboxes: dict[int, str],
        embedded: dict[str, Any] | None = None,
    ) -> tuple[Ticket | None, float | None]:
        """The ticket of a listed conversation, from the listing alone where it decides, else
        from its threads (``embedded``: the same conversation listed with them; else kept from
        the last read while ``updatedAt`` stays, else read now); and the slow-down hint."""

        def parse(c: dict[str, Any]) -> Ticket | None:
            return parse_conversation(c, source=self.name, web=self.web, mailboxes=mailboxes)

        if _decided_by_listing(conv):
            return parse(conv), None
        cid, updated = conv.get("id"), conv.get("updatedAt")
        kept = self._threads_read.get(cid, updated) if updated is not None else None
        if kept is not None:
            return (kept[0] if kept else None), None
        hint = None
        if embedded is not None and embedded.get("updatedAt") == updated:
            conv = embedded
        else:
            try:
                full = self.client.get_json(f"api/conversations/{cid}", {"embed": "threads"})
            except NotFound:
                return None, None  # deleted since it was listed
            if not isinstance(full.data, dict):
                raise BadResponse(
                    Text(
                        N_("FreeScout's answer for conversation {id} is not a conversation"), id=cid
                    ),
                    str(full.data)[:200],
                )
            conv, hint = full.data, throttle_hint(full.headers)
        ticket = parse(conv)
        self._threads_read.put(cid, updated, [ticket] if ticket else [])
        return ticket, hint

    def list_categories(self) -> list[str]:
        return sorted(self.mailboxes.reload().values())

    def close(self) -> None:
        self.client.close()
