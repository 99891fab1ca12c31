"""The team hub's figures (issue 15), on a real Mosquitto on 127.0.0.1 (``tests/broker.py``).

- **Fan-out**: the hub publishes a snapshot with one more ticket → the ``new`` alert at each of
  20 member agents (each a process of its own, :mod:`bench.team_member`, running a whole
  :class:`~agent.team_agent.TeamAgent`: MQTT connection, engine, queue), p95 over every
  (ticket, member). Floor: ``mosquitto_pub`` → 20 running ``mosquitto_sub``s on the same broker
  (the publishing CLI's start included), p95; two floor messages after each ticket, in turn
  with the members' samples. Both stamp arrivals with the wall clock.
- **Helpdesk requests per minute** at the json fake (``tests/fakes/jsonapi.py``) while the hub
  polls it every second, with 1 member and with 20: members never ask the helpdesk. Counted over
  a window that starts half an interval after one of the hub's requests, so that it holds the
  same number of poll times in both runs: a window started anywhere held 19 or 20 polls (57 or
  60 a minute) whatever the members did.
- **Hub memory and CPU** of ``python -m agent run --headless`` publishing 10,000 tickets
  (bench/fakes.py, polled every 10 s) with 20 members connected, against the same hub with none.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from werkzeug import Request, Response

from agent import config as config_module
from agent.config import Team
from agent.engine import make_source
from agent.model import Snapshot, Ticket
from agent.queue import LocalQueue
from agent.team import TeamLink
from agent.team_agent import TeamAgent, open_team_agent
from agent.team_hub import Hub
from bench import apps, fakes
from bench.team_member import PASSWORD_ENV as PASSWORD_ENV_MEMBER
from bench.team_member import member_agent
from tests.broker import PASSWORDS, TEAM, Broker, running_broker
from tests.fakes.jsonapi import FIELDS, FakeJsonHelpdesk
from tests.fakes.web import local_server

UTC = timezone.utc
MEMBERS = 20
INTERVAL = 1.0  # seconds between two of the hub's polls in the requests row
PASSWORD_ENV = "TICKETBELL_BENCH_TEAM_PASSWORD"  # noqa: S105 - a variable's name


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def team(b: Broker, user: str, hub: bool = False) -> Team:
    return Team(b.url, TEAM, user, hub=hub, heartbeat=timedelta(seconds=2))


def member_names(n: int) -> list[str]:
    """Broker logins for ``n`` members: the broker's own three, then more with one password."""
    return [("anna", "ben", "cara")[i] if i < 3 else "anna" for i in range(n)]


@contextmanager
def member_agents(b: Broker, home: Path, n: int) -> Iterator[list[TeamAgent]]:
    agents = []
    try:
        for i, user in enumerate(member_names(n)):
            agents.append(member_agent(b.url, TEAM, user, PASSWORDS[user], home / f"member{i}"))
        for agent in agents:
            agent.start()
        yield agents
    finally:
        for agent in agents:
            agent.stop()


def wait_for(check: object, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > end:
            raise RuntimeError("the team bench waited too long")
        time.sleep(0.002)


def fan_out(samples: int = 10) -> tuple[list[float], list[float]]:
    """Seconds from the hub's publication to each member's ``new`` alert; and the floor's,
    measured in turn with the members' (two floor messages after each ticket), so that the
    machine's load at any moment hits both alike. Each member is a process of its own
    (:mod:`bench.team_member`), as the floor's subscribers are, stamping its alerts with the
    wall clock as they do."""
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp) / "broker") as b:
        hub = Hub(team(b, "hub", hub=True), PASSWORDS["hub"], make_source)
        wait_for(lambda: hub.active)
        now = datetime.now(UTC)
        hub.publish_snapshot("Zendesk", Snapshot("Zendesk", (), now))
        try:
            with member_processes(b, Path(tmp), MEMBERS) as members, Floor(b) as floor:
                time.sleep(1.0)  # the floor's subscribers are subscribed
                latencies = []
                tickets: list[Ticket] = []
                for k in range(samples):
                    at = datetime.now(UTC) - timedelta(minutes=1)
                    tickets.append(Ticket("Zendesk", f"T{k}", f"ticket {k}", at, at))
                    start = time.time()  # the wall clock, as the members stamp
                    hub.publish_snapshot("Zendesk", Snapshot("Zendesk", tuple(tickets), now))
                    for member in members:
                        assert member.stdout is not None
                        latencies.append(new_alert_at(member.stdout, f"T{k}") - start)
                    time.sleep(0.2)
                    for payload in (2 * k, 2 * k + 1):
                        floor.sample(str(payload))
                        time.sleep(0.2)
        finally:
            hub.close()
        return latencies, floor.times


