"""The team hub over MQTT: one Ticketbell polls the helpdesks, every member follows it.

Two connections, two jobs:

- :class:`TeamLink` (every Ticketbell with ``[team]``): reads what the hub publishes (untrusted,
  checked by :mod:`agent.team_messages`), the claims ("Anna is on it") and who is watching; it
  publishes this person's claims and presence (retained, with a last will: "offline").
- :class:`Hub` (``[team] hub = true``): publishes each source's tickets and health after each
  fetch, retained, with sequence numbers, and a heartbeat whose last will says "offline". Several
  hubs may run; one at a time is active, decided through the broker: the holder is whoever sent
  the newest heartbeat on the hub topic; another hub takes over only when the holder's will came
  or its heartbeat is older than three of its intervals.

:class:`TeamAgent` is the :class:`~agent.engine.Agent` with these two attached: "I'm on it" also
publishes a claim, and the status's tickets carry the others' claims.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent import secrets
from agent import team_messages as msg
from agent.config import SourceConfig, Team
from agent.model import Alert, Snapshot, utcnow
from agent.sources.base import BadResponse, Source, SourceError, Unavailable, Unreachable

log = logging.getLogger(__name__)

#: the hub is offline when no heartbeat came for this many of its intervals
OFFLINE_AFTER = 3
#: how long a new connection waits for the broker's retained messages before a first read
SYNC_WAIT = 5.0
KEEPALIVE = 30


def local_clock(at: datetime) -> str:
    return at.astimezone().strftime("%H:%M")


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
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
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
        self.changed = threading.Condition()
        self.version = 0  # moves on every change a reader may care about
        self.claims_version = 0
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
        self.problem = "" if password else "no team password: `ticketbell secret set team`"
        self.on_claims: Callable[[], None] | None = None
        self.on_hub_online: Callable[[], None] | None = None
        self.client = make_client(team, password, f"ticketbell-{team.user}-{os.getpid()}")
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
            self._set_problem(f"the broker refused the login of {self.team.user!r}: {reason}")
            return
        self.problem = ""
        self.connected.set()
        _, self.sub_mid = client.subscribe(msg.topic(self.team.name) + "/#", qos=1)
        if self.with_presence:
            self.publish_presence(online=True)

    def _subscribed(self, client: Any, _u: Any, mid: int, _codes: Any, _p: Any) -> None:
        """The broker sends a subscription's retained messages right after its SUBACK and
        handles a client's packets in order: once a second SUBACK is back, every retained
        message of the team has arrived (synced)."""
        if mid == self.sub_mid:
            _, self.sync_mid = client.subscribe(msg.topic(self.team.name, "sync"), qos=1)
        elif mid == self.sync_mid:
            with self.changed:
                if not self.synced:
                    log.info("team: connected to %s as %s", self.team.broker, self.team.user)
                self.synced = True
                self._bump()

    def _disconnected(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self.closed and "refused the login" not in self.problem:  # that says more
            self._set_problem(f"the connection to the team broker dropped ({reason})")

    def _connect_failed(self, _c: Any, _u: Any) -> None:
        self._set_problem(f"cannot connect to the team broker {self.team.broker}")

    def _set_problem(self, text: str) -> None:
        with self.changed:
            self.problem = text
            self.synced = False
            self._bump()
        log.warning("team: %s", text)

    def _bump(self) -> None:
        """Under ``self.changed``: something changed; wake whoever waits."""
        self.version += 1
        self.changed.notify_all()

    def wait_synced(self, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.synced or self.closed, timeout)

    def close(self) -> None:
        if self.closed:
            return
        if self.with_presence and self.synced:
            self.publish_presence(online=False).wait_for_publish(2.0)
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------------ what comes in

    def _message(self, _c: Any, _u: Any, message: Any) -> None:
        parts = msg.topic_parts(self.team.name, message.topic)
        try:
            with self.changed:
                self._take(parts or [], message.payload, message.topic)
        except msg.Refused as exc:
            self._refuse(parts or [], message.topic, str(exc))
        except Exception:  # a bug here must not stop the connection's thread
            log.exception("team: a message on %s could not be handled", message.topic)

    def _take(self, parts: list[str], payload: bytes, name: str) -> None:
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
        back = beat.online and self.hub_problem(now) is not None
        if beat.online:
            self.offline_since = None
        elif self.offline_since is None:
            self.offline_since = now
        self.beat, self.beat_heard = beat, now
        self._bump()
        if back and self.on_hub_online is not None:
            self.on_hub_online()

    def _take_published(
        self, into: dict[str, msg.Published], source: str, name: str, payload: bytes
    ) -> None:
        team = self.team.name
        if into is self.tickets:
            got = msg.parse_tickets(team, source, payload)
        else:
            got = msg.parse_health(team, payload)
        held = into.get(source)
        if held is not None and got.seq <= held.seq:
            log.info("team: %s: kept seq %d, ignored older seq %d", name, held.seq, got.seq)
            return
        into[source] = got
        self.refused.pop(source, None)
        self._bump()

    def _take_claim(self, key: tuple[str, str], user: str, claim: msg.Claim | None) -> None:
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
        self._bump()

    def _refuse(self, parts: list[str], name: str, why: str) -> None:
        text = f"refused a message on {name}: {why}"
        log.warning("team: %s", text)
        with self.changed:
            if len(parts) == 3 and parts[0] == "sources":
                self.refused[parts[1]] = text
            else:
                self.notes = [*self.notes[-9:], text]
            self._bump()

    # ------------------------------------------------------------------ what a member reads

    def hub_problem(self, now: datetime) -> str | None:
        """Why the hub's publications cannot be trusted as current now, or None."""
        if self.beat is None or self.beat_heard is None:
            return "no team hub has been heard from on the broker"
        if self.offline_since is not None:
            return f"the team hub is offline since {local_clock(self.offline_since)}"
        if now - self.beat_heard > timedelta(seconds=OFFLINE_AFTER * self.beat.interval):
            return f"the team hub is offline since {local_clock(self.beat_heard)}"
        return None

    def hub_deadline(self) -> datetime | None:
        """When the hub counts as offline unless another heartbeat comes."""
        if self.beat is None or self.beat_heard is None or self.offline_since is not None:
            return None
        return self.beat_heard + timedelta(seconds=OFFLINE_AFTER * self.beat.interval)

    def read(self, source: str) -> Snapshot:
        """What the hub last published of ``source``, or the SourceError saying why not."""
        if not self.synced and not self.wait_synced(SYNC_WAIT):
            raise Unreachable(self.problem or f"no answer from the team broker {self.team.broker}")
        now = self.clock()
        with self.changed:
            problem = self.hub_problem(now)
            if problem:
                raise Unavailable(problem)
            if source in self.refused:
                raise BadResponse(self.refused[source])
            health = self.health.get(source)
            if health is not None and health.health == "failing":
                raise Unavailable(f"the team hub cannot read {source}: {health.message}")
            published = self.tickets.get(source)
        if published is None:
            raise Unavailable(f"the team hub publishes no source named {source!r}")
        return Snapshot(source, published.tickets, now, complete=published.complete)

    def wait_for_change(self, seen: int, timeout: float) -> bool | None:
        """Until something moved since ``seen`` (True), the hub went quiet (True), ``timeout``
        passed (False) or the link closed (None)."""
        end = time.monotonic() + timeout
        with self.changed:
            while not self.closed and self.version == seen:
                left = end - time.monotonic()
                deadline = self.hub_deadline()
                if deadline is not None:
                    quiet = (deadline - self.clock()).total_seconds() + 0.05
                    if quiet <= 0:
                        return True
                    left = min(left, quiet)
                if left <= 0:
                    return False
                self.changed.wait(left)
            return None if self.closed else True

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

    def publish_presence(self, online: bool, **desk: bool) -> mqtt.MQTTMessageInfo:
        body = {
            "user": self.team.user,
            "state": "online" if online else "offline",
            "watching": {name: list(cats) for name, cats in self.watching.items()},
            "at": self.clock().isoformat() if online else None,
        }
        payload = msg.encode(self.team.name, {**body, **desk})  # away, dnd: agent/quiet.py
        return self.client.publish(self.presence_topic, payload, qos=1, retain=True)

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


