"""Detection latency: a ticket appears at a fake helpdesk → the agent emits its ``new`` event.

The real agent (scheduler thread, worker pool, queue, policy) polls one ``json`` source every
``interval`` seconds. At a random moment of its cycle a ticket is added at the fake; the time
until the alert subscriber receives a ``new`` alert for that ticket is one sample. The worst
case is one interval (the poll just happened) plus the jitter (±5 %) plus one fetch and save.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from pathlib import Path

from agent.engine import Agent
from agent.model import Alert, Status
from agent.queue import LocalQueue
from bench import cycle, fakes

INTERVAL = 5.0


def run(samples: int = 4, interval: float = INTERVAL) -> list[float]:
    os.environ[fakes.KEY_ENV] = fakes.KEY
    seen: dict[str, float] = {}
    arrived = threading.Condition()
    ready = threading.Event()

    def on_alerts(alerts: tuple[Alert, ...]) -> None:
        with arrived:
            for alert in alerts:
                if alert.kind == "new":
                    seen.setdefault(alert.ticket, time.monotonic())
            arrived.notify_all()

    def on_status(status: Status) -> None:
        if status.waiting:
            ready.set()

    rng = random.Random(7)
    latencies = []
    with fakes.serve(1, 20) as server, tempfile.TemporaryDirectory() as tmp:
        path = cycle.write_config(Path(tmp) / "ticketbell.toml", server, 1, f"{interval:g}s")
        config = cycle.config_module.load(path)
        agent = Agent(config, LocalQueue(Path(tmp) / "data", config.retention))
        agent.subscribe(on_status, on_alerts)
        agent.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the agent did not read the fake helpdesk")
            for _ in range(samples):
                time.sleep(rng.uniform(0, interval))
                ticket = str(server.add(0))
                added = time.monotonic()
                with arrived:
                    if not arrived.wait_for(lambda t=ticket: t in seen, timeout=interval * 4):
                        raise RuntimeError(f"no new event for ticket {ticket}")
                latencies.append(seen[ticket] - added)
        finally:
            agent.stop()
    return latencies


if __name__ == "__main__":
    print([f"{x:.2f}" for x in run()])