@contextmanager
def member_processes(b: Broker, home: Path, n: int) -> Iterator[list[subprocess.Popen[str]]]:
    """``n`` members, each a process of :mod:`bench.team_member`, all following the hub."""
    root = Path(__file__).resolve().parent.parent
    members: list[subprocess.Popen[str]] = []
    logs = []
    try:
        for i, user in enumerate(member_names(n)):
            env = apps.isolated_env(home / f"member{i}", PYTHONPATH=str(root))
            env[PASSWORD_ENV_MEMBER] = PASSWORDS[user]
            log = (home / f"member{i}.log").open("w")
            logs.append(log)
            cmd = [sys.executable, "-m", "bench.team_member", b.url, TEAM, user]
            cmd.append(str(home / f"member{i}"))
            members.append(
                subprocess.Popen(
                    cmd,
                    cwd=root,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
        for i, member in enumerate(members):
            assert member.stdout is not None
            if member.stdout.readline().strip() != "ready":
                why = (home / f"member{i}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"team member {i} did not start: {why}")
        yield members
    finally:
        for member in members:
            if member.stdin is not None:
                member.stdin.close()
        for member in members:
            try:
                member.wait(10)
            except subprocess.TimeoutExpired:
                member.kill()
                member.wait(10)
            if member.stdout is not None:
                member.stdout.close()
        for log in logs:
            log.close()


def new_alert_at(lines: IO[str], ticket: str) -> float:
    """The time a member stamped on its ``new`` alert for ``ticket``."""
    while True:
        line = lines.readline()
        if not line:
            raise RuntimeError(f"a team member ended before its new alert for {ticket}")
        word, _, rest = line.strip().partition(" ")
        got, _, stamp = rest.partition(" ")
        if word == "new" and got == ticket:
            return float(stamp)


class Floor:
    """``mosquitto_pub`` → ``subscribers`` running ``mosquitto_sub``s (as many as the members):
    :meth:`sample` records the seconds until each prints the line, by the wall-clock time it
    stamps on it (``%U``)."""

    def __init__(self, b: Broker, subscribers: int = MEMBERS) -> None:
        self.login = ["-h", "127.0.0.1", "-p", str(b.port), "-u", "hub", "-P", PASSWORDS["hub"]]
        self.topic = ["-t", "bench/floor"]  # outside the team's topics: no member reads it
        self.subscribers = subscribers
        self.subs: list[subprocess.Popen[str]] = []
        self.times: list[float] = []

    def __enter__(self) -> Floor:
        for _ in range(self.subscribers):
            cmd = ["mosquitto_sub", *self.login, *self.topic, "-q", "1", "-F", "%U %p"]
            self.subs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        return self

    def sample(self, payload: str) -> None:
        start = time.time()  # the wall clock, as %U
        cmd = ["mosquitto_pub", *self.login, *self.topic, "-q", "1", "-m", payload]
        subprocess.run(cmd, check=True)
        for sub in self.subs:
            assert sub.stdout is not None
            self.times.append(arrived(sub.stdout, payload) - start)

    def __exit__(self, *_exc: object) -> None:
        for sub in self.subs:
            sub.terminate()
            sub.wait(10)
            if sub.stdout is not None:
                sub.stdout.close()


def arrived(lines: IO[str], payload: str) -> float:
    """The time ``mosquitto_sub -F "%U %p"`` stamped on the line of ``payload``."""
    while True:
        stamp, _, got = lines.readline().strip().partition(" ")
        if got == payload:
            return float(stamp)


class StampedJsonHelpdesk(FakeJsonHelpdesk):
    """The json fake, noting when each request came (``time.monotonic()``)."""

    def __init__(self, server: Any, key: str, page_size: int) -> None:
        super().__init__(server, key, page_size)
        self.stamps: list[float] = []

    def handle(self, request: Request) -> Response:
        self.stamps.append(time.monotonic())
        return super().handle(request)


def requests_per_minute(members: int, seconds: float = 20.0) -> float:
    """Requests at the helpdesk per minute while the hub polls it and ``members`` follow."""
    os.environ["TICKETBELL_BENCH_JSON_KEY"] = "bench-team-json-key"
    os.environ[PASSWORD_ENV] = PASSWORDS["hub"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_broker(Path(tmp) / "broker") as b,
        local_server() as server,
    ):
        desk = StampedJsonHelpdesk(server, "bench-team-json-key", page_size=100)
        now = datetime.now(UTC)
        desk.add(1, "waiting", queue="Billing", opened=now - timedelta(minutes=3))
        source = {
            "name": "Zendesk",
            "kind": "json",
            "url": desk.url,
            "secret_env": "TICKETBELL_BENCH_JSON_KEY",
            "interval": f"{INTERVAL:g}s",
            **{k: v for k, v in fakes.SOURCE_OPTIONS.items() if k != "fields"},
            "fields": dict(FIELDS),
        }
        table = {"broker": b.url, "name": TEAM, "user": "hub", "hub": True}
        data = {"team": {**table, "secret_env": PASSWORD_ENV}, "sources": [source]}
        config = config_module.from_dict(data)
        hub = open_team_agent(config, LocalQueue(Path(tmp) / "hub"))
        hub.start()
        try:
            with member_agents(b, Path(tmp), members) as agents:
                wait_for(lambda: all(a.status.waiting == 1 for a in agents), 60)
                seen = len(desk.stamps)
                wait_for(lambda: len(desk.stamps) > seen)
                start = desk.stamps[-1] + INTERVAL / 2  # between two of the hub's polls
                time.sleep(start + seconds + INTERVAL - time.monotonic())
                counted = [t for t in desk.stamps if start <= t < start + seconds]
                return len(counted) * 60.0 / seconds
        finally:
            hub.stop()


@dataclass
class HubCost:
    rss: int
    cpu_percent: float


def rss_samples(pid: int, seconds: float, every: float = 0.5) -> list[int]:
    """``pid``'s RSS every ``every`` seconds for ``seconds``.

    A hub re-reads its 10,000 tickets every 10 s and builds each snapshot anew: within one
    30 s window its RSS moved by 7–13 MiB (97.8–110.5 MiB in one), so a single reading was a
    draw from that range and decided the hub-memory row (1.13× in one run, 0.95× in the next).
    The median of the window's readings is the hub's usual size.
    """
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(apps.rss(pid))
        time.sleep(every)
    return samples


def hub_cost(members: int, seconds: float = 30.0) -> HubCost:
    """RSS (the median over the window, see :func:`rss_samples`) and CPU of a headless hub
    publishing 10,000 tickets, ``members`` connected."""
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp) / "broker") as b:
        home = Path(tmp)
        with fakes.serve(1, 10_000) as server:
            source = {
                "name": "Desk",
                "kind": "json",
                "url": server.url(0),
                "secret_env": fakes.KEY_ENV,
                "interval": "10s",
                **fakes.SOURCE_OPTIONS,
            }
            table = {"broker": b.url, "name": TEAM, "user": "hub", "hub": True}
            data = {
                "windows": {"default": "24h"},
                "team": {**table, "secret_env": PASSWORD_ENV},
                "sources": [source],
            }
            path = home / "hub.toml"
            path.write_text(config_module.to_toml(data), encoding="utf-8")
            env = apps.isolated_env(
                home, **{fakes.KEY_ENV: fakes.KEY, PASSWORD_ENV: PASSWORDS["hub"]}
            )
            cmd = [sys.executable, "-m", "agent", "run", "--headless", "--no-notify"]
            cmd += ["--config", str(path), "--data-dir", str(home / "data")]
            hub = apps.Idle("hub", cmd, env, home / "hub.log")
            try:
                links = [
                    TeamLink(team(b, user), PASSWORDS[user], {"Desk": ()})
                    for user in member_names(members)
                ]
                time.sleep(15)  # the first poll of 10,000 tickets and its publication
                hub.begin()
                samples = rss_samples(hub.proc.pid, seconds)
                hub.end()
                threading.Thread(target=lambda: [link.close() for link in links]).run()
                return HubCost(int(statistics.median(samples)), hub.cpu_percent)
            finally:
                hub.stop()
