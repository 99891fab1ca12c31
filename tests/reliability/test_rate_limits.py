"""A rate limit hit part way through a poll, in the running agent: a short wait is waited out in
the same poll; a long one ends it with the helpdesk's wait (clamped to an hour, whatever number
the server sends) and the tickets known so far stay waiting — nothing of an unfinished listing
is taken as answered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from agent.model import Health
from tests.fakes.kinds import HTTP_KINDS
from tests.reliability.conftest import Run, wait_until


def page_two(request: Any) -> bool:
    return request.args.get("page") == "2"


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [("600", 600.0), ("inf", 3600.0), ("1e20", 3600.0), ("1000000000", 3600.0)],
)
def test_a_long_wait_on_page_two_keeps_the_tickets_and_the_agent_alive(
    server: HTTPServer,
    start_agent: Callable[..., Run],
    clock: Any,
    record_property: Any,
    retry_after: str,
    wait: float,
) -> None:
    record_property("fault", f"429 on page 2 with Retry-After: {retry_after}")
    harness = HTTP_KINDS["json"]
    fake = harness.fake(server)
    for n in range(1, 151):
        harness.add_waiting(fake, n, clock.now() - timedelta(minutes=n))
    table = harness.table(fake, "Desk", interval="1m", timeout=1)
    run = start_agent({"sources": [table]}, {"Desk": harness.secret})
    wait_until(lambda: run.health("Desk").waiting == 150, what="the first poll")
    fake.limit_once(page_two, {"Retry-After": retry_after})
    run.advance(90)
    wait_until(lambda: run.health("Desk").health is not Health.OK, what="the rate limit")
    health = run.health("Desk")
    assert health.health is Health.SLOWED  # a state of its own: not failing, no source_down
    assert "slowed down by the helpdesk until" in health.message
    assert not run.kinds("source_down")
    assert health.waiting == 150 and not run.kinds("answered")
    assert health.next_poll is not None
    planned = (health.next_poll - clock.now()).total_seconds()
    assert wait - 5 <= planned <= wait + 5  # the helpdesk's wait, never more than an hour
    # the scheduler lives on: after the wait, the source is read again and is fine
    run.advance(wait + 10)
    wait_until(lambda: run.health("Desk").health is Health.OK, what="the next poll")
    assert run.health("Desk").waiting == 150


def test_a_short_wait_on_page_two_is_waited_out_in_the_same_poll(
    server: HTTPServer, start_agent: Callable[..., Run], clock: Any
) -> None:
    harness = HTTP_KINDS["github"]
    fake = harness.fake(server)
    for n in range(1, 151):
        harness.add_waiting(fake, n, clock.now() - timedelta(minutes=n))
    fake.limit_once(page_two, {"Retry-After": "1"})
    table = harness.table(fake, "Desk", interval="1m", timeout=2)
    run = start_agent({"sources": [table]}, {"Desk": harness.secret})
    wait_until(lambda: run.health("Desk").waiting == 150, timeout=20, what="the first poll")
    assert run.health("Desk").health is Health.OK
    assert len(fake.limited) == 1
