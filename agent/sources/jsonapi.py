"""Any helpdesk with a JSON endpoint: a URL, an auth header and a field mapping.

The mapping names where each ticket field lives in one item, as a dotted path (``"sla.due"``,
``"tags.0"``). The endpoint lists the tickets that may be waiting; ``waiting_statuses`` (when
given) keeps only items whose status is one of them. Pagination follows the URL found at the
``next`` path until it is empty.

With ``since_param`` (the endpoint's own "changed since" query parameter, when its API has
one), only what changed is read between two full listings (every 15 minutes,
:class:`agent.sources.kit.Relist`): one request with ``since_param=<the last look less five
minutes, ISO 8601 UTC>``, so an idle poll costs one request whatever the number of pages. The
endpoint must then list changed tickets in every status (``waiting_statuses`` picks the waiting
ones here) so an answered one leaves; the full listing catches a deleted one. Without it every
page is read every poll (an unmodified page is not parsed again).

A path that finds nothing is a configuration mistake, not "no tickets": it is reported with the
path, so the person fixing the config sees which line is wrong.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.i18n import N_, Text
from agent.model import Snapshot, Ticket
from agent.sources import kit
from agent.sources.base import BadResponse, NotConfigured, Option, Source
from agent.sources.http import Page, Pages

if TYPE_CHECKING:
    from agent.config import SourceConfig

log = logging.getLogger(__name__)

FIELDS = (
    "id",
    "subject",
    "requester",
    "category",
    "priority",
    "status",
    "created",
    "waiting_since",
    "due",
    "url",
)
REQUIRED_FIELDS = ("id", "created")
_MISSING = object()
#: how much earlier than the last look a "since" request starts (a late commit, clocks apart)
SINCE_OVERLAP = timedelta(minutes=5)


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``), or ``_MISSING`` if any step is absent.

    An empty path is the data itself. A key holding ``null`` is present (its value is None).
    """
    if not path:
        return data
    value = data
    for step in path.split("."):
        if isinstance(value, dict):
            if step not in value:
                return _MISSING
            value = value[step]
        elif isinstance(value, list) and step.lstrip("-").isdigit():
            index = int(step)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        for key in ("name", "title", "email", "login", "value"):
            text = value.get(key)
            if isinstance(text, str):
                return text
    return str(value)


def parse_items(data: Any, items_path: str) -> list[Any]:
    """The list of items at ``items_path`` (raises BadResponse naming the path)."""
    found = lookup(data, items_path)
    if found is _MISSING:
        keys = ", ".join(sorted(data)[:12]) if isinstance(data, dict) else type(data).__name__
        raise BadResponse(
            Text(
                N_(
                    'items = "{path}" finds nothing in the answer (it has: {keys}); fix the items '
                    "path in the config"
                ),
                path=items_path,
                keys=keys,
            ),
            f"items path {items_path!r} missing",
        )
    if not isinstance(found, list):
        where = f'items = "{items_path}"' if items_path else "the answer"
        raise BadResponse(
            Text(
                N_("{where} is {type}, not a list of tickets; fix the items path"),
                where=where,
                type=type(found).__name__,
            ),
            f"items path {items_path!r} -> {type(found).__name__}",
        )
    return found


def parse_tickets(
    items: list[Any],
    fields: dict[str, str],
    *,
    source: str,
    waiting_statuses: tuple[str, ...] = (),
    must_match: frozenset[str] = frozenset(),
) -> list[Ticket]:
    """Tickets from items by the field mapping; items not in a waiting status are skipped.

    A required field's path missing from an item, or a ``must_match`` field's path missing
    from every item (a typo that would silently change the count), raises BadResponse naming
    the path; other paths that match nothing are logged.
    """
    waiting = {s.casefold() for s in waiting_statuses}
    found_any = dict.fromkeys(fields, False)
    tickets = []
    for n, item in enumerate(items):
        values = _mapped_values(item, n, fields, found_any)
        status = _text(values.get("status"))
        if waiting and status.casefold() not in waiting:
            continue
        tickets.append(_ticket(values, status, source))
    _check_unmatched(found_any, fields, len(items), must_match, source)
    return tickets


def _mapped_values(
    item: Any, n: int, fields: dict[str, str], found_any: dict[str, bool]
) -> dict[str, Any]:
    """The mapped fields of item ``n`` (None where a path finds nothing); marks in
    ``found_any`` the fields it found."""
    values: dict[str, Any] = {}
    for field, path in fields.items():
        value = lookup(item, path)
        if value is _MISSING:
            if field in REQUIRED_FIELDS:
                raise BadResponse(
                    Text(
                        N_(
                            'fields.{field} = "{path}" finds nothing in ticket {number} of the '
                            "answer; fix the path in the config"
                        ),
                        field=field,
                        path=path,
                        number=n + 1,
                    ),
                    f"item {n}: keys {sorted(item)[:12] if isinstance(item, dict) else item!r}",
                )
            value = None
        else:
            found_any[field] = True
        values[field] = value
    return values


