"""Requests per poll for every HTTP kind, against its fake (``tests/fakes/``): a first sync of
300 waiting tickets, then an idle poll (nothing changed at the helpdesk).

Counted, not timed: the figure is the number of HTTP requests the real connector makes, the
floor the fewest the helpdesk's API allows — the listing's pages at its largest page size for
the first sync, one conditional or "since" request for the idle poll. Target (issue 11): a first
sync within the pages + 2 (authentication, a category table), and an idle poll of at most one
request per category query (no categories here: one query).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from agent.sources import source_class
from tests.fakes.kinds import HTTP_KINDS
from tests.fakes.web import local_server

UTC = timezone.utc
TICKETS = 300
#: the largest page the listing each connector reads allows, per its vendor's documentation
#: (as its fake follows it); the json kind's endpoint sets its own (the fake's: 100)
MAX_PAGE = {
    # search.json per_page ("a maximum of 100 results per page", the Search API reference); the
    # export search for 1,000+ takes page[size] up to 1000 but is not the first sync's listing
    "zendesk": 100,
    # the filter API (/api/v2/search/tickets) the connector lists with: fixed at 30 a page
    "freshdesk": 30,
    # tickets/search per_page: tickets_controller.rb ``paginate_with(max: 200)``. The connector
    # asks for 100 (the plain listing's cap): a short page ends the listing, and what older
    # versions cap the search at is unconfirmed, so asking for more could end it early
    "zammad": 200,
    "rt": 100,  # REST2 per_page
    "github": 100,  # issues per_page
    "helpscout": 25,  # conversations: fixed 25 a page
    # conversations pageSize: no maximum documented or enforced (ApiController::
    # listConversations hands it to Laravel's paginate(); default 50); 100 as the connector asks
    "freescout": 100,
    "json": 100,
}

#: listings a kind must read besides its main one because that one does not carry what the
#: Waiting rule needs, at their largest page size: Freshdesk's filter API says nothing of who
#: wrote last; /api/v2/tickets?include=stats (100 a page) carries requester_responded_at and
#: agent_responded_at (developers.freshdesk.com/api, List All Tickets)
SECOND_LISTING_PAGE = {"freshdesk": 100}

#: what an idle poll asks, for the kinds that read only what changed between full listings
#: (a full listing, the first sync's pages, every 15 minutes: agent.sources.kit.Relist)
IDLE_HOW = {
    "github": "one since= request (304 while unchanged); all pages every 15 min",
    "rt": "one LastUpdated > 'N minutes ago' search; all pages every 15 min",
    "zammad": "one updated_at:>now-Nm search (15 min overlap: index delay undocumented); "
    "all pages every 15 min",
    "helpscout": "one status=all&modifiedSince request (15 min overlap: index delay "
    "undocumented); all pages every 15 min",
    "json": "one since_param request (with the option; without it every page); all pages "
    "every 15 min",
}

#: options a team would set for the fewest requests (the json fake documents ``updated_since``)
OPTIONS: dict[str, dict[str, str]] = {"json": {"since_param": "updated_since"}}


@dataclass(frozen=True)
class Count:
    kind: str
    first_sync: int
    idle: int
    pages: int  # the floor of the first sync
    waiting: int  # tickets the first sync found waiting (must be TICKETS)

    @property
    def first_target(self) -> int:
        return self.pages + 2

    @property
    def idle_target(self) -> int:
        return 1


def count(kind: str, tickets: int = TICKETS) -> Count:
    """One kind's first sync and idle poll against its fake on 127.0.0.1."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    harness = HTTP_KINDS[kind]
    now = datetime.now(UTC).replace(microsecond=0)
    with local_server() as server:
        fake = harness.fake(server)
        for n in range(1, tickets + 1):
            harness.add_waiting(fake, n, now - timedelta(minutes=n))
        config = harness.config(fake, options=OPTIONS.get(kind, {}))
        source = source_class(kind)(config, harness.secret, clock=lambda: now)
        try:
            snapshot = source.fetch(None)
            first = len(fake.requests)
            source.fetch(now)
            idle = len(fake.requests) - first
        finally:
            source.close()
    pages = math.ceil(tickets / MAX_PAGE[kind])
    if kind in SECOND_LISTING_PAGE:
        pages += math.ceil(tickets / SECOND_LISTING_PAGE[kind])
    return Count(kind, first, idle, pages, len(snapshot.tickets))


def count_all(kinds: list[str] | None = None) -> list[Count]:
    return [count(kind) for kind in kinds or sorted(HTTP_KINDS)]
