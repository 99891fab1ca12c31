"""The 10,000-ticket poll cycle, its floors, and the queue file's size.

Everything real: the fake JSON helpdesks of :mod:`bench.fakes` on 127.0.0.1 (a separate
process), the ``json`` connector, :class:`agent.engine.Agent` and :class:`agent.queue.LocalQueue`.
One cycle is :meth:`Agent.poll_once`: fetch every source (concurrently, as the agent does),
apply each snapshot to the queue, evaluate the policy, record the alerts owed and save.
"""

from __future__ import annotations

import concurrent.futures
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests

from agent import config as config_module
from agent.engine import Agent
from agent.queue import LocalQueue, atomic_write, ticket_record
from agent.sources.jsonapi import parse_items, parse_tickets
from bench import fakes

DESKS = 5
TICKETS = 10_000
PAGE_SIZE = 100
SAME_RUNS = 5  # unchanged cycles (and plain GETs) per fresh cycle: they are short and noisy
#: the all-new floor's back-to-back repeats, so that it spans as much of the machine's time as
#: the cycle it is compared with (see :func:`floor_time`)
FLOOR_REPEATS = 3


def write_config(path: Path, server: fakes.Server, desks: int, interval: str = "30s") -> Path:
    """A config with one ``json`` source per fake desk (the key comes from the environment)."""
    data = {
        "role": "assistant",
        # no ticket changes state while the benchmark runs: "nothing changed" means nothing
        "windows": {"default": "24h"},
        "sources": [
            {
                "name": f"Desk {d}",
                "kind": "json",
                "url": server.url(d),
                "secret_env": fakes.KEY_ENV,
                "interval": interval,
                **fakes.SOURCE_OPTIONS,
            }
            for d in range(desks)
        ],
    }
    path.write_text(config_module.to_toml(data), encoding="utf-8")
    return path


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def page_urls(server: fakes.Server, desks: int) -> list[list[str]]:
    """Every page's URL, desk by desk (known in advance, so the plain GET parses nothing)."""
    per_desk = -(-TICKETS // desks)
    pages = -(-per_desk // PAGE_SIZE)
    return [[f"{server.url(d)}?page={k}" for k in range(1, pages + 1)] for d in range(desks)]


def plain_get(urls: list[list[str]]) -> list[list[bytes]]:
    """GET every page, one session per desk, desks concurrently as the agent polls them."""

    def desk(pages: list[str]) -> list[bytes]:
        with requests.Session() as session:
            session.headers["X-Api-Key"] = fakes.KEY
            bodies = []
            for url in pages:
                response = session.get(url, timeout=30)
                response.raise_for_status()
                bodies.append(response.content)
            return bodies

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(desk, urls))


def parse_and_write(bodies: list[list[bytes]], path: Path) -> int:
    """The floor of a cycle: parse, normalise to tickets, one atomic orjson write of them all."""
    fields = fakes.SOURCE_OPTIONS["fields"]
    records = []
    for d, pages in enumerate(bodies):
        for body in pages:
            items = parse_items(orjson.loads(body), fakes.SOURCE_OPTIONS["items"])
            for ticket in parse_tickets(
                items, fields, source=f"Desk {d}", waiting_statuses=("open",)
            ):
                records.append(ticket_record(ticket))
    atomic_write(path, orjson.dumps(records))
    return len(records)


def floor_time(bodies: list[list[bytes]], path: Path) -> float:
    """The all-new cycle's floor: :func:`parse_and_write`'s mean time over
    :data:`FLOOR_REPEATS` back-to-back runs.

    This machine's speed moves within a second: one floor (about 0.3 s) took 0.25 s or 0.45 s
    from one run to the next, while a cycle (about 0.8 s) spans both speeds and moved far less.
    A single floor so decided the row by luck (a slow floor passed it, a fast one failed it);
    three in a row span as much of the machine's time as the cycle does.
    """
    elapsed, _ = timed(lambda: [parse_and_write(bodies, path) for _ in range(FLOOR_REPEATS)])
    return elapsed / FLOOR_REPEATS


def compact_json_size(bodies: list[list[bytes]]) -> int:
    """The tickets of the cycle as compact JSON: the floor of the queue file's size."""
    path = Path(tempfile.mkdtemp(prefix="ticketbell-bench-")) / "tickets.json"
    parse_and_write(bodies, path)
    size = path.stat().st_size
    path.unlink()
    path.parent.rmdir()
    return size


def new_agent(config_path: Path, data_dir: Path) -> Agent:
    config = config_module.load(config_path)
    return Agent(config, LocalQueue(data_dir, config.retention))


@dataclass
class CycleResult:
    new: list[float]
    new_floor: list[float]
    #: the all-new cycles' CPU seconds (this process) and the share of the machine's time the
    #: hypervisor took meanwhile (steal; None off Linux): what a wall-time ratio cannot show
    new_cpu: list[float]
    new_steal: list[float | None]
    same: list[float]
    same_floor: list[float]
    writes_when_same: int
    queue_bytes: int
    compact_bytes: int
    waiting: int


def file_id(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def run(runs: int = 3, progress: Callable[[str], None] = print) -> CycleResult:
    """Measure ``runs`` fresh cycles (everything new) and unchanged cycles, with their floors.

    Floors and cycles alternate so that noise from other work on the machine hits both alike.
    """
    os.environ[fakes.KEY_ENV] = fakes.KEY
    result = CycleResult([], [], [], [], [], [], 0, 0, 0, 0)
    with fakes.serve(DESKS, TICKETS, PAGE_SIZE) as server, tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        config_path = write_config(base / "ticketbell.toml", server, DESKS)
        urls = page_urls(server, DESKS)
        bodies = plain_get(urls)  # warm the server's page cache
        result.compact_bytes = compact_json_size(bodies)
        for n in range(runs):
            floor = floor_time(bodies, base / "floor.json")
            result.new_floor.append(floor)
            agent = new_agent(config_path, base / f"data{n}")
            try:
                cpu, ticks = time.process_time(), cpu_ticks()
                elapsed, report = timed(agent.poll_once)
                result.new_cpu.append(time.process_time() - cpu)
                result.new_steal.append(steal_share(ticks, cpu_ticks()))
                result.new.append(elapsed)
                result.waiting = report.status.waiting
                result.queue_bytes = agent.queue.path.stat().st_size
                before = file_id(agent.queue.path)
                for _ in range(SAME_RUNS):
                    get_time, _ = timed(lambda: plain_get(urls))
                    result.same_floor.append(get_time)
                    elapsed, _ = timed(agent.poll_once)
                    result.same.append(elapsed)
                    if file_id(agent.queue.path) != before:
                        result.writes_when_same += 1
                        before = file_id(agent.queue.path)
            finally:
                agent.stop()
            steal = result.new_steal[-1]
            stolen = "?" if steal is None else f"{steal:.0%}"
            progress(
                f"  cycle {n + 1}/{runs}: new {result.new[-1]:.3f} s (floor {floor:.3f} s; "
                f"CPU {result.new_cpu[-1]:.3f} s, steal {stolen}), "
                f"unchanged {statistics.median(result.same[-SAME_RUNS:]):.3f} s "
                f"(plain GET {statistics.median(result.same_floor[-SAME_RUNS:]):.3f} s)"
            )
    return result


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time counters (``/proc/stat``'s ``cpu`` line), None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            return [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return None


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of the machine's time between two :func:`cpu_ticks` that the hypervisor
    gave to other guests (the 8th counter, steal)."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    total = sum(after) - sum(before)
    return (after[7] - before[7]) / total if total > 0 else 0.0


if __name__ == "__main__":
    r = run()
    print(r)
