"""The agent with a team (``[team]`` in the config): the engine's :class:`~agent.engine.Agent`
with a :class:`~agent.team.TeamLink` and, on a hub, a :class:`~agent.team.Hub` attached.

"I'm on it" also publishes a claim; the status's tickets carry the first claim of someone else
(``WaitingTicket.claimed_by``/``claimed_at``); a hub publishes every fetch of its sources.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from typing import Any

from agent import secrets, team
from agent.config import Config, SourceConfig, Team
from agent.engine import Agent, make_source
from agent.engine.commands import CheckNow
from agent.engine.pipeline import FetchResult, SourceState
from agent.engine.workers import fetch_seconds
from agent.i18n import N_, Text, _, english
from agent.model import Alert, Status
from agent.policy import _alert as policy_alert
from agent.presence import Presence
from agent.queue import LocalQueue
from agent.sources.base import Source, SourceError
from agent.sources.team import TeamSource
from agent.team import TeamLink, team_password
from agent.team_hub import Hub


class TeamAgent(Agent):
    """The agent with a team: claims published on "I'm on it", others' claims on the tickets."""

    def __init__(
        self, config: Config, queue: LocalQueue, link: TeamLink, hub: Hub | None = None
    ) -> None:
        self.link = link  # before the engine's start: its first status reads the claims
        self.hub = hub
        self._claims_seen = -1
        #: :attr:`Status.watching` and the link's presence version it was made of
        self._watching: tuple[int, tuple[tuple[str, tuple[str, ...]], ...]] = (-1, ())
        super().__init__(config, queue, source_factory=self._make_source)
        link.on_claims = self._claims_changed
        link.on_change = self._team_changed
        self.quiet.listeners.append(self._desk_changed)
        if hub is not None:
            self.subscribe(on_alerts=hub.on_alerts)
            hub.on_takeover = self._took_over

    def _make_source(self, config: SourceConfig, clock: Callable[[], datetime]) -> Source:
        """A team source reads through this agent's link; a hub publishes its other sources."""
        if config.kind == "team":
            return TeamSource(config, clock=clock, link=self.link)
        if self.hub is not None:
            return self.hub.source_factory(config, clock)
        return make_source(config, clock)

    def acknowledge(self, source: str, ticket: str, release: bool = False) -> None:
        super().acknowledge(source, ticket, release)
        self.link.claim(source, ticket, release)

    def stop(self, timeout: float = 8.0) -> None:
        super().stop(timeout)
        if self.hub is not None:
            self.hub.close()
        self.link.close()
        if team.current_link() is self.link:
            team.use_link(None)

    def _claims_changed(self) -> None:
        """On the connection's thread: wake the scheduler (a CheckNow of no source) so the
        status is built again with the new claims."""
        self._cmds.put(CheckNow(""))

    def _desk_changed(self, facts: Presence) -> None:
        """The desktop's do-not-disturb and away (agent/quiet.py) go with this person's presence
        ("away", "dnd" beside "state" and "watching"), for the team to count an away person as
        not watching (``when = "nobody_watching"``)."""
        if self.link.with_presence and self.link.synced:
            away = facts.away(self.config.quiet.away_after)
            self.link.publish_presence(True, away=away, dnd=bool(facts.dnd))

    def _team_changed(self, name: str) -> None:
        """On the connection's thread: the team sources whose publications changed (``name``,
        or every one when the hub came or went) are read again now, not at their interval."""
        for source in self.config.sources:
            if source.kind == "team" and name in ("", source.name):
                self.check_now(source.name)

    def _took_over(self) -> None:
        """This hub took the hub topic: its helpdesk sources are polled now."""
        for source in self.config.sources:
            if source.kind != "team":
                self.check_now(source.name)

    def _start_fetch(self, state: SourceState, now: datetime) -> Future[Any]:
        """Reads that look at what the link holds in memory run on the scheduler's thread
        (they never wait, so a fetch thread and its deadline timer would only delay each
        ticket), once the link is synced: a team source's, and every source's of a hub
        standing by, which follows the team's publications and asks no helpdesk until it takes
        over (two pollers against an account-wide rate limit are one too many; a standby that
        lost the broker polls, rather than show its sources as unreadable)."""
        standby = state.config.kind != "team" and self.hub is not None and self.hub.standing_by
        source = state.source
        if not self.link.synced or not (standby or isinstance(source, TeamSource)):
            return super()._start_fetch(state, now)
        state.in_flight = True
        state.fetch += 1
        state.fetching = [source] if source is not None else []
        state.fetch_deadline = time.monotonic() + fetch_seconds(state)
        name = state.config.name
        try:
            if isinstance(source, TeamSource):
                snapshot, error = source.read(wait=0.0), None
            else:
                snapshot, error = self.link.read(name, wait=0.0), None
        except SourceError as exc:
            snapshot, error = None, exc
        done: Future[Any] = Future()
        result = FetchResult(name, snapshot, error, source, now, self._generation, state.fetch)
        done.set_result(result)
        return done

    def _tick(self, now: datetime | None = None) -> None:
        if self.link.claims_version != self._claims_seen:
            self._claims_seen = self.link.claims_version
            self._dirty = True
        if self._dirty:  # the claims or the tickets moved
            self._take_own_claims(now or self.clock.now())
        super()._tick(now)

    def _take_own_claims(self, now: datetime) -> None:
        """This person's claims made elsewhere (``ticketbell claim`` in a terminal publishes
        to the broker only) acknowledge the ticket here too: the tray shows it as theirs."""
        mine = self.link.own_claims(now)
        if not mine:
            return
        for queued in self.queue.waiting():
            key = (queued.ticket.source, queued.ticket.id)
            if key in mine and not queued.acknowledged:
                self.queue.set_ticket_state(*key, acknowledged=True)

    def _build_status(self, now: datetime) -> Status:
        status = replace(super()._build_status(now), watching=self._watching_now())
        claims = self.link.claims_now(now)
        if not claims:
            return status
        tickets = tuple(
            replace(w, claimed_by=c.user, claimed_at=c.at)
            if (c := claims.get((w.ticket.source, w.ticket.id)))
            else w
            for w in status.tickets
        )
        self._waiting = list(tickets)
        return replace(status, tickets=tickets)

    def _watching_now(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Who is watching, made again only when someone's presence moved (not at every
        status: a publication's status at each member)."""
        version = self.link.presence_version  # read first: a change meanwhile makes it again
        if self._watching[0] != version:
            self._watching = (version, watching_now(self.link.watchers()))
        return self._watching[1]

    def _evaluate(self, now: datetime) -> list[Alert]:
        """The engine's evaluation, and the ``when = "nobody_watching"`` escalations owed."""
        fresh = super()._evaluate(now)
        levels = [i for i, lvl in enumerate(self.config.escalation.levels) if lvl.when != "overdue"]
        if not levels or not self.link.synced:
            return fresh
        owed = [
            policy_alert("escalated", w, now, levels[0], message="Nobody is watching")
            for w in self._waiting
            if not self.link.watched(w.ticket.source, w.ticket.category) and not w.acknowledged
        ]
        recorded = self.queue.record([a for a in owed if a.key not in self.queue.ledger_keys])
        for alert in recorded:
            self.queue.set_pinned(alert.tickets[0].ticket.key, True)
        self._escalator.escalate(recorded, self.config, now)
        return fresh + recorded

    def team_json(self) -> dict[str, Any]:
        """For ``check --json``: the hub's state and who is watching which categories."""
        return {
            "hub": english(self.link.hub_problem(self.clock.now()) or "online"),
            "watching": self.link.watchers(),
            "refused": list(self.link.notes),
        }


def watching_now(watchers: list[dict[str, Any]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """:meth:`TeamLink.watchers` as :attr:`Status.watching`: each person and the categories
    they follow across their team sources (() when one of them follows every category)."""
    shown = []
    for person in watchers:
        cats = [list(c) for c in person["watching"].values()]
        followed = () if any(not c for c in cats) else tuple(sorted({x for c in cats for x in c}))
        shown.append((str(person["user"]), followed))
    return tuple(shown)


def watched(config: Config) -> dict[str, tuple[str, ...]]:
    """What this person watches, as their presence says: an owner's watching is no member's
    (``when = "nobody_watching"`` asks whether an assistant follows a ticket)."""
    if config.role == "owner":
        return {}
    return {s.name: s.categories for s in config.sources if s.kind == "team"}


def open_team_agent(config: Config, queue: LocalQueue, hub: bool = True) -> TeamAgent:
    """The agent for a config with ``[team]``: its link, and its hub when ``hub = true``.
    ``hub=False`` for ``check``: a one-shot poll takes neither the hub topic from the running
    hub nor this person's presence from their running Ticketbell."""
    assert config.team is not None
    password = team_password(config.team)
    link = TeamLink(config.team, password, watched(config), presence=hub)
    team.use_link(link)
    publisher = Hub(config.team, password, make_source) if config.team.hub and hub else None
    return TeamAgent(config, queue, link, publisher)


def claim_once(settings: Team, source: str, ticket: str, release: bool, wait: float = 10.0) -> str:
    """``ticketbell claim``: publish (or end) one claim and say what happened."""
    try:
        password = secrets.get("team", settings.secret_env)
    except secrets.SecretUnavailable as exc:  # secret_env unset is said as such, by its name
        return str(exc) if settings.secret_env else _(team.NO_PASSWORD)
    try:
        link = TeamLink(settings, password, {}, presence=False)
    except OSError as exc:  # the CA file went since the config was checked, or is not one
        cannot = _("cannot connect to the team broker {broker}").format(broker=settings.broker)
        return f"{cannot}: {exc.strerror or exc}"
    try:
        if link.connected.wait(wait):
            unknown = "" if release else _not_published(link, source, ticket, wait)
            if unknown:
                return unknown
            info = link.claim(source, ticket, release)
            with contextlib.suppress(RuntimeError, ValueError):  # lost meanwhile: said below
                info.wait_for_publish(wait)
            if info.is_published():
                return ""
        refused = _("the team broker {broker} did not take the claim")
        return str(link.problem) if link.problem else refused.format(broker=settings.broker)
    finally:
        link.close()


def _not_published(link: TeamLink, source: str, ticket: str, wait: float) -> str:
    """Why ``ticket`` of ``source`` cannot be claimed: the hub publishes no such source, or
    its complete listing has no such waiting ticket (a mistyped name or number was "claimed"
    and stayed on the broker until it expired). "" when it is listed, or when nothing can be
    told (no answer, the hub offline, an incomplete listing): then the claim goes as asked."""
    if not link.wait_synced(wait):
        return ""
    with link.changed:
        if link.hub_problem(link.clock()):
            return ""
        published = link.tickets.get(source)
        known = sorted(set(link.tickets) | set(link.health))
    if published is None:
        if not known:
            return ""
        text = N_("the team hub publishes no source named {source}; it publishes: {known}")
        return str(Text(text, source=repr(source), known=", ".join(known)))
    if not published.complete or any(t.id == ticket for t in published.tickets):
        return ""
    text = N_("the team hub lists no waiting ticket {ticket} in {source}")
    return str(Text(text, ticket=repr(ticket), source=source))


def hub_sources(
    settings: Team, password: str, wait: float = 10.0
) -> tuple[dict[str, list[str]], str]:
    """The sources the team's hub publishes and the categories seen in each, for "Join my
    team" to pick from; and why none can be listed ("" when they could). It never raises:
    the wizard runs it on a worker thread."""
    try:
        link = TeamLink(settings, password, {}, presence=False)
    except ValueError as exc:  # mqtt:// off loopback
        return {}, str(exc)
    try:
        if not link.wait_synced(wait, first_problem=True):
            no_answer = Text(N_("no answer from the team broker {broker}"), broker=settings.broker)
            return {}, str(link.problem or no_answer)
        found = {
            name: sorted({t.category for t in link.tickets[name].tickets if t.category})
            if name in link.tickets
            else []
            for name in sorted(set(link.tickets) | set(link.health))
        }
        if not found:
            none_yet = Text(N_("the team's hub publishes no source yet"))
            return {}, str(link.hub_problem(link.clock()) or none_yet)
        return found, ""
    finally:
        link.close()


def join_table(settings: Team, picked: dict[str, list[str]]) -> dict[str, object]:
    """A member's config: ``[team]`` and one ``kind = "team"`` source per hub source picked,
    with the categories it watches (none: all)."""
    team: dict[str, object] = {"broker": settings.broker, "name": settings.name}
    team["user"] = settings.user
    if settings.ca:
        team["ca"] = settings.ca
    sources = []
    for name, categories in picked.items():
        source: dict[str, object] = {"name": name, "kind": "team"}
        if categories:
            source["categories"] = categories
        sources.append(source)
    return {"team": team, "sources": sources}
