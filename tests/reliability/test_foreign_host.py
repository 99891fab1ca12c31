"""A helpdesk page that links to another host, port or scheme never gets the token sent there.

Two real servers on 127.0.0.1: the helpdesk's fake, and a "foreign" server that records every
request. The fake's next links point at the foreign one; the fetch must end as a bad response
naming the foreign address, the foreign server must see no request at all, and the agent must
keep the tickets it knew (nothing in an unfinished poll is taken as answered). The count of
requests that reached the foreign server with the token is the ``make reliability`` row
"tokens sent to a foreign host".
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agent.model import Health
from agent.sources import source_class
from agent.sources.base import BadResponse
from tests.fakes.kinds import HTTP_KINDS
from tests.fakes.web import local_server
from tests.reliability.conftest import Run, wait_until

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Foreign:
    """A server that should never be asked anything: it records what reaches it."""

    def __init__(self, server: HTTPServer) -> None:
        server.clear()
        self.server = server
        self.requests: list[Request] = []
        server.expect_request(re.compile(".*")).respond_with_handler(self._record)

    def _record(self, request: Request) -> Response:
        self.requests.append(request)
        return Response("[]", content_type="application/json")

    def tokens(self, secret: str) -> int:
        """Requests that carried the secret in any header or the query string."""
        return sum(
            1
            for r in self.requests
            if secret in str(r.headers)
            or secret in r.query_string.decode("latin-1")
            or any(secret in v for v in _basic(r))
        )


def _basic(request: Request) -> list[str]:
    value = request.headers.get("Authorization", "")
    if not value.startswith("Basic "):
        return []
    try:
        return [base64.b64decode(value[6:]).decode("utf-8", "replace")]
    except (binascii.Error, ValueError):
        return []


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    with local_server() as home, local_server() as foreign:
        yield home, foreign


def make_listing_link_out(kind: str, fake: Any) -> None:
    """Enough of what the kind pages through that a second page (a next link) exists."""
    harness = HTTP_KINDS[kind]
    if kind == "freshdesk":
        # the groups list pages with a Link header (100 a page)
        fake.groups.update({1000 + n: f"Group {n}" for n in range(150)})
        harness.add_waiting(fake, 1, NOW - timedelta(hours=1))
    else:
        for n in range(1, 151):  # 100 a page: page 2 exists
            harness.add_waiting(fake, n, NOW - timedelta(minutes=n))


@pytest.mark.parametrize("where", ["another port", "another host name"])
@pytest.mark.parametrize("kind", ["json", "github", "freshdesk"])
def test_a_next_link_to_another_host_gets_no_request_and_no_token(
    servers: tuple[HTTPServer, HTTPServer], record_property: Any, kind: str, where: str
) -> None:
    home, foreign_server = servers
    foreign = Foreign(foreign_server)
    harness = HTTP_KINDS[kind]
    fake = harness.fake(home)
    make_listing_link_out(kind, fake)
    host = "127.0.0.1" if where == "another port" else "localhost"
    fake.link_origin = f"http://{host}:{foreign_server.port}"
    source = source_class(kind)(harness.config(fake), harness.secret, clock=lambda: NOW)
    try:
        with pytest.raises(BadResponse) as info:
            source.fetch(None)
    finally:
        record_property("tokens_to_foreign_host", foreign.tokens(harness.secret))
        source.close()
    assert f"{host}:{foreign_server.port}" in str(info.value)  # names the foreign address
    assert foreign.requests == []  # nothing at all was sent there, not even without the token
    assert harness.secret not in str(info.value) + info.value.detail


def test_the_agent_keeps_its_tickets_when_a_poll_stops_at_a_foreign_link(
    servers: tuple[HTTPServer, HTTPServer],
    start_agent: Callable[..., Run],
    clock: Any,
    record_property: Any,
) -> None:
    """The poll that refused the link ends as a failure: its tickets stay waiting (none is
    counted as answered because the rest of the listing was not read)."""
    home, foreign_server = servers
    foreign = Foreign(foreign_server)
    harness = HTTP_KINDS["json"]
    fake = harness.fake(home)
    for n in range(1, 151):
        harness.add_waiting(fake, n, clock.now() - timedelta(minutes=n))
    table = harness.table(fake, "Desk", interval="1m", timeout=1)
    run = start_agent({"sources": [table]}, {"Desk": harness.secret})
    wait_until(lambda: run.health("Desk").waiting == 150, what="the first poll")
    fake.link_origin = f"http://127.0.0.1:{foreign_server.port}"
    run.advance(90)  # past the 1 minute interval
    wait_until(lambda: run.health("Desk").health is Health.FAILING, what="the refused link")
    record_property("tokens_to_foreign_host", foreign.tokens(harness.secret))
    health = run.health("Desk")
    assert f"127.0.0.1:{foreign_server.port}" in health.message
    assert health.waiting == 150
    assert not run.kinds("answered")
    assert foreign.requests == []
