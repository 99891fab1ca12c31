"""Zendesk Support: tickets waiting on the team (status new or open), by group.

One Search API request per watched group (``type:ticket status<pending group:ID``, 100 per page,
``include=tickets(users,slas,metric_sets)``) lists the candidates with their requester,
assignee, SLA state and ``metric_sets`` (each ticket's Ticket Metrics). The Search API stops
at 1,000 results (page 11 answers 422); a group with more is listed with the export search
instead (``/search/export``, cursor pagination, no limit), which Zendesk does not document sideloads
for: those tickets may come without requester names, SLA times and metric sets.

Whether a ticket really waits, and since when: the oldest end-user comment that no agent has
answered publicly since. The listing settles it exactly in one case only, with no comment read:
a *new* ticket, or one whose metric set counts no agent ``replies`` ("the number of public
replies added to a ticket by an agent") and whose submitter is its requester (the submitter is
the author of the first comment), waits since it was created: every public comment on it is an
end user's. No other metric says who wrote the newest *public* comment: ``requester_updated_at``
moves on any update by the requester, ``latest_comment_added_at`` on internal notes too, and
``assignee_updated_at`` only for the assignee. So every other ticket's comments are read
(``/tickets/{id}/comments.json?include=users&sort=-created_at``, newest first, 100 a page),
only as far back as the newest agent public reply, and again only when the ticket's
``updated_at`` moved. The search answer is revalidated with its ETag, so an idle poll costs one
request per group.

``due_at`` is Zendesk's own reply deadline: the earliest ``breach_at`` among the ticket's *active*
reply metrics (first reply, next reply, periodic or pausable update); the resolution metrics
(requester wait time, agent work time) are not a response deadline. Without an SLA policy it is
None and the response window decides. Search lags up to a few minutes behind new tickets and
changes (Zendesk indexes them); the README says so.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent import secrets, signin
from agent.auth.providers import client_problems
from agent.i18n import N_, Text
from agent.model import Snapshot, Ticket
from agent.sources import kit
from agent.sources.base import NotConfigured, Option, Source
from agent.sources.http import Page

if TYPE_CHECKING:
    from agent.config import SourceConfig

WAITING_STATUSES = frozenset({"new", "open"})
SEARCH_LIMIT = 1000  # the Search API returns at most this many results per query
PAGE_SIZE = 100
#: SLA metrics that time a reply to the customer; requester_wait_time and agent_work_time time
#: the resolution (https://developer.zendesk.com/api-reference/ticketing/business-rules/sla_policies/)
REPLY_METRICS = frozenset(
    {"first_reply_time", "next_reply_time", "periodic_update_time", "pausable_update_time"}
)
CUSTOMER_ROLE = "end-user"


def _time(value: Any, what: str) -> datetime | None:
    return kit.parse_time(value, where=f"Zendesk {what}")


def _list(data: Any, key: str, hint: str = "") -> list[dict[str, Any]]:
    return kit.objects_under(
        data,
        key,
        message=Text(N_("Zendesk's answer has no list of {key}{hint}"), key=key, hint=Text(hint)),
        expected=f"{key}[] of objects",
    )


def _sideloaded(data: Any, name: str, by: str) -> dict[Any, dict[str, Any]]:
    """The sideloaded ``name`` rows of an answer, by their ``by`` field (absent: none)."""
    rows = data.get(name) if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return {}
    return {row[by]: row for row in rows if isinstance(row, dict) and by in row}


def parse_users(data: Any) -> dict[int, dict[str, Any]]:
    """The sideloaded ``users`` of an answer, by id (absent: none)."""
    return _sideloaded(data, "users", "id")


def parse_groups(data: Any) -> dict[int, str]:
    groups = _list(data, "groups", N_("; is the URL the Zendesk address?"))
    return {
        int(g["id"]): kit.text_of(g, "name") or str(g["id"])
        for g in groups
        if "id" in g and not g.get("deleted")
    }


def next_page(page: Page) -> str | None:
    """Cursor pagination (``meta.has_more`` + ``links.next``) or offset (``next_page``)."""
    data = page.data if isinstance(page.data, dict) else {}
    meta, links = data.get("meta"), data.get("links")
    if isinstance(meta, dict) and "has_more" in meta:
        nxt = links.get("next") if isinstance(links, dict) and meta["has_more"] else None
        return nxt if isinstance(nxt, str) and nxt else None
    nxt = data.get("next_page")
    return nxt if isinstance(nxt, str) and nxt else None


def _count(page: Page) -> int:
    """The Search API's ``count``: every match, also those past its 1,000-result window."""
    count = page.data.get("count") if isinstance(page.data, dict) else None
    return count if isinstance(count, int) else 0


