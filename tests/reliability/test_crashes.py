"""The headless agent killed with SIGKILL at random moments, over and over, while the helpdesk's
tickets change: the queue always loads, no alert is shown twice, no owed alert is lost, and no
escalation is sent twice or silently lost.

Each run of ``ticketbell run --headless --json`` polls a fake JSON helpdesk every second and is
killed after a random 0.1-1.5 s (seeded). Between runs the helpdesk moves on one step: new
tickets arrive, old ones are answered, some customers write again (a new waiting cycle). The
subject names the cycle, so every ``new``/``overdue``/``escalated`` event printed is unique per
ticket and cycle exactly when no alert was repeated. Escalations go to a JSON webhook
(apprise ``json://``) on 127.0.0.1 that counts what arrives, by the message's Ticketbell-Key.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from werkzeug import Request, Response

from agent.escalation import key_tag
from agent.queue import LocalQueue
from tests import secretscan
from tests.conftest import ROOT
from tests.fakes.jsonapi import PATH, FakeJsonHelpdesk
from tests.fakes.web import json_response, local_server
from tests.reliability.conftest import JSON_FIELDS, wait_until

UTC = timezone.utc
KEY = secretscan.register_secret("crash-desk-key-51f0e2d9c4")  # only the subprocess uses it
SHOWN = ("new", "due_soon", "overdue", "escalated")


class ChurningDesk(FakeJsonHelpdesk):
    """A JSON helpdesk whose open tickets are a function of ``step``.

    At step s tickets s..s+4 are open; ticket i's customer writes again three steps after it
    opened (cycle 2). By i % 3 a cycle is fresh, due soon, or already overdue when first seen.
    """

    def __init__(self, server: Any, t0: datetime) -> None:
        super().__init__(server, KEY, page_size=100)
        self.t0 = t0
        self.step = 0

    def cycle(self, i: int) -> int:
        return 1 if self.step - i < 3 else 2

    def open_tickets(self) -> list[tuple[int, int]]:
        return [(i, self.cycle(i)) for i in range(self.step, self.step + 5)]

    def handle(self, request: Request) -> Response:
        if request.headers.get("X-Api-Key") != self.key:
            return self.error(401, {})
        items = []
        for i, c in self.open_tickets():
            ago = (
                [timedelta(minutes=1), timedelta(minutes=50), timedelta(hours=2)][i % 3]
                if c == 1
                else timedelta(seconds=30)
            )
            since = self.t0 - ago
            items.append(
                {
                    "ticket_id": i,
                    "title": f"T{i} c{c}",
                    "state": "open",
                    "opened_at": (self.t0 - timedelta(hours=3)).isoformat(),
                    "last_customer_message_at": since.isoformat(),
                    "queue": {"name": "Support"},
                }
            )
        return json_response({"data": {"tickets": items}, "links": {"next": None}})


class Webhook:
    """The owner's escalation channel: counts each message by its Ticketbell-Key line."""

    def __init__(self, server: Any) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()
        server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.url = f"json://127.0.0.1:{server.port}/hook"

    def handle(self, request: Request) -> Response:
        body = json.loads(request.get_data()).get("message", "")
        tag = body.rsplit("Ticketbell-Key:", 1)[-1].strip()
        with self.lock:
            self.received[tag] += 1
        return Response("ok")


def write_config(path: Path, desk: ChurningDesk, hook: Webhook) -> None:
    fields = "\n".join(f'{k} = "{v}"' for k, v in JSON_FIELDS.items() if k != "due")
    path.write_text(
        f"""role = "owner"

[[sources]]
name = "Desk"
kind = "json"
url = "{desk.base}{PATH}"
secret_env = "CRASH_DESK_KEY"
interval = "1s"
timeout = 5
auth_header = "X-Api-Key"
items = "data.tickets"
waiting_statuses = ["open"]
[sources.fields]
{fields}

[windows]
default = "1h"

[alerts]
remind_every = "off"

[escalation]
sent_by = "owner"
levels = [{{ after = "0m", notify = ["{hook.url}"] }}]
""",
        encoding="utf-8",
    )