def _ticket(values: dict[str, Any], status: str, source: str) -> Ticket:
    ticket_id = _text(values["id"])
    created = kit.parse_time(values["created"], where=f"fields.created of ticket {ticket_id}")
    if created is None:
        raise BadResponse(
            Text(N_("ticket {id} has no creation time at fields.created"), id=ticket_id),
            repr(values),
        )
    since = kit.parse_time(values.get("waiting_since"), where=f"waiting_since of {ticket_id}")
    return Ticket(
        source=source,
        id=ticket_id,
        subject=_text(values.get("subject")),
        created_at=created,
        waiting_since=since or created,
        requester=_text(values.get("requester")),
        category=_text(values.get("category")),
        priority=_text(values.get("priority")),
        status=status,
        due_at=kit.parse_time(values.get("due"), where=f"due of {ticket_id}"),
        url=_text(values.get("url")),
    )


def _check_unmatched(
    found_any: dict[str, bool],
    fields: dict[str, str],
    count: int,
    must_match: frozenset[str],
    source: str,
) -> None:
    """A field path that matched none of ``count`` items: an error for a ``must_match`` field,
    a warning in the log for the others."""
    unmatched = [
        f for f, hit in found_any.items() if count and not hit and f not in REQUIRED_FIELDS
    ]
    for field in unmatched:
        if field in must_match:
            raise BadResponse(
                Text(
                    N_(
                        'fields.{field} = "{path}" finds nothing in any of the {count} tickets, '
                        "so none could be counted; fix the path in the config"
                    ),
                    field=field,
                    path=fields[field],
                    count=count,
                ),
                f"unmatched path {field}={fields[field]!r}",
            )
        log.warning(
            '%s: fields.%s = "%s" finds nothing in any of %d tickets; check the path',
            source,
            field,
            fields[field],
            count,
        )


def _must_match(config: SourceConfig) -> frozenset[str]:
    """The field paths whose typo would change the count rather than only what is shown."""
    statuses = config.options.get("waiting_statuses")
    return frozenset((["status"] if statuses else []) + (["category"] if config.categories else []))


