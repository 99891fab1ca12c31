"""The team hub over MQTT: one Ticketbell polls the helpdesks, every member follows it.

Two connections, two jobs:

- :class:`TeamLink` (every Ticketbell with ``[team]``): reads what the hub publishes (untrusted,
  checked by :mod:`agent.sources.team_messages`), the claims ("Anna is on it") and who is
  watching; it publishes this person's claims and presence (retained, with a last will: "offline").
- :class:`~agent.team_hub.Hub` (``[team] hub = true``): publishes each source's tickets and
  health after each fetch, with a heartbeat and a last will; one hub at a time.

:class:`~agent.team_agent.TeamAgent` is the engine's agent with these attached.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent import secrets
from agent.config import Team
from agent.i18n import N_, Text, TimeOfDay
from agent.model import Snapshot, utcnow
from agent.sources import team_messages as msg
from agent.sources.base import BadResponse, Unavailable, Unreachable

log = logging.getLogger(__name__)

#: the hub is offline when no heartbeat came for this many of its intervals
OFFLINE_AFTER = 3
#: how long a new connection waits for the broker's retained messages before a first read
SYNC_WAIT = 5.0
KEEPALIVE = 30
#: MQTT 3.1.1, not 5: the team uses nothing of 5 but its reason strings (no properties, user
#: properties, session expiry or will properties), and paho decodes a 5 message's properties
#: into objects for every message, at every member (bench/README.md, team fan-out)
PROTOCOL = mqtt.MQTTv311
#: the QoS of the team's subscriptions: 0. Everything a member reads is retained state and its
#: sessions are clean, so QoS 1 would redeliver nothing after a lost connection that the
#: retained messages do not give again on the new subscription; on a live connection TCP
#: delivers either way. QoS 0 spares each message its PUBACK. What a member publishes (its
#: claims, its presence) stays QoS 1: ``claim_once`` waits for the broker to take a claim.
SUBSCRIBE_QOS = 0
NO_PASSWORD = N_("no team password: `ticketbell secret set team`")


def team_password(team: Team) -> str | None:
    """The broker password: the keyring's "team" entry, or ``secret_env``; None if neither."""
    try:
        return secrets.get("team", team.secret_env)
    except secrets.SecretUnavailable:
        return None


def make_client(team: Team, password: str | None, client_id: str) -> mqtt.Client:
    """A paho client for the team's broker: login, and TLS for mqtts:// (required off loopback,
    which the config's check already says; refused here too)."""
    url = urlsplit(team.broker)
    loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
    if url.scheme != "mqtts" and not loopback:
        raise ValueError(f"{team.broker}: a broker that is not on this computer needs mqtts://")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=PROTOCOL)
    client.username_pw_set(team.user, password)
    if url.scheme == "mqtts":
        client.tls_set(ca_certs=team.ca or None)
    client.reconnect_delay_set(1, 30)
    return client


def broker_address(team: Team) -> tuple[str, int]:
    url = urlsplit(team.broker)
    return url.hostname or "", url.port or (8883 if url.scheme == "mqtts" else 1883)