def search_next(page: Page) -> str | None:
    """The Search API's next page, none past page 1 when more than 1,000 match (page 11 would
    answer 422; the export search lists those)."""
    return None if _count(page) > SEARCH_LIMIT else next_page(page)


def sla_deadline(ticket: dict[str, Any]) -> datetime | None:
    """The earliest ``breach_at`` of the ticket's active reply metrics; None without one."""
    slas = ticket.get("slas")
    metrics = slas.get("policy_metrics") if isinstance(slas, dict) else None
    deadlines = []
    for metric in metrics if isinstance(metrics, list) else ():
        if not isinstance(metric, dict) or metric.get("stage", "active") != "active":
            continue
        if metric.get("metric") not in REPLY_METRICS:
            continue  # a resolution target, not a reply deadline
        at = _time(metric.get("breach_at"), f"ticket {ticket.get('id')} SLA breach_at")
        if at is not None:
            deadlines.append(at)
    return min(deadlines) if deadlines else None


def parse_comments(
    data: Any, requester_id: Any, users: dict[int, dict[str, Any]] | None = None
) -> list[kit.Message]:
    """(time, written by the customer) for each public comment of one comments page.

    A comment is the customer's when its author is an end-user or the ticket's requester;
    private comments (internal notes) answer nobody and are left out.
    """
    users = {**(users or {}), **parse_users(data)}
    messages = []
    for comment in _list(data, "comments"):
        if not comment.get("public", True):
            continue
        at = _time(comment.get("created_at"), "comment created_at")
        if at is None:
            continue
        author: Any = comment.get("author_id")
        role = (users.get(author) or {}).get("role")
        messages.append((at, author == requester_id or role == CUSTOMER_ROLE))
    return messages


def parse_metric_sets(data: Any) -> dict[Any, dict[str, Any]]:
    """The sideloaded ``metric_sets`` of an answer, by ``ticket_id`` (absent: none)."""
    return _sideloaded(data, "metric_sets", "ticket_id")


def unanswered_from_start(ticket: dict[str, Any], metrics: dict[str, Any] | None) -> bool:
    """Whether the listing alone proves that every public comment is an end user's: the
    metric set counts no public agent reply and the requester submitted the ticket (so wrote
    its first comment). Then it waits since it was created. Anything else, or no metric set,
    needs the comments."""
    replies = metrics.get("replies") if isinstance(metrics, dict) else None
    if isinstance(replies, bool) or not isinstance(replies, int) or replies != 0:
        return False
    submitter = ticket.get("submitter_id")
    return submitter is not None and submitter == ticket.get("requester_id")


def _name(users: dict[int, dict[str, Any]], user_id: Any) -> str:
    return kit.text_of(users.get(user_id) or {}, "name", "email")


def _email(users: dict[int, dict[str, Any]], user_id: Any) -> str:
    return kit.text_of(users.get(user_id) or {}, "email")


def parse_ticket(
    ticket: dict[str, Any],
    messages: list[kit.Message] | None,
    *,
    source: str,
    web: str,
    groups: dict[int, str],
    users: dict[int, dict[str, Any]],
) -> Ticket | None:
    """The ticket for one search result, or None when it does not wait on the team.

    ``messages`` are its public comments (see :func:`parse_comments`); None or empty means
    they are unknown, and the ticket then waits since it was created.
    """
    if not isinstance(ticket.get("status"), str) or ticket["status"] not in WAITING_STATUSES:
        return None  # pending, hold, solved, closed: not the team's turn
    tid, created = kit.id_and_created(ticket, "created_at", helpdesk="Zendesk")
    if messages:
        since = kit.waiting_since(messages)
        if since is None:
            return None  # an agent replied last and left the ticket open
    else:
        since = created
    return Ticket(
        source=source,
        id=str(tid),
        subject=kit.text_of(ticket, "subject", "raw_subject"),
        created_at=created,
        waiting_since=since,
        requester=_name(users, ticket.get("requester_id")),
        requester_email=_email(users, ticket.get("requester_id")),
        category=kit.category_name(groups, ticket.get("group_id")),
        priority=kit.text_of(ticket, "priority"),
        status=str(ticket["status"]),
        due_at=sla_deadline(ticket),
        url=f"{web}/agent/tickets/{tid}",
        assignee=_name(users, ticket.get("assignee_id")),
    )


#: one group's listing: (tickets, sideloaded users, sideloaded metric sets by ticket id)
Listing = tuple[list[dict[str, Any]], dict[int, dict[str, Any]], dict[Any, dict[str, Any]]]


