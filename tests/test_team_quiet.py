"""The team hub hears this person's do-not-disturb and away (agent/quiet.py's presence facts) with
their presence, over a real Mosquitto (tests/broker.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from agent.presence import Presence
from agent.quiet import follow_desktop
from tests.broker import TEAM, Broker
from tests.test_team import broker, opened, raw_client, team_agent, wait_until

__all__ = ["broker", "opened"]  # the fixtures


def test_do_not_disturb_and_away_go_with_the_presence(
    broker: Broker, opened: list[Any], tmp_path: Path
) -> None:
    heard: list[dict[str, Any]] = []
    ben = raw_client(broker, opened, "ben")
    ben.on_message = lambda _c, _u, m: heard.append(orjson.loads(m.payload)) if m.payload else None
    ben.subscribe(f"ticketbell/{TEAM}/presence/anna", qos=1)
    anna = team_agent(broker, tmp_path, "anna", opened)
    wait_until(lambda: anna.link.synced, what="anna's link")
    desk = {"dnd": True, "idle": 0.0}

    def probe(now: datetime) -> Presence:
        return Presence(now, dnd=desk["dnd"], locked=False, idle=desk["idle"])

    watcher = follow_desktop(anna.quiet, anna.check_now, probe)
    try:
        wait_until(lambda: any(h.get("dnd") for h in heard), what="dnd at ben")
        desk["dnd"], desk["idle"] = False, 3600.0
        watcher.look_now()
        wait_until(lambda: heard[-1].get("away") is True, what="away at ben")
    finally:
        watcher.stop()
    last = heard[-1]
    assert (last["state"], last["dnd"], last["away"]) == ("online", False, True)
