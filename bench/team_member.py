"""One team member of the fan-out row (``bench/team.py``), in a process of its own.

Every member's Ticketbell is a process of its own (on its own computer, usually), so the bench
runs each of its 20 members as one: a whole :class:`~agent.team_agent.TeamAgent` (its MQTT
connection, engine and queue). It prints ``ready`` once it follows the hub's source, then
``new <ticket> <time.time()>`` the moment each ``new`` alert reaches its subscriber (the wall
clock, as the floor's ``mosquitto_sub -F %U`` stamps its lines), and stops when its standard
input closes.

``python bench/team_member.py BROKER_URL TEAM USER DATA_DIR``, the broker password in the
environment variable :data:`PASSWORD_ENV`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: `python bench/team_member.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent import config as config_module
from agent.model import Alert
from agent.queue import LocalQueue
from agent.team import TeamLink
from agent.team_agent import TeamAgent

PASSWORD_ENV = "TICKETBELL_BENCH_MEMBER_PASSWORD"  # noqa: S105 - a variable's name
SOURCE = "Zendesk"


def member_agent(broker: str, team: str, user: str, password: str, data: Path) -> TeamAgent:
    """A member's whole agent, following the hub's one source (not started yet); the bench's
    other rows make theirs here too."""
    table = {
        "team": {"broker": broker, "name": team, "user": user},
        "sources": [{"name": SOURCE, "kind": "team", "interval": "10m"}],
    }
    config = config_module.from_dict(table)
    assert config.team is not None
    link = TeamLink(config.team, password, {SOURCE: ()})
    return TeamAgent(config, LocalQueue(data), link)


def main(argv: list[str]) -> int:
    broker, team, user, data_dir = argv
    agent = member_agent(broker, team, user, os.environ[PASSWORD_ENV], Path(data_dir))
    printing = threading.Lock()

    def note(alerts: tuple[Alert, ...]) -> None:
        at = time.time()
        with printing:
            for alert in alerts:
                if alert.kind == "new":
                    print(f"new {alert.ticket} {at!r}", flush=True)

    agent.subscribe(on_alerts=note)
    agent.start()
    try:
        end = time.monotonic() + 60
        while agent.status.sources[0].health.value != "ok":
            if time.monotonic() > end:
                print(f"not following {SOURCE} after 60 s", file=sys.stderr)
                return 1
            time.sleep(0.01)
        with printing:
            print("ready", flush=True)
        sys.stdin.read()  # until the bench closes it
    finally:
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