class ZendeskSource(Source):
    kind = "zendesk"
    title = "Zendesk"
    description = N_("Zendesk Support: new and open tickets awaiting a reply, by group, with SLA")
    required = (Option("url", N_("Zendesk address"), help=N_("e.g. https://acme.zendesk.com")),)
    optional = (
        Option("user", N_("Agent email"), help=N_("the email of the agent who owns the API token")),
        Option(
            "query",
            N_("Extra search terms"),
            default="",
            help=N_('added to the ticket search, e.g. "tags:vip" or "assignee:me"'),
        ),
        Option(
            "oauth",
            N_("OAuth access token"),
            bool,
            False,
            N_("the secret is an OAuth access token instead of an API token"),
        ),
        *signin.sign_in_options(
            "token", N_('"token" (API tokens end on 2027-04-30), or "oauth" to sign in with OAuth')
        ),
    )
    secret_label = N_("API token")
    credential_steps = N_(  # the README's steps
        "Admin Center → Apps and integrations → APIs → Zendesk API, enable Token access, Add "
        "API token, copy it"
    )
    category_label = N_("My groups (none ticked: all of them)")

    @classmethod
    def check_options(cls, config: SourceConfig) -> list[tuple[str, Text]]:
        problems = super().check_options(config)  # the url: https://
        if signin.uses_oauth(config):
            problems += client_problems(config)  # what `ticketbell signin` would refuse
        return problems

    def set_up(self) -> None:
        config, secret = self.config, self.secret
        auth = None
        headers: dict[str, str] = {}
        if str(self.option("auth") or "token").lower() not in ("token", "oauth"):
            raise NotConfigured(Text(N_('{name}: auth must be "token" or "oauth"'), name=self.name))
        if signin.uses_oauth(config):  # the secret is the refresh token of a sign-in
            assert secret is not None
            auth = signin.bearer_auth(signin.tokens_for(config, secret, self.clock))
        elif self.option("oauth"):
            headers = {"Authorization": f"Bearer {secret}"}
        else:
            if not config.user:
                raise NotConfigured(
                    Text(
                        N_(
                            "{name}: set user to the agent's email address (the API token belongs "
                            "to it), or oauth = true for an OAuth access token"
                        ),
                        name=self.name,
                    )
                )
            pair = base64.b64encode(f"{config.user}/token:{secret}".encode()).decode()
            secrets.remember(pair)
            headers = {"Authorization": f"Basic {pair}"}
        web = config.url.rstrip("/")
        for suffix in ("/api/v2", "/api"):
            web = web.removesuffix(suffix)
        self.web = web
        self.client = self.http(f"{web}/api/v2", headers=headers, auth=auth)
        self.groups: kit.CategoryResolver[int] = kit.CategoryResolver(
            self._read_groups, what="group", helpdesk="Zendesk"
        )
        #: each ticket's public comments, kept while its ``updated_at`` stays the same
        self._comments: kit.TicketCache[int, list[kit.Message]] = kit.TicketCache()
        #: each group's last complete Search API listing
        self._listings: dict[int | None, Listing] = {}
        self._throttle: float | None = None

    def _read_groups(self) -> dict[int, str]:
        groups: dict[int, str] = {}
        pages = self.client.paginate("groups.json", {"page[size]": 100}, next_page)
        for page in pages:
            groups.update(parse_groups(page.data))
        return groups

    def _search_query(self, group: int | None, *, export: bool = False) -> str:
        # the export search takes the type in filter[type] and refuses it in the query
        terms = ["status<pending"] if export else ["type:ticket", "status<pending"]
        if group is not None:
            terms.append(f"group:{group}")
        extra = str(self.option("query") or "").strip()
        if extra:
            terms.append(extra)
        return " ".join(terms)

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        self.groups.new_fetch()
        self._throttle = None
        targets: list[int | None] = [None]
        if self.config.categories:
            targets = list(self.groups.ids(self.config.categories))
        found: dict[int, dict[str, Any]] = {}
        users: dict[int, dict[str, Any]] = {}
        metrics: dict[Any, dict[str, Any]] = {}
        complete = True
        for group in targets:
            (items, listed_users, listed_metrics), listed_all = self._list_group(group)
            users.update(listed_users)
            metrics.update(listed_metrics)
            complete = complete and listed_all
            for item in items:
                if item.get("result_type", "ticket") != "ticket" or "id" not in item:
                    continue
                if group is not None and item.get("group_id") != group:
                    continue  # the search matched loosely: keep to the group asked for
                found[item["id"]] = item
        for item in found.values():
            if item.get("group_id"):
                self.groups.name(item["group_id"])  # an unknown group reads the table again
        groups = self.groups.table()
        tickets = []
        for tid, item in found.items():
            if item.get("status") not in WAITING_STATUSES:
                continue
            messages, read_all = self._ticket_comments(tid, item, users, metrics.get(tid))
            complete = complete and read_all
            ticket = parse_ticket(
                item, messages, source=self.name, web=self.web, groups=groups, users=users
            )
            if ticket is not None:
                tickets.append(ticket)
        if complete:
            self._comments.prune(found)
        return Snapshot(self.name, tuple(tickets), now, complete, self._throttle)

    def _list_group(self, group: int | None) -> tuple[Listing, bool]:
        """(the listing, read it all) for one watched group (None: every group).

        The Search API, with its sideloads, while the group has at most 1,000 waiting tickets;
        past that its page 11 answers 422, so the whole group is listed with the export search.
        Newest change first: when page 1 is unchanged (304) no ticket entered, left or changed
        (``count`` would differ, or the changed ticket would lead page 1), so the last listing
        stands and an idle poll costs one request however many pages the group has.
        """
        params = {
            "query": self._search_query(group),
            "sort_by": "updated_at",
            "sort_order": "desc",
            "per_page": PAGE_SIZE,
            "include": "tickets(users,slas,metric_sets)",
        }
        last = self._listings.get(group)
        first: list[Page] = []

        def following(page: Page) -> str | None:
            if not first:
                first.append(page)
                if page.from_cache and last is not None:
                    return None  # nothing changed: the last listing stands
            return search_next(page)

        pages = self.client.paginate("search.json", params, following)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        if _count(pages.pages[0]) > SEARCH_LIMIT:
            self._listings.pop(group, None)
            return self._export_group(group)
        if last is not None and len(pages) == 1 and pages.pages[0].from_cache:
            return last, True
        items: list[dict[str, Any]] = []
        users: dict[int, dict[str, Any]] = {}
        metrics: dict[Any, dict[str, Any]] = {}
        for page in pages:
            users.update(parse_users(page.data))
            metrics.update(parse_metric_sets(page.data))
            items.extend(_list(page.data, "results", N_("; is the URL the Zendesk address?")))
        if pages.complete:
            self._listings[group] = (items, users, metrics)
        return (items, users, metrics), pages.complete

    def _export_group(self, group: int | None) -> tuple[Listing, bool]:
        """Every waiting ticket of a group through the export search (cursor pagination)."""
        params = {
            "query": self._search_query(group, export=True),
            "filter[type]": "ticket",
            "page[size]": PAGE_SIZE,
        }
        pages = self.client.paginate("search/export", params, next_page)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        items: list[dict[str, Any]] = []
        users: dict[int, dict[str, Any]] = {}
        metrics: dict[Any, dict[str, Any]] = {}
        for page in pages:
            users.update(parse_users(page.data))
            metrics.update(parse_metric_sets(page.data))  # undocumented here: seldom present
            items.extend(_list(page.data, "results", N_("; is the URL the Zendesk address?")))
        return (items, users, metrics), pages.complete

    def _ticket_comments(
        self,
        tid: int,
        ticket: dict[str, Any],
        users: dict[int, dict[str, Any]],
        metrics: dict[str, Any] | None,
    ) -> tuple[list[kit.Message], bool]:
        """The ticket's public comments back to the newest agent reply (none: it waits since it
        was created), read again only when the ticket changed."""
        if ticket.get("status") == "new" or unanswered_from_start(ticket, metrics):
            return [], True  # no agent has answered publicly: it waits since it was created
        updated = kit.text_of(ticket, "updated_at")
        return self._comments.read(tid, updated, lambda: self._read_comments(tid, ticket, users))

    def _read_comments(
        self, tid: int, ticket: dict[str, Any], users: dict[int, dict[str, Any]]
    ) -> tuple[list[kit.Message], bool]:
        """The ticket's public comments, newest first, back to the newest agent reply; True
        when that far was read."""
        messages: list[kit.Message] = []
        requester = ticket.get("requester_id")

        def older(page: Page) -> str | None:
            """Newest first: once a page holds an agent's public reply newer than the page's
            oldest comment, older comments cannot change who waits, nor since when."""
            found = parse_comments(page.data, requester, users)
            messages.extend(found)
            oldest = min((at for at, _ in found), default=None)
            if any(not mine and oldest is not None and at > oldest for at, mine in found):
                return None
            return next_page(page)

        params = {"include": "users", "page[size]": 100, "sort": "-created_at"}
        pages = self.client.paginate(f"tickets/{tid}/comments.json", params, older)
        self._throttle = kit.slowest(self._throttle, pages.throttle)
        return messages, pages.complete

    def list_categories(self) -> list[str]:
        return sorted(self.groups.reload().values())

    def close(self) -> None:
        self.client.close()