class Campaign:
    def __init__(self, tmp_path: Path, env: dict[str, str], desk: ChurningDesk, hook: Webhook):
        self.tmp = tmp_path
        self.env = {**env, "CRASH_DESK_KEY": KEY}
        self.desk = desk
        self.hook = hook
        self.config = tmp_path / "ticketbell.toml"
        self.data = tmp_path / "data"
        write_config(self.config, desk, hook)
        self.events: list[dict[str, Any]] = []
        self.kills = 0

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "agent",
            "run",
            "--headless",
            "--json",
            "--no-notify",
            "--config",
            str(self.config),
            "--data-dir",
            str(self.data),
        ]

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(),
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def collect(self, out: str) -> None:
        for line in out.splitlines():
            try:
                self.events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                pytest.fail(f"a half-written event line: {line!r}")

    def kill_run(self, rng: random.Random) -> None:
        self.desk.step += 1
        proc = self.start()
        head = ""
        if rng.random() < 0.8:
            # Most kills land while the agent works (start-up takes ~1 s of imports here): wait
            # for its start line, then 0.1-1.5 s, i.e. mid-poll, mid-write or mid-send.
            while "headless, role" not in head and proc.poll() is None:
                head += (proc.stderr.readline() if proc.stderr else "") or ""
        time.sleep(rng.uniform(0.1, 1.5))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        err = head + err
        assert proc.returncode == -signal.SIGKILL
        assert "Traceback" not in err, err
        self.collect(out)
        self.kills += 1
        self.check_queue_loads()

    def check_queue_loads(self) -> None:
        queue = LocalQueue(self.data)
        try:
            assert queue.recovered_from is None, "the queue file was damaged by a kill"
            assert queue.writable
            queue.waiting()  # every record parses into a ticket
        finally:
            queue.close()

    def final_run(self) -> None:
        """A last run, left alone until it has caught up, then stopped politely."""
        self.desk.step += 1
        expected = {f"T{i} c{c}" for i, c in self.desk.open_tickets()}
        proc = self.start()
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()
        try:
            before = {e["subject"] for e in self.events if e["event"] == "new"}
            before |= {t["subject"] for e in self.events for t in e.get("tickets", ())}

            def caught_up() -> bool:
                events = [orjson.loads(x) for x in list(lines)]
                seen = {e["subject"] for e in events if e["event"] == "new"}
                seen |= {t["subject"] for e in events for t in e.get("tickets", ())}
                return expected <= seen | before and self.outbox_settled()

            wait_until(caught_up, timeout=60, what="the final run to catch up")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            reader.join(10)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        self.collect("".join(lines))

    def state(self) -> dict[str, Any]:
        return orjson.loads((self.data / "queue.json").read_bytes())

    def outbox_settled(self) -> bool:
        try:
            outbox = self.state().get("outbox", {}).values()
        except (FileNotFoundError, orjson.JSONDecodeError):
            return False
        return all(e.get("delivered_at") or e.get("failed_at") for e in outbox)

    def verdict(self) -> dict[str, Any]:
        shown = Counter(
            (e["event"], e["ticket"], e["subject"]) for e in self.events if e["event"] in SHOWN
        )
        duplicated = {k: n for k, n in shown.items() if n > 1}
        state = self.state()
        ledger = [d for d in state["ledger"].values() if d["kind"] in SHOWN]
        lost = [d for d in ledger if (d["kind"], d["ticket"], d["subject"]) not in shown]
        # Every ticket the helpdesk showed for at least one whole run must have been announced.
        announced = {(e["ticket"], e["subject"]) for e in self.events if e["event"] == "new"}
        announced |= {  # a first sync's tickets, announced in its one summary
            (t["ticket"], t["subject"])
            for e in self.events
            if e["event"] == "summary"
            for t in e["tickets"]
        }
        owed_new = {(str(i), f"T{i} c{c}") for i, c in self.desk.open_tickets()}
        missing_new = owed_new - announced
        outbox = list(state["outbox"].values())
        keys = Counter(e["key"] for e in outbox)
        escalated = [d for d in ledger if d["kind"] == "escalated"]
        not_queued = [
            d for d in escalated if not any(k.startswith(d["key"] + "\x1f") for k in keys)
        ]
        sent_twice = {k: n for k, n in self.hook.received.items() if n > 1}
        never_arrived = [e for e in outbox if self.hook.received[key_tag(e["key"])] == 0]
        in_doubt = [e for e in never_arrived if e.get("in_doubt")]
        # the daily aggregates count each ended cycle once: as many as the ledger's answered rows
        answered = sum(1 for d in state["ledger"].values() if d["kind"] == "answered")
        days = state.get("aggregates", {}).values()
        counted = sum(day["cells"].get("*", [0])[0] for day in days)
        silently_lost = [e for e in never_arrived if not e.get("in_doubt")]
        return {
            "alerts_duplicated": len(duplicated),
            "alerts_lost": len(lost) + len(missing_new),
            "escalations_duplicated": len(sent_twice) + sum(n - 1 for n in keys.values()),
            "escalations_lost": len(silently_lost) + len(not_queued),
            "escalations_in_doubt": len(in_doubt),
            "escalations_sent": sum(self.hook.received.values()),
            "aggregates_off": counted - answered,
            "answered": answered,
            "events": len(self.events),
            "details": (duplicated, lost, missing_new, not_queued, sent_twice, silently_lost),
        }


@pytest.fixture
def campaign(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[Campaign]:
    t0 = datetime.now(UTC)
    with local_server() as desk_server, local_server() as hook_server:
        yield Campaign(tmp_path, cli_env, ChurningDesk(desk_server, t0), Webhook(hook_server))


def run_campaign(campaign: Campaign, kills: int, seed: int, record_property: Any) -> None:
    rng = random.Random(seed)
    for _ in range(kills):
        campaign.kill_run(rng)
    campaign.final_run()
    verdict = campaign.verdict()
    for key in ("alerts_duplicated", "alerts_lost", "escalations_duplicated", "escalations_lost"):
        record_property(key, verdict[key])
    record_property("escalations_in_doubt", verdict["escalations_in_doubt"])
    record_property("kills", campaign.kills)
    print(f"\ncrash campaign seed {seed}: {verdict}")
    assert verdict["events"] > kills // 4, "the runs were too short to poll at all"
    assert verdict["escalations_sent"] > 0
    assert verdict["alerts_duplicated"] == 0, verdict["details"]
    assert verdict["alerts_lost"] == 0, verdict["details"]
    assert verdict["escalations_duplicated"] == 0, verdict["details"]
    assert verdict["escalations_lost"] == 0, verdict["details"]
    assert verdict["answered"] > 0
    assert verdict["aggregates_off"] == 0


def test_twenty_kills_lose_nothing_and_repeat_nothing(
    campaign: Campaign, record_property: Any
) -> None:
    run_campaign(campaign, kills=20, seed=20261123, record_property=record_property)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_two_hundred_kills_lose_nothing_and_repeat_nothing(
    campaign: Campaign, record_property: Any, seed: int
) -> None:
    run_campaign(campaign, kills=100, seed=seed, record_property=record_property)
