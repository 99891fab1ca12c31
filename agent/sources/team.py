"""The member's side of a team hub: a source of ``kind = "team"`` reads what the hub published.

It makes no request to the helpdesk and holds no helpdesk token: its ``name`` is the hub's
source of that name, its ``categories`` are this person's own. What follows the fetch is this
Ticketbell's own, as for any source: its queue, policy, badge, sounds, alerts once. The hub's
publications reach it over the process's :class:`~agent.team.TeamLink` (``[team]``); a new one
wakes the engine at once (``wait_for_change``), so a new ticket is not left for the interval.
"""

from __future__ import annotations

from datetime import datetime

from agent import team
from agent.model import Snapshot
from agent.sources.base import NotConfigured, Source


class TeamSource(Source):
    kind = "team"
    description = "a source of the team hub ([team]): no helpdesk token on this computer"
    needs_secret = False

    def set_up(self) -> None:
        link = team.current_link()
        if link is None:
            raise NotConfigured(f"{self.name}: a team source needs [team] in the config")
        self.link = link
        self.seen = -1

    def fetch(self, since: datetime | None) -> Snapshot:
        self.seen = self.link.version
        snapshot = self.link.read(self.name)
        tickets = tuple(t for t in snapshot.tickets if self.wants(t.category))
        return Snapshot(self.name, tickets, snapshot.fetched_at, complete=snapshot.complete)

    def wait_for_change(self, timeout: float) -> bool | None:
        return self.link.wait_for_change(self.seen, timeout)
