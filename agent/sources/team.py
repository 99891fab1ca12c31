"""The member's side of a team hub: a source of ``kind = "team"`` reads what the hub published.

It makes no request to the helpdesk and holds no helpdesk token: its ``name`` is the hub's
source of that name, its ``categories`` are this person's own. What follows the fetch is this
Ticketbell's own, as for any source: its queue, policy, badge, sounds, alerts once. The hub's
publications reach it over the process's :class:`~agent.team.TeamLink` (``[team]``); a new one
wakes the engine at once (``TeamLink.on_change``), so a new ticket is not left for the
interval, and a hub gone quiet wakes it too (``wait_for_change``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agent import team
from agent.config import SourceConfig
from agent.i18n import N_, Text
from agent.model import Snapshot, utcnow
from agent.sources.base import NotConfigured, Source


class TeamSource(Source):
    kind = "team"
    title = N_("Team hub")
    description = N_("a source of the team hub ([team]): no helpdesk token on this computer")
    needs_secret = False

    def __init__(
        self,
        config: SourceConfig,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        link: team.TeamLink | None = None,
    ) -> None:
        """``link``: the agent's (:class:`~agent.team_agent.TeamAgent` gives it); otherwise
        the link of this process's team agent, if it has one."""
        found = link or team.current_link()
        if found is None:
            text = N_("{name}: a team source needs [team] in the config")
            raise NotConfigured(Text(text, name=config.name))
        self.link = found
        super().__init__(config, secret, clock)

    def fetch(self, since: datetime | None) -> Snapshot:
        return self.read(team.SYNC_WAIT)

    def read(self, wait: float) -> Snapshot:
        """The hub's last publication of this source, in this person's categories (waiting up
        to ``wait`` seconds for the broker's retained messages)."""
        snapshot = self.link.read(self.name, wait)
        if not self.categories:  # every category: the link's snapshot as it is
            return snapshot
        tickets = tuple(t for t in snapshot.tickets if self.wants(t.category))
        return Snapshot(self.name, tickets, snapshot.fetched_at, complete=snapshot.complete)

    def wait_for_change(self, timeout: float) -> bool | None:
        """A new publication wakes the agent by itself (``TeamLink.on_change``); this wait is
        for the hub that goes quiet, which sends nothing."""
        return self.link.wait_for_quiet(timeout)
