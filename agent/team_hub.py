"""The team hub's publisher (``[team] hub = true``): see :mod:`agent.team` for the whole.

After each fetch of its sources the hub publishes their tickets and health, retained, with
sequence numbers, and a heartbeat whose last will says "offline". Several hubs may run; one at
a time publishes, decided through the broker: the holder is whoever sent the newest heartbeat
on the hub topic, and another hub takes over only when the holder's will came or its heartbeat
is older than three of its intervals. A hub standing by polls no helpdesk (its agent follows
the team's publications, :attr:`Hub.standing_by`) and polls at once when it takes over. The
hub also ends claims: when their ticket is answered, and after ``claim_expiry``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from agent.config import SourceConfig, Team
from agent.model import Alert, Snapshot, utcnow
from agent.sources import team_messages as msg
from agent.sources.base import Source, SourceError
from agent.team import KEEPALIVE, OFFLINE_AFTER, SUBSCRIBE_QOS, broker_address, make_client

log = logging.getLogger(__name__)


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
        #: called when this hub takes the hub topic (under ``self.lock``: it must not block):
        #: the agent polls its sources at once, which it did not while standing by
        self.on_takeover: Callable[[], None] | None = None
        self.client = make_client(team, password, f"ticketbell-hub-{uuid.uuid4().hex}")
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

    @property
    def standing_by(self) -> bool:
        """Another hub holds the hub topic and is heard from: this one polls no helpdesk (its
        agent follows the team's publications) until that hub goes quiet."""
        with self.lock:
            if self.holder is None or self.holder == self.id or not self.holder_online:
                return False
            return time.monotonic() - self.holder_heard <= OFFLINE_AFTER * self.holder_interval

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
        client.subscribe(msg.topic(self.team.name) + "/#", qos=SUBSCRIBE_QOS)

    def _message(self, _c: Any, _u: Any, message: Any) -> None:
        parts = msg.topic_parts(self.team.name, message.topic) or ()
        try:
            with self.lock:
                self._take(parts, message.payload)
        except msg.Refused as exc:
            log.warning("team hub: refused a message on %s: %s", message.topic, exc)
        except Exception:
            log.exception("team hub: a message on %s could not be handled", message.topic)
        self._flush()

    def _take(self, parts: tuple[str, ...], payload: bytes) -> None:
        match parts:
            case ["hub"]:
                beat = msg.parse_beat(self.team.name, payload)
                was = self.active
                self.holder, self.holder_online = beat.hub, beat.online
                self.holder_heard, self.holder_interval = time.monotonic(), beat.interval
                if self.active and not was:
                    log.info("team hub: this Ticketbell is the team's hub now")
                    self._republish()
                    if self.on_takeover is not None:
                        self.on_takeover()
                elif was and beat.hub == self.id:  # its own "offline", sent by close()
                    log.info("team hub: this Ticketbell is no longer the team's hub (stopping)")
                elif was and not self.active:
                    log.info("team hub: %s is the team's hub now; standing by", beat.hub)
            case ["sources", source, kind]:
                self.seq = max(self.seq, _seen_seq(payload))
                if not self.active:  # another hub's, newer than what this one read
                    self.last.pop((source, kind), None)
            case ["claims", source, ticket, user]:
                self._take_claim(
                    source, ticket, user, msg.parse_claim(self.team.name, user, payload)
                )

    def _take_claim(self, source: str, ticket: str, user: str, claim: msg.Claim | None) -> None:
        """Under ``self.lock``: a claim kept (for its expiry and its ticket's answer) or ended;
        past the bounds it is refused, and the hub, which may write every claim, ends it on
        the broker too, so no member keeps it either."""
        key = (source, ticket)
        if claim is None:
            held = self.claims.get(key, {})
            held.pop(user, None)
            if not held:
                self.claims.pop(key, None)
            return
        try:
            msg.check_room(self.claims, key, user)
        except msg.Refused:
            if self.active:
                self._clear_claim(source, ticket, user)
            raise
        self.claims.setdefault(key, {})[user] = claim.at

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
            self.publish_health(config.name, "failing", exc.english)
            raise
        fetch = source.fetch

        def publishing_fetch(since: datetime | None) -> Snapshot:
            try:
                snapshot = fetch(since)
            except SourceError as exc:
                self.publish_health(config.name, "failing", exc.english)
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
        """The source's health, when it changed (a takeover publishes it again anyway)."""
        with self.lock:
            held = self.last.get((name, "health"))
            if not held or (held["health"], held["message"]) != (health, message):
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