class Hub:
    """``hub = true``: publishes what this Ticketbell reads, while it holds the hub topic."""

    def __init__(
        self,
        team: Team,
        password: str | None,
        factory: Callable[[SourceConfig, Callable[[], datetime]], Source],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.team = team
        self.factory = factory
        self.clock = clock
        self.id = f"{team.user}@{socket.gethostname()}#{os.getpid()}"
        self.interval = team.heartbeat.total_seconds()
        self.lock = threading.Lock()
        self.holder: str | None = None  # the hub that sent the newest heartbeat
        self.holder_online = False
        self.holder_heard = 0.0  # time.monotonic() of that heartbeat
        self.holder_interval = self.interval
        self.seq = 0
        #: what this hub read last of each source, (source, kind) -> body: for a takeover
        self.last: dict[tuple[str, str], dict[str, Any]] = {}
        self.claims: dict[tuple[str, str], dict[str, datetime]] = {}
        self.stopped = threading.Event()
        #: (topic, payload) to publish: filled under ``self.lock``, published outside it (paho
        #: has locks of its own, held while it calls back into ``_message``)
        self.outbox: list[tuple[str, bytes]] = []
        self.client = make_client(team, password, f"ticketbell-hub-{team.user}-{os.getpid()}")
        self.topic = msg.topic(team.name, "hub")
        self.client.will_set(self.topic, self._beat(online=False), qos=1, retain=True)
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.ready_at = time.monotonic() + 1.0  # retained heartbeats come within this
        if password:
            self.client.connect_async(*broker_address(team), keepalive=KEEPALIVE)
            self.client.loop_start()
        self.thread = threading.Thread(target=self._beating, name="ticketbell-hub", daemon=True)
        self.thread.start()

    @property
    def active(self) -> bool:
        return self.holder == self.id and self.holder_online

    def _beat(self, online: bool) -> bytes:
        state = "online" if online else "offline"
        at = self.clock().isoformat()
        body = {"hub": self.id, "state": state, "interval": self.interval, "at": at}
        return msg.encode(self.team.name, body)

    def _connected(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("team hub: the broker refused the login of %r: %s", self.team.user, reason)
            return
        self.ready_at = time.monotonic() + 1.0
        client.subscribe(msg.topic(self.team.name) + "/#", qos=1)

    def _message(self, _c: Any, _u: Any, message: Any) -> None:
        parts = msg.topic_parts(self.team.name, message.topic) or []
        try:
            with self.lock:
                self._take(parts, message.payload)
            self._flush()
        except msg.Refused as exc:
            log.warning("team hub: refused a message on %s: %s", message.topic, exc)
        except Exception:
            log.exception("team hub: a message on %s could not be handled", message.topic)

    def _take(self, parts: list[str], payload: bytes) -> None:
        match parts:
            case ["hub"]:
                beat = msg.parse_beat(self.team.name, payload)
                was = self.active
                self.holder, self.holder_online = beat.hub, beat.online
                self.holder_heard, self.holder_interval = time.monotonic(), beat.interval
                if self.active and not was:
                    log.info("team hub: this Ticketbell is the team's hub now")
                    self._republish()
                elif was and not self.active:
                    log.info("team hub: %s is the team's hub now; standing by", beat.hub)
            case ["sources", _, _]:
                self.seq = max(self.seq, _seen_seq(payload))
            case ["claims", source, ticket, user]:
                claim = msg.parse_claim(self.team.name, user, payload)
                held = self.claims.setdefault((source, ticket), {})
                if claim is None:
                    held.pop(user, None)
                else:
                    held[user] = claim.at

    def _next_seq(self) -> int:
        self.seq = max(self.seq + 1, time.time_ns() // 1000)
        return self.seq

    # ------------------------------------------------------------------ the heartbeat

    def _beating(self) -> None:
        while not self.stopped.wait(min(self.interval, 1.0) if not self.active else self.interval):
            try:
                self._beat_once()
            except Exception:
                log.exception("team hub: the heartbeat failed")

    def _beat_once(self) -> None:
        now = time.monotonic()
        with self.lock:
            if now < self.ready_at or not self.client.is_connected():
                return
            quiet = now - self.holder_heard > OFFLINE_AFTER * self.holder_interval
            if self.active or self.holder is None or not self.holder_online or quiet:
                self.outbox.append((self.topic, self._beat(online=True)))
            self._end_claims()
        self._flush()

    def _end_claims(self) -> None:
        """Claims past the team's expiry end (the hub, which may write every claim, ends them)."""
        if not self.active:
            return
        oldest = self.clock() - self.team.claim_expiry
        for (source, ticket), held in self.claims.items():
            for user, at in list(held.items()):
                if at <= oldest:
                    self._clear_claim(source, ticket, user)

    def _clear_claim(self, source: str, ticket: str, user: str) -> None:
        self.outbox.append((msg.topic(self.team.name, "claims", source, ticket, user), b""))

    def on_alerts(self, alerts: tuple[Alert, ...]) -> None:
        """An answered ticket's claims end (a subscriber of the agent: scheduler thread)."""
        with self.lock:
            if not self.active:
                return
            for a in alerts:
                if a.kind == "answered" and a.ticket:
                    for user in list(self.claims.get((a.source, a.ticket), {})):
                        self._clear_claim(a.source, a.ticket, user)
        self._flush()

    # ------------------------------------------------------------------ publishing

    def source_factory(self, config: SourceConfig, clock: Callable[[], datetime]) -> Source:
        """``make_source`` whose every fetch is published (tickets or the failure)."""
        try:
            source = self.factory(config, clock)
        except SourceError as exc:
            self.publish_health(config.name, "failing", exc.message)
            raise
        fetch = source.fetch

        def publishing_fetch(since: datetime | None) -> Snapshot:
            try:
                snapshot = fetch(since)
            except SourceError as exc:
                self.publish_health(config.name, "failing", exc.message)
                raise
            self.publish_snapshot(config.name, snapshot)
            return snapshot

        source.fetch = publishing_fetch  # type: ignore[method-assign]
        return source

    def publish_snapshot(self, name: str, snapshot: Snapshot) -> None:
        with self.lock:
            body = {
                "hub": self.id,
                "at": snapshot.fetched_at.isoformat(),
                "complete": snapshot.complete,
                "tickets": [msg.ticket_json(t) for t in snapshot.tickets],
            }
            self._publish(name, "tickets", body)
        self.publish_health(name, "ok", "")  # flushes both

    def publish_health(self, name: str, health: str, message: str) -> None:
        with self.lock:
            at = self.clock().isoformat()
            body = {"hub": self.id, "at": at, "health": health, "message": message}
            self._publish(name, "health", body)
        self._flush()

    def _publish(self, source: str, kind: str, body: dict[str, Any]) -> None:
        """Under ``self.lock``: publish when active; kept for a takeover either way."""
        self.last[(source, kind)] = body
        if self.active:
            self._send(source, kind, body)

    def _send(self, source: str, kind: str, body: dict[str, Any]) -> None:
        payload = msg.encode(self.team.name, {**body, "hub": self.id, "seq": self._next_seq()})
        self.outbox.append((msg.topic(self.team.name, "sources", source, kind), payload))

    def _flush(self) -> None:
        """Publish what is in the outbox (never under ``self.lock``)."""
        with self.lock:
            out, self.outbox = self.outbox, []
        for name, payload in out:
            self.client.publish(name, payload, qos=1, retain=True)

    def _republish(self) -> None:
        """Under ``self.lock``, on becoming the hub: what this hub read last, at once (with
        sequence numbers above every one seen on the broker)."""
        for (source, kind), body in self.last.items():
            self._send(source, kind, body)

    def close(self) -> None:
        self.stopped.set()
        if self.active:
            self.client.publish(self.topic, self._beat(online=False), 1, True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()


def _seen_seq(payload: bytes) -> int:
    """The seq of a publication seen on the broker (another hub's): this hub continues above."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return 0
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else 0