class TeamLink:
    """This person's side of the team: what the hub published, claims, presence."""

    def __init__(
        self,
        team: Team,
        password: str | None,
        watching: dict[str, tuple[str, ...]],
        clock: Callable[[], datetime] = utcnow,
        presence: bool = True,
    ) -> None:
        self.team = team
        self.clock = clock
        self.watching = watching
        lock = threading.RLock()
        self.changed = threading.Condition(lock)
        #: woken when the hub comes or goes, a heartbeat brings its deadline nearer, the
        #: connection moves, or on close: what :meth:`wait_for_quiet` waits for (not every
        #: publication or heartbeat: each wake of a waiting thread is a hand-over of the GIL,
        #: and :attr:`on_change` tells the agent of publications)
        self.hub_moved = threading.Condition(lock)
        self.version = 0  # moves on every change
        self.claims_version = 0
        self.presence_version = 0  # moves when someone's presence does
        self.beat: msg.HubBeat | None = None
        self.beat_heard: datetime | None = None
        self.offline_since: datetime | None = None
        self.tickets: dict[str, msg.Published] = {}
        self.health: dict[str, msg.Published] = {}
        self.refused: dict[str, str] = {}
        self.notes: list[str] = []
        self.claims: dict[tuple[str, str], dict[str, msg.Claim]] = {}
        self.presence: dict[str, msg.Presence] = {}
        self.synced = False
        self.connected = threading.Event()  # the broker took the login (once, at least)
        self.closed = False
        #: why this link cannot follow the hub (None: it can), for a person; the log and
        #: ``check --json`` write its ``.english``
        self.problem: Text | None = None if password else Text(NO_PASSWORD)
        #: the problem is one that trying again does not mend (a refused login, a certificate
        #: this computer does not trust): whoever waits for the hub is told at once
        self.lasting_problem = False
        self.on_claims: Callable[[], None] | None = None
        #: called (on the connection's thread) with a source whose publications changed, or
        #: "" when the hub came or went: the agent reads its team sources again at once
        self.on_change: Callable[[str], None] | None = None
        self.client = make_client(team, password, f"ticketbell-{team.user}-{uuid.uuid4().hex}")
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_connect_fail = self._connect_failed
        self.client.on_message = self._message
        self.client.on_subscribe = self._subscribed
        self.sub_mid = self.sync_mid = -1
        self.presence_topic = msg.topic(team.name, "presence", team.user)
        self.with_presence = presence
        if presence:
            offline = msg.encode(team.name, {"user": team.user, "state": "offline", "at": None})
            self.client.will_set(self.presence_topic, offline, qos=1, retain=True)
        if password:
            self.client.connect_async(*broker_address(team), keepalive=KEEPALIVE)
            self.client.loop_start()

    # ------------------------------------------------------------------ the connection

    def _connected(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            text = N_("the broker refused the login of {user}: {reason}")
            self.lasting_problem = True  # before the waiters wake: wait_synced ends on it
            self._set_problem(Text(text, user=repr(self.team.user), reason=str(reason)))
            return
        self.problem = None
        self.lasting_problem = False
        self.connected.set()
        everything = msg.topic(self.team.name) + "/#"
        _, self.sub_mid = client.subscribe(everything, qos=SUBSCRIBE_QOS)
        if self.with_presence:
            self.publish_presence(online=True)

    def _subscribed(self, client: Any, _u: Any, mid: int, _codes: Any, _p: Any) -> None:
        """The broker sends a subscription's retained messages right after its SUBACK and
        handles a client's packets in order: once a second SUBACK is back, every retained
        message of the team has arrived (synced)."""
        if mid == self.sub_mid:
            sync = msg.topic(self.team.name, "sync")
            _, self.sync_mid = client.subscribe(sync, qos=SUBSCRIBE_QOS)
        elif mid == self.sync_mid:
            with self.changed:
                if not self.synced:
                    log.info("team: connected to %s as %s", self.team.broker, self.team.user)
                self.synced = True
                self._bump()

    def _disconnected(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if self.closed or self.lasting_problem:  # that says more
            return
        if not flags.is_disconnect_packet_from_server and str(reason) == "Unspecified error":
            # paho's name for a connection lost: the broker closed it (stopped, restarted) or
            # the network dropped it; on MQTT 3.1.1 a broker sends no reason of its own
            said = N_("the team broker closed the connection, or the network lost it")
            self._set_problem(Text(said))
            return
        text = N_("the connection to the team broker dropped ({reason})")
        self._set_problem(Text(text, reason=str(reason)))

    def _connect_failed(self, _c: Any, _u: Any) -> None:
        # paho calls this while it handles the connection's OSError: a certificate this
        # computer does not trust is said as such (a CA file to set, not a broker to wait for)
        failure = sys.exc_info()[1]
        if isinstance(failure, ssl.SSLCertVerificationError):
            text = N_(
                "the team broker {broker} has a certificate this computer does not trust "
                "({reason}); set the broker's CA file"
            )
            reason = failure.verify_message or failure.reason or "?"
            self.lasting_problem = True  # a restarting broker does not mend it: said at once
            self._set_problem(Text(text, broker=self.team.broker, reason=reason))
            return
        text = N_("cannot connect to the team broker {broker}")
        self.lasting_problem = False  # a broker that is down may come back
        self._set_problem(Text(text, broker=self.team.broker))

    def _set_problem(self, problem: Text) -> None:
        text = problem.english  # the log's
        with self.changed:
            self.problem = problem
            self.synced = False
            self._bump(hub=True)
            self.hub_moved.notify_all()
        log.warning("team: %s", text)

    def _bump(self, source: str = "", hub: bool = False) -> None:
        """Under ``self.changed``: something changed (of ``source``, or the hub's state);
        wake whoever waits."""
        self.version += 1
        if (source or hub) and self.on_change is not None:
            self.on_change(source)
        self.changed.notify_all()

    def wait_synced(self, timeout: float, *, first_problem: bool = False) -> bool:
        """Wait until every retained message has arrived (True), a problem that trying again
        does not mend came (False at once: a wrong password or an untrusted certificate is said
        when it is known, not after ``timeout``), the link closed (True), or ``timeout`` passed
        (False).

        ``first_problem``: also end (False) at the first problem, a connection that failed
        say, which paho would try again: for a person waiting on "Join my team", not for a
        member's poll, which waits out a broker that is restarting."""

        def done() -> bool:
            problem = first_problem and self.problem is not None
            return self.synced or self.closed or self.lasting_problem or problem

        with self.changed:
            self.changed.wait_for(done, timeout)
            return self.synced or self.closed

    def close(self) -> None:
        if self.closed:
            return
        if self.with_presence and self.synced:
            self.publish_presence(online=False).wait_for_publish(2.0)
        with self.changed:
            self.closed = True
            self.changed.notify_all()
            self.hub_moved.notify_all()
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------------ what comes in

    def _message(self, _c: Any, _u: Any, message: Any) -> None:
        parts = msg.topic_parts(self.team.name, message.topic)
        try:
            with self.changed:
                self._take(parts or (), message.payload, message.topic)
        except msg.Refused as exc:
            self._refuse(parts or (), message.topic, str(exc))
        except Exception:  # a bug here must not stop the connection's thread
            log.exception("team: a message on %s could not be handled", message.topic)

    def _take(self, parts: tuple[str, ...], payload: bytes, name: str) -> None:
        match parts:
            case ["hub"]:
                self._take_beat(msg.parse_beat(self.team.name, payload))
            case ["sources", source, "tickets"]:
                self._take_published(self.tickets, source, name, payload)
            case ["sources", source, "health"]:
                self._take_published(self.health, source, name, payload)
            case ["claims", source, ticket, user]:
                claim = msg.parse_claim(self.team.name, user, payload)
                self._take_claim((source, ticket), user, claim)
            case ["sync"]:
                pass  # nobody publishes here: its subscription marks the end of the retained
            case ["presence", user]:
                self._take_presence(user, msg.parse_presence(self.team.name, user, payload))
            case _:
                raise msg.Refused("foreign: not a topic of Ticketbell's team hub")

    def _take_beat(self, beat: msg.HubBeat) -> None:
        now = self.clock()
        was = self.hub_problem(now) is None
        before = self.hub_deadline()
        if beat.online:
            self.offline_since = None
        elif self.offline_since is None:
            self.offline_since = now
        self.beat, self.beat_heard = beat, now
        moved = was != (self.hub_problem(now) is None)
        self._bump(hub=moved)
        after = self.hub_deadline()
        # A heartbeat that only moves the hub's deadline later wakes no waiter: it wakes at the
        # deadline it had and waits again for the new one (one wake per three heartbeats).
        if moved or before is None or after is None or after < before:
            self.hub_moved.notify_all()

    def _take_published(
        self, into: dict[str, msg.Published], source: str, name: str, payload: bytes
    ) -> None:
        team = self.team.name
        held = into.get(source)
        if into is self.tickets:
            got = msg.parse_tickets(team, source, payload, held)
        else:
            got = msg.parse_health(team, payload)
        if held is not None and got.seq <= held.seq:
            log.info("team: %s: kept seq %d, ignored older seq %d", name, held.seq, got.seq)
            return
        into[source] = got
        self.refused.pop(source, None)
        self._bump(source)

    def _take_claim(self, key: tuple[str, str], user: str, claim: msg.Claim | None) -> None:
        if claim is not None:
            msg.check_room(self.claims, key, user)
        claims = self.claims.setdefault(key, {})
        if claim is None:
            claims.pop(user, None)
        else:
            claims[user] = claim
        if not claims:
            del self.claims[key]
        self.claims_version += 1
        self._bump()
        if self.on_claims is not None:
            self.on_claims()

    def _take_presence(self, user: str, presence: msg.Presence | None) -> None:
        if presence is None:
            self.presence.pop(user, None)
        else:
            self.presence[user] = presence
        self.presence_version += 1
        self._bump()

    def _refuse(self, parts: tuple[str, ...], name: str, why: str) -> None:
        text = f"refused a message on {name}: {why}"
        log.warning("team: %s", text)
        with self.changed:
            if len(parts) == 3 and parts[0] == "sources":
                self.refused[parts[1]] = text
                self._bump(parts[1])
            else:
                self.notes = [*self.notes[-9:], text]
                self._bump()

    # ------------------------------------------------------------------ what a member reads

    def hub_problem(self, now: datetime) -> Text | None:
        """Why the hub's publications cannot be trusted as current now, or None: for a person
        (``.english`` for the log and ``check --json``)."""
        if self.beat is None or self.beat_heard is None:
            return Text(N_("no team hub has been heard from on the broker"))
        offline = N_("the team hub is offline since {time}")
        if self.offline_since is not None:
            return Text(offline, time=TimeOfDay(self.offline_since))
        if now - self.beat_heard > timedelta(seconds=OFFLINE_AFTER * self.beat.interval):
            return Text(offline, time=TimeOfDay(self.beat_heard))
        return None

    def hub_deadline(self) -> datetime | None:
        """When the hub counts as offline unless another heartbeat comes."""
        if self.beat is None or self.beat_heard is None or self.offline_since is not None:
            return None
        return self.beat_heard + timedelta(seconds=OFFLINE_AFTER * self.beat.interval)

    def read(self, source: str, wait: float = SYNC_WAIT) -> Snapshot:
        """What the hub last published of ``source``, or the SourceError saying why not
        (waiting up to ``wait`` seconds for the broker's retained messages)."""
        if not self.synced and not self.wait_synced(wait):
            no_answer = Text(N_("no answer from the team broker {broker}"), broker=self.team.broker)
            raise Unreachable(self.problem or no_answer)
        now = self.clock()
        with self.changed:
            problem = self.hub_problem(now)
            if problem:
                raise Unavailable(problem)
            if source in self.refused:
                raise BadResponse(self.refused[source])
            health = self.health.get(source)
            if health is not None and health.health == "failing":
                text = N_("the team hub cannot read {source}: {problem}")
                raise Unavailable(Text(text, source=source, problem=health.message))
            published = self.tickets.get(source)
        if published is None:
            text = N_("the team hub publishes no source named {source}")
            raise Unavailable(Text(text, source=repr(source)))
        return Snapshot(source, published.tickets, now, complete=published.complete)

    def wait_for_quiet(self, timeout: float) -> bool | None:
        """Until the hub has gone quiet (no heartbeat for three of its intervals: True),
        ``timeout`` passed (False) or the link closed (None). A new publication, the hub's will
        and a lost connection need no waiting: :attr:`on_change` tells the agent at once."""
        end = time.monotonic() + timeout
        with self.changed:
            while not self.closed:
                left = end - time.monotonic()
                deadline = self.hub_deadline()
                if deadline is not None:
                    quiet = (deadline - self.clock()).total_seconds() + 0.05
                    if quiet <= 0:
                        return True
                    left = min(left, quiet)
                if left <= 0:
                    return False
                self.hub_moved.wait(left)
            return None

    # ------------------------------------------------------------------ claims and presence

    def claim(self, source: str, ticket: str, release: bool = False) -> mqtt.MQTTMessageInfo:
        """ "I'm on it" as a retained claim (``release``: the claim ends)."""
        name = msg.topic(self.team.name, "claims", source, ticket, self.team.user)
        body = {"by": self.team.user, "at": self.clock().isoformat()}
        payload = b"" if release else msg.encode(self.team.name, body)
        return self.client.publish(name, payload, qos=1, retain=True)

    def claims_now(self, now: datetime) -> dict[tuple[str, str], msg.Claim]:
        """The first unexpired claim of each ticket by someone else."""
        oldest = now - self.team.claim_expiry
        shown: dict[tuple[str, str], msg.Claim] = {}
        with self.changed:
            for key, claims in self.claims.items():
                others = [c for c in claims.values() if c.user != self.team.user and c.at > oldest]
                if others:
                    shown[key] = min(others, key=lambda c: c.at)
        return shown

    def own_claims(self, now: datetime) -> set[tuple[str, str]]:
        """The tickets this person claims on the broker now (from any of their Ticketbells)."""
        oldest = now - self.team.claim_expiry
        with self.changed:
            return {
                key
                for key, claims in self.claims.items()
                if (mine := claims.get(self.team.user)) is not None and mine.at > oldest
            }

    def publish_presence(self, online: bool, **desk: bool) -> mqtt.MQTTMessageInfo:
        body = {
            "user": self.team.user,
            "state": "online" if online else "offline",
            "watching": {name: list(cats) for name, cats in self.watching.items()},
            "at": self.clock().isoformat() if online else None,
        }
        payload = msg.encode(self.team.name, {**body, **desk})  # away, dnd: agent/quiet.py
        return self.client.publish(self.presence_topic, payload, qos=1, retain=True)

    def watched(self, source: str, category: str) -> bool:
        """Whether a member online follows ``category`` of ``source`` (empty list: all)."""
        wanted = category.casefold()
        with self.changed:
            people = [p for p in self.presence.values() if p.online and source in p.watching]
            followed = [p.watching[source] for p in people]
            return any(not cats or wanted in {c.casefold() for c in cats} for cats in followed)

    def watchers(self) -> list[dict[str, Any]]:
        """Who is watching which categories now (members online with team sources)."""
        with self.changed:
            people = sorted(self.presence.values(), key=lambda p: p.user)
        return [
            {"user": p.user, "watching": {s: list(c) for s, c in p.watching.items()}}
            for p in people
            if p.online and p.watching
        ]


_current: TeamLink | None = None


def current_link() -> TeamLink | None:
    """The link of this process's agent (``kind = "team"`` sources read through it)."""
    return _current


def use_link(link: TeamLink | None) -> None:
    global _current
    _current = link
