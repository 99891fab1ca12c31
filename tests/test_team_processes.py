"""A team as real processes: two hubs and three members, each `python -m agent run --headless
--json`, over a real Mosquitto (tests/broker.py, TLS, ACL) and the json fake helpdesk.

What a team sees: a new ticket reaches the `new` events of every member whose categories take
it; members make no helpdesk request; a claim shows in the others' `check --json`; the ACL keeps
a member from writing tickets; a member restarting announces nothing again; the hub killed with
SIGKILL makes the members' source unreadable (never a count) and the standby hub takes over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import tomli_w

from tests import secretscan
from tests.broker import PASSWORDS, TEAM, Broker, running_broker
from tests.conftest import ROOT, run_cli
from tests.fakes.jsonapi import FIELDS, FakeJsonHelpdesk
from tests.fakes.web import local_server

UTC = timezone.utc
KEY = "team-json-helpdesk-key-3f9b27e1"
HUB_INTERVAL = 1.0  # seconds between two heartbeats of the hubs


def wait_until(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout:g} s: {what or check}")


class Agent:
    """One `python -m agent run --headless --json` with its own config, keyring and data."""

    def __init__(self, name: str, folder: Path, config: dict[str, Any], secrets: dict[str, str]):
        self.name = name
        self.folder = folder
        self.env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            self.env[var] = str(folder / var.lower())
        self.env["PYTHONPATH"] = str(ROOT)
        self.env.pop("PYTHONWARNINGS", None)
        self.config = folder / "ticketbell.toml"
        folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(tomli_w.dumps(config))
        for key, value in secrets.items():
            done = run_cli(["secret", "set", key], self.env, input=value + "\n")
            assert done.returncode == 0, done.stderr
        self.events: list[dict[str, Any]] = []
        self.since = self.err_since = 0
        self.err: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.since = len(self.events)  # new(), of(), logged(): this run's
        self.err_since = len(self.err)
        command = [sys.executable, "-m", "agent", "run", "--headless", "--json", "--no-notify"]
        where = ["--config", str(self.config), "--data-dir", str(self.folder / "data")]
        self.proc = subprocess.Popen(
            [*command, *where],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.readers = [
            threading.Thread(target=self._read_events, args=(self.proc,), daemon=True),
            threading.Thread(target=self._read_log, args=(self.proc,), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_events(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.events.append(orjson.loads(line))

    def _read_log(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.err.append(line)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        self.proc.wait(20)
        for reader in self.readers:
            reader.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        log = "".join(self.err)
        secretscan.TEXTS.append((f"log of {self.name}", log))
        assert "Traceback" not in log, log

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.err[self.err_since :])

    def new(self) -> list[str]:
        return [e["ticket"] for e in self.events[self.since :] if e["event"] == "new"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events[self.since :] if e["event"] == kind]

    def check(self) -> dict[str, Any]:
        args = ["check", "--json", "--config", str(self.config), "--data-dir"]
        done = run_cli([*args, str(self.folder / "check-data")], self.env, timeout=60)
        assert done.stdout, done.stderr
        return dict(orjson.loads(done.stdout))


def team_table(b: Broker, user: str, **extra: Any) -> dict[str, Any]:
    return {
        "broker": b.tls_url,
        "ca": str(b.ca_file),
        "name": TEAM,
        "user": user,
        "heartbeat": f"{HUB_INTERVAL:g}s",
        **extra,
    }


def hub_config(b: Broker, user: str, url: str) -> dict[str, Any]:
    source = {
        "name": "Zendesk",
        "kind": "json",
        "url": url,
        "interval": "1s",
        "auth_header": "X-Api-Key",
        "items": "data.tickets",
        "next": "links.next",
        "fields": dict(FIELDS),
        "waiting_statuses": ["open"],
    }
    team = team_table(b, user, hub=True, secret_env="TICKETBELL_TEAM_PASSWORD")
    return {"role": "owner", "team": team, "sources": [source]}


def member_config(b: Broker, user: str, categories: list[str]) -> dict[str, Any]:
    source: dict[str, Any] = {"name": "Zendesk", "kind": "team", "interval": "2s"}
    if categories:
        source["categories"] = categories
    return {"team": team_table(b, user), "sources": [source]}


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[Broker, FakeJsonHelpdesk, list[Agent]]]:
    agents: list[Agent] = []
    with running_broker(tmp_path / "mosquitto") as broker, local_server() as server:
        desk = FakeJsonHelpdesk(server, KEY, page_size=100)
        yield broker, desk, agents
        for agent in agents:
            agent.stop(signal.SIGKILL if agent.name.startswith("hub") else signal.SIGTERM)


def test_a_hub_and_three_members(
    team: tuple[Broker, FakeJsonHelpdesk, list[Agent]], tmp_path: Path
) -> None:
    broker, desk, agents = team
    now = datetime.now(UTC)
    desk.add(1, "Invoice twice", queue="Billing", opened=now - timedelta(minutes=3))
    hubs = []
    for user in ("hub", "hub2"):
        hub = Agent(user, tmp_path / user, hub_config(broker, user, desk.url), {"Zendesk": KEY})
        hub.env["TICKETBELL_TEAM_PASSWORD"] = PASSWORDS[user]
        hubs.append(hub)
    members = {
        "anna": Agent("anna", tmp_path / "anna", member_config(broker, "anna", ["Billing"]), {}),
        "ben": Agent("ben", tmp_path / "ben", member_config(broker, "ben", ["Sales"]), {}),
        "cara": Agent("cara", tmp_path / "cara", member_config(broker, "cara", []), {}),
    }
    for user, member in members.items():
        done = run_cli(["secret", "set", "team"], member.env, input=PASSWORDS[user] + "\n")
        assert done.returncode == 0, done.stderr
    agents.extend([*hubs, *members.values()])
    hubs[0].start()
    wait_until(lambda: hubs[0].logged("team's hub now"), what="the hub up")
    hubs[1].start()  # stands by
    for member in members.values():
        member.start()

    # a ticket already waiting, then a new one: each member hears of those in its categories
    anna, ben, cara = members.values()
    wait_until(lambda: anna.new() == ["1"] and cara.new() == ["1"], what="ticket 1 at members")
    desk.add(2, "Bulk pricing", queue="Sales", opened=datetime.now(UTC))
    wait_until(lambda: ben.new() == ["2"] and cara.new() == ["1", "2"], what="ticket 2")
    assert anna.new() == ["1"]  # Sales is not hers

    # "I'm on it": anna claims ticket 1; cara's check --json shows it
    claim = ["claim", "Zendesk", "1", "--config", str(anna.config)]
    done = run_cli(claim, anna.env)
    assert done.returncode == 0 and "claimed by anna" in done.stdout, done.stderr
    shown = cara.check()
    by_id = {t["id"]: t for t in shown["tickets"]}
    assert set(by_id) == {"1", "2"}, shown
    assert by_id["1"]["claimed_by"] == "anna" and by_id["1"]["claimed_at"]
    assert by_id["2"]["claimed_by"] is None
    watching = {w["user"]: w["watching"] for w in shown["team"]["watching"]}
    assert watching["anna"] == {"Zendesk": ["Billing"]} and watching["cara"] == {"Zendesk": []}

    # the ACL: a member cannot write the hub's tickets
    forged = orjson.dumps({"v": 1, "team": TEAM, "hub": "x", "seq": 2**62, "complete": True})
    login = ["-h", "127.0.0.1", "-p", str(broker.port), "-u", "ben", "-P", PASSWORDS["ben"]]
    topic = ["-t", f"ticketbell/{TEAM}/sources/Zendesk/tickets", "-r", "-q", "1", "-V", "mqttv5"]
    pub = subprocess.run(
        ["mosquitto_pub", *login, *topic, "-m", forged.decode()],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert "Publish 1 failed: Not authorized" in pub.stderr, pub  # the broker's ACL said no

    # a member restarting announces nothing again (its own queue)
    anna.stop()
    anna.start()
    wait_until(lambda: anna.logged("connected to"), what="anna back")
    time.sleep(3 * HUB_INTERVAL)  # time enough to (wrongly) announce ticket 1 again
    assert anna.new() == []

    # ben's Ticketbell killed: his last will takes him off the list of who is watching
    ben.stop(signal.SIGKILL)
    watching = {w["user"] for w in cara.check()["team"]["watching"]}
    assert watching == {"anna", "cara"}
    ben.start()
    wait_until(lambda: ben.logged("connected to"), what="ben back")
    time.sleep(HUB_INTERVAL)  # his first read follows the connection at once

    # the hub killed: not readable within three of its intervals, then the standby takes over
    requests_before = len(desk.requests)
    killed = time.monotonic()
    hubs[0].stop(signal.SIGKILL)
    for member in members.values():
        wait_until(lambda m=member: m.of("source_down"), 3 * HUB_INTERVAL + 5, member.name)
    assert time.monotonic() - killed <= 3 * HUB_INTERVAL + 5
    down = cara.of("source_down")[0]
    assert "the team hub is offline since" in down["subject"]
    wait_until(lambda: all(m.of("source_up") for m in members.values()), what="standby took over")
    assert hubs[1].logged("team's hub now")

    # with both hubs gone, nobody asks the helpdesk: the members (still running) never did
    hubs[1].stop(signal.SIGKILL)
    after_hubs = len(desk.requests)
    assert requests_before > 0  # the hubs did read the helpdesk
    time.sleep(3 * HUB_INTERVAL)
    assert len(desk.requests) == after_hubs
    for member in members.values():
        member.stop()
    print("\nmember events:")
    for name, member in members.items():
        for event in member.events:
            print(f"  {name}: {orjson.dumps(event).decode()}")