class JsonSource(Source):
    kind = "json"
    title = N_("Own system")
    description = N_("your own system, through a web address that answers in JSON")
    required = (
        Option("url", N_("Endpoint URL"), help=N_("the URL that lists the tickets, as JSON")),
        Option(
            "fields",
            N_("Which field is which"),
            dict,
            help=N_(
                "where each of id, subject, requester, category, priority, status, created, "
                "waiting_since, due, url is in one ticket, e.g. customer.name for the name "
                "inside customer"
            ),
        ),
    )
    optional = (
        Option(
            "auth_header",
            N_("Auth header"),
            default="Authorization",
            help=N_(
                'the header that carries the secret, e.g. "Authorization" with the secret '
                '"Bearer …", or "X-Api-Key"'
            ),
        ),
        Option(
            "items",
            N_("Where the tickets are"),
            default="",
            help=N_("where the list of tickets is in the answer, e.g. data.tickets"),
        ),
        Option(
            "next",
            N_("Where the next page is"),
            default="",
            help=N_("where the next page's address is in the answer, e.g. links.next"),
        ),
        Option(
            "waiting_statuses",
            N_("Waiting statuses"),
            list,
            [],
            N_("only tickets in these statuses wait (empty: every ticket listed)"),
        ),
        Option(
            "since_param",
            N_("Changed-since parameter"),
            default="",
            help=N_(
                "the query parameter with which the endpoint lists only tickets changed since "
                'a time, e.g. "updated_since" (ISO 8601 UTC); it must list them in every status '
                "(use waiting statuses), so an idle poll is one request. Empty: every page, every "
                "poll"
            ),
        ),
    )
    secret_label = N_("Header value")
    credential_steps = N_(  # the README's steps
        "The secret is the header's whole value (e.g. Bearer abc123 for auth_header = "
        '"Authorization")'
    )

    @classmethod
    def check_options(cls, config: SourceConfig) -> list[tuple[str, Text]]:
        wrong_url = super().check_options(config)  # http(s), as every kind read over HTTP
        if wrong_url:
            return wrong_url
        fields = config.options.get("fields") or {}
        if not isinstance(fields, dict):
            table = N_("must be a table: each ticket field and where it is in one item")
            return [("fields", Text(table))]
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            text = N_("is not a ticket field; use {fields}")
            return [(f"fields.{unknown[0]}", Text(text, fields=", ".join(FIELDS)))]
        for field in REQUIRED_FIELDS:
            if not isinstance(fields.get(field), str) or not fields[field].strip():
                why = N_("is missing; say where the ticket's {field} is in one item, e.g. a.b")
                return [(f"fields.{field}", Text(why, field=field))]
        given = {k for k, v in fields.items() if str(v).strip()}
        needed = sorted(_must_match(config) - given)
        if needed:
            setting = "waiting_statuses" if needed[0] == "status" else "categories"
            text = N_("is needed to filter by {setting}")
            return [(f"fields.{needed[0]}", Text(text, setting=setting))]
        return []

    def set_up(self) -> None:
        for key, problem in self.check_options(self.config):  # config loading ran them too
            raise NotConfigured(
                Text(N_("{name}: {key} {problem}"), name=self.name, key=key, problem=problem)
            )
        fields = self.option("fields") or {}
        assert isinstance(fields, dict)
        self.fields = {k: str(v).strip() for k, v in fields.items() if str(v).strip()}
        self.items_path = str(self.option("items") or "").strip()
        self.next_path = str(self.option("next") or "").strip()
        self.waiting_statuses = self.option_texts("waiting_statuses")
        self.must_match = _must_match(self.config)
        headers = {}
        if self.secret:
            headers[str(self.option("auth_header") or "Authorization")] = self.secret
        #: each page's tickets and next link by URL, reused while the page comes back unmodified
        self._pages: dict[str, tuple[dict[str, Ticket], str | None]] = {}
        self.since_param = str(self.option("since_param") or "").strip()
        #: the waiting tickets as last read, and when (for ``since_param``)
        self._tickets: dict[str, Ticket] = {}
        self._looked_at: datetime | None = None
        self._relist = kit.Relist()
        self.client = self.http(
            self.config.url,
            headers=headers,
        )

    def _next(self, page: Page) -> str | None:
        if not self.next_path:
            return None
        if page.from_cache and page.url in self._pages:
            return self._pages[page.url][1]  # an unmodified page links where it did
        value = lookup(page.data, self.next_path)
        if value is _MISSING or value in (None, "", False):
            return None
        if not isinstance(value, str):
            raise BadResponse(
                Text(
                    N_('next = "{path}" is {type}, not a URL; fix the next path in the config'),
                    path=self.next_path,
                    type=type(value).__name__,
                )
            )
        return value

    def _page_tickets(self, page: Page) -> dict[str, Ticket]:
        """The wanted tickets of one page by id; an unmodified page's from the last poll."""
        if page.from_cache and page.url in self._pages:
            return self._pages[page.url][0]
        items = parse_items(page.data, self.items_path)
        return {t.id: t for t in self._wanted(items)}

    def _wanted(self, items: list[Any]) -> list[Ticket]:
        """The tickets of ``items`` in the watched categories."""
        parsed = parse_tickets(
            items,
            self.fields,
            source=self.name,
            waiting_statuses=self.waiting_statuses,
            must_match=self.must_match,
        )
        return [t for t in parsed if self.wants(t.category)]

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        if self.since_param and self._looked_at is not None and not self._relist.due(now):
            listing, looked_at = self._read_changes(now)
            if not listing.complete:
                self._relist.reset()
        else:
            listing, looked_at = self._read_all(now)
            self._relist.done(now, listing.complete)
        self._looked_at = looked_at
        return Snapshot(
            self.name,
            tuple(self._tickets.values()),
            now,
            complete=listing.complete,
            throttle=listing.throttle,
        )

    def _read_all(self, now: datetime) -> tuple[Pages, datetime]:
        tickets: dict[str, Ticket] = {}
        pages: dict[str, tuple[dict[str, Ticket], str | None]] = {}

        def take(page: Page) -> str | None:
            """A page's tickets and next link, taken as it arrives; then its parsed body goes
            (a first sync of 2,000 tickets kept 20 pages of parsed JSON alive until the last
            was read: 10,000 objects for the garbage collector to walk, per source)."""
            found = self._page_tickets(page)
            link = pages[page.url] = (found, self._next(page))
            tickets.update(found)
            page.data = None
            return link[1]

        try:
            listing = self.client.paginate(self.config.url, None, take)
        except Exception:
            # What a failed poll saw may be cached as "unchanged" next time: never answer it
            # with the tickets of an earlier good poll (a broken desk would look healthy).
            self._pages = {}
            raise
        self._pages = pages
        self._tickets = tickets
        return listing, kit.earlier_clock(listing.pages[0].headers, now)

    def _read_changes(self, now: datetime) -> tuple[Pages, datetime]:
        """The tickets changed since the last look (``since_param``): a changed ticket that no
        longer waits leaves, one that waits comes in or is updated."""
        assert self._looked_at is not None
        start = (self._looked_at - SINCE_OVERLAP).strftime("%Y-%m-%dT%H:%M:%SZ")
        listing = self.client.paginate(self.config.url, {self.since_param: start}, self._next)
        for page in listing:
            items = parse_items(page.data, self.items_path)
            for item in items:
                ticket_id = lookup(item, self.fields["id"])
                if ticket_id is not _MISSING:
                    self._tickets.pop(_text(ticket_id), None)
            self._tickets.update((t.id, t) for t in self._wanted(items))
        return listing, kit.earlier_clock(listing.pages[0].headers, now)

    def close(self) -> None:
        self.client.close()
