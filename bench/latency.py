"""Detection latency: a ticket appears at a fake helpdesk → the agent emits its ``new`` event.

The real agent (scheduler thread, worker pool, queue, policy) polls one ``json`` source every
``interval`` seconds. At a random moment of its cycle a ticket is added at the fake; the time
until the alert subscriber receives a ``new`` alert for that ticket is one sample. The worst
case is one interval (the poll just happened) plus the jitter (±5 %) plus one fetch and save.

:func:`run_idle` does the same for an ``imap`` source on a real Dovecot (``tests/fakes/imap.py``)
polled hourly: only IMAP IDLE can make a new mail show up within seconds.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from agent import config as config_module
from agent.config import SourceConfig
from agent.engine import Agent, make_source
from agent.model import Alert, Status
from agent.queue import LocalQueue
from agent.sources.base import Source
from bench import cycle, fakes

INTERVAL = 5.0
UTC = timezone.utc


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


def run_idle(samples: int = 4) -> list[float]:
    """Seconds from a mail stored in the watched folder to its ``new`` alert, via IMAP IDLE."""
    from tests.fakes import imap as fake_imap

    if not fake_imap.available():
        raise RuntimeError("Dovecot or openssl is not installed")
    env_name = "TICKETBELL_BENCH_IMAP_PASSWORD"
    password = "bench-imap-password-7c1e"  # noqa: S105 - a throwaway account on 127.0.0.1
    os.environ[env_name] = password
    news: list[float] = []
    arrived = threading.Condition()
    ready = threading.Event()
    made: list[Source] = []

    def on_alerts(alerts: tuple[Alert, ...]) -> None:
        with arrived:
            news.extend(time.monotonic() for a in alerts if a.kind == "new")
            arrived.notify_all()

    def factory(config: SourceConfig, clock: object) -> Source:
        made.append(make_source(config, clock))  # type: ignore[arg-type]
        return made[-1]

    rng = random.Random(11)
    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        server = fake_imap.Dovecot(Path(tmp))
        try:
            user, _ = server.add_user(password)
            mailbox = fake_imap.Mailbox(server, user, password)
            mailbox.create("Sent")
            mailbox.append(subject="Already there", arrived=datetime.now(UTC))
            config = config_module.from_dict(
                {
                    "sources": [
                        {
                            "name": "Support inbox",
                            "kind": "imap",
                            "url": f"imap://127.0.0.1:{server.port}",
                            "user": user,
                            "secret_env": env_name,
                            "interval": "1h",
                        }
                    ],
                }
            )
            agent = Agent(config, LocalQueue(Path(tmp) / "data"), source_factory=factory)
            agent.subscribe(lambda s: s.waiting and ready.set(), on_alerts)
            agent.start()
            try:
                if not ready.wait(30):
                    raise RuntimeError("the agent did not read the IMAP folder")
                for n in range(samples):
                    end = time.monotonic() + 30
                    while getattr(made[0], "_idle", None) is None:  # IDLE set up again
                        if time.monotonic() > end:
                            raise RuntimeError("the imap source never entered IDLE")
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0.5, 2.0))
                    count = len(news)
                    mailbox.append(subject=f"New question {n}", arrived=datetime.now(UTC))
                    stored = time.monotonic()
                    with arrived:
                        if not arrived.wait_for(lambda c=count: len(news) > c, timeout=30):
                            raise RuntimeError("no new event for the mail")
                    latencies.append(news[count] - stored)
            finally:
                agent.stop()
                mailbox.close()
        finally:
            server.stop()
    return latencies


if __name__ == "__main__":
    print([f"{x:.2f}" for x in run()])
    print([f"{x:.2f}" for x in run_idle()])
