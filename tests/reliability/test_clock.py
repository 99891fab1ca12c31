"""Clock and sleep: the wall clock jumps forward (a laptop resumes after hours) and back (a
clock correction). The agent re-polls at once, keeps due times tied to the tickets' own times,
and never bursts stale alerts (a "due soon" for a ticket already known to be overdue).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from agent.model import DueState
from tests.fakes.web import local_server
from tests.reliability.conftest import JSON_KEY, Desk, Run, json_source, wait_until

HOUR = 3600.0


def test_sleep_and_clock_jumps_repoll_at_once_and_burst_no_stale_alerts(
    clock: Any, start_agent: Callable[..., Run], record_property: Any
) -> None:
    record_property("fault", "clock: resume after 5 h of sleep, then the clock set back")
    with local_server() as server:
        desk = Desk("json", server, clock.now())
        desk.add(1, "Waiting 10 minutes", minutes_ago=10)
        run = start_agent(
            {
                "sources": [json_source("Desk", desk.fake.url, interval="15m")],
                "windows": {"default": "2h"},
                "alerts": {"remind_every": "off"},
            },
            {"Desk": JSON_KEY},
        )
        wait_until(lambda: run.kinds("new"), what="first poll")
        due = run.agent.status.tickets[0].due_at
        assert due == clock.now() - timedelta(minutes=10) + timedelta(hours=2)
        polls = desk.requests

        # The laptop sleeps for 5 hours: monotonic time stood still, the wall clock did not.
        clock.jump_wall(5 * HOUR)
        wait_until(lambda: desk.requests > polls, what="an immediate re-poll after the resume")
        wait_until(lambda: run.kinds("overdue"), what="the overdue alert")
        status = run.agent.status
        assert status.tickets[0].state is DueState.OVERDUE
        assert status.tickets[0].due_at == due  # due times follow the ticket, not the jump

        # The clock is set back 3.5 hours: the ticket looks "due soon" again, but it was
        # already announced overdue in this waiting cycle. No stale "due soon" for it.
        polls = desk.requests
        clock.jump_wall(-3.5 * HOUR)
        wait_until(lambda: desk.requests > polls, what="a re-poll after the clock went back")
        run.settle()
        wait_until(lambda: run.agent.status.tickets[0].state is DueState.DUE_SOON)
        run.settle()  # one more full pass after the evaluation
        assert run.agent.status.tickets[0].due_at == due

        # Forward again past the due time: the overdue alert is not repeated either.
        clock.jump_wall(2 * HOUR)
        wait_until(lambda: run.agent.status.tickets[0].state is DueState.OVERDUE)
        run.settle()

    kinds = [a.kind for a in run.alerts if a.ticket == "1"]
    assert kinds.count("new") == 1
    assert kinds.count("overdue") == 1
    assert "due_soon" not in kinds, kinds
