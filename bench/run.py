"""``make bench``: every figure of issue 7 as a ratio to a floor measured in the same run.

    python bench/run.py                    everything (about 2 minutes), one table
    python bench/run.py --only cycle       one group: idle, startup, cycle, latency, package
    python bench/run.py --readme           also put the table in README.md's Performance section

The idle processes (60 s) run first, in the background; the start-up and latency measurements
run while they idle (they only count their own CPU time), the heavy 10,000-ticket cycles after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import apps, cycle, fakes, latency, team, traffic
from bench import forecast as forecast_bench

IDLE_SECONDS = 60.0
SETTLE_SECONDS = 5.0
GROUPS = ("idle", "startup", "latency", "cycle", "requests", "package", "forecast", "team")
MIB = 1024 * 1024


@dataclass
class Row:
    figure: str
    value: str
    floor: str
    ratio: float | None
    target: str
    limit: float | None  # the ratio must be <= limit (None: judged by ``passed``)
    passed: bool | None = None  # None: not measurable
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "MISS (not measurable yet)"
        return "PASS" if self.passed else "MISS"


def ratio_row(
    figure: str, value: float, floor: float, unit: Callable[[float], str], limit: float, note=""
) -> Row:
    ratio = value / floor if floor else float("inf")
    return Row(
        figure, unit(value), unit(floor), ratio, f"≤ {limit:g}×", limit, ratio <= limit, note
    )


def missing_row(figure: str, floor: str, target: str, why: str) -> Row:
    return Row(figure, "—", floor, None, target, None, None, why)


def seconds(x: float) -> str:
    return f"{x:.3f} s"


def mib(x: float) -> str:
    return f"{x / MIB:.1f} MiB"


def table(rows: list[Row]) -> str:
    lines = [
        "| figure | measured | floor | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        lines.append(f"| {r.figure} | {r.value} | {r.floor} | {ratio} | {r.target} | {r.verdict} |")
    notes = [f"- {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def machine() -> str:
    import PySide6

    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, PySide6 {PySide6.__version__}"
    )


def replace_section(readme: str, heading: str, body: str, before: str = "## Development") -> str:
    """``readme`` with the section under ``heading`` (up to the next ``## ``) set to ``body``.

    A missing section goes in front of the ``before`` heading, or at the end.
    """
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    section = f"{heading}\n\n{body.strip()}\n\n"
    if pattern.search(readme):
        return pattern.sub(lambda _: section, readme, count=1)
    if f"\n{before}\n" in readme:
        return readme.replace(f"\n{before}\n", f"\n{section}{before}\n", 1)
    return readme.rstrip("\n") + "\n\n" + section


# --------------------------------------------------------------------------- the groups


class IdleGroup:
    """The floor tray app, ``ticketbell --demo`` and a headless agent, left alone for 60 s."""

    def __init__(self, home: Path) -> None:
        self.procs: dict[str, apps.Idle] = {}
        self.why_no_tray = apps.tray_available()
        self.server_cm = fakes.serve(5, 50)
        server = self.server_cm.__enter__()
        config = cycle.write_config(home / "idle.toml", server, 5, "30s")
        env = apps.isolated_env(home, **{fakes.KEY_ENV: fakes.KEY})
        self.procs["floor"] = apps.Idle("floor tray app", apps.FLOOR_CMD, env, home / "floor.log")
        if not self.why_no_tray:
            self.procs["tray"] = apps.Idle(
                "ticketbell --demo", apps.TRAY_CMD, env, home / "tray.log"
            )
        cmd = apps.ticketbell_cmd(
            "run",
            "--headless",
            "--no-notify",
            "--config",
            str(config),
            "--data-dir",
            str(home / "headless-data"),
        )
        self.procs["headless"] = apps.Idle("headless agent", cmd, env, home / "headless.log")
        self.started = time.monotonic()

    def begin(self) -> None:
        time.sleep(max(0.0, self.started + SETTLE_SECONDS - time.monotonic()))
        for proc in self.procs.values():
            proc.begin()
        self.ends = time.monotonic() + IDLE_SECONDS

    def end(self) -> list[Row]:
        time.sleep(max(0.0, self.ends - time.monotonic()))
        try:
            for proc in self.procs.values():
                proc.end()
        finally:
            self.close()
        floor = self.procs["floor"]
        rows = []
        if "tray" in self.procs:
            tray = self.procs["tray"]
            rows.append(
                ratio_row(
                    "idle RSS of `ticketbell --demo` after 60 s", tray.rss, floor.rss, mib, 1.3
                )
            )
        else:
            rows.append(
                missing_row(
                    "idle RSS of `ticketbell --demo` after 60 s",
                    mib(floor.rss),
                    "≤ 1.3×",
                    self.why_no_tray,
                )
            )
        headless = self.procs["headless"]
        rows.append(
            Row(
                "idle CPU over 60 s, 5 sources polling every 30 s, nothing changing",
                f"{headless.cpu_percent:.2f} %",
                "0 %",
                None,
                "< 0.5 %",
                None,
                headless.cpu_percent < 0.5,
                f"`ticketbell run --headless`, 5 json sources of 10 tickets each on 127.0.0.1 "
                f"({headless.cpu_seconds:.2f} s CPU in {headless.wall:.0f} s; "
                f"floor tray app {floor.cpu_percent:.2f} %)",
            )
        )
        return rows

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.server_cm.__exit__(None, None, None)


def startup_rows(runs: int) -> list[Row]:
    floor, app = apps.startup(runs)
    floor_tray = apps.median([s.tray for s in floor])
    floor_loop = apps.median([s.loop for s in floor])
    why = apps.tray_available()
    if not app:
        return [
            missing_row("start to tray icon shown", seconds(floor_tray), "≤ 2×", why),
            missing_row("start to event loop", seconds(floor_loop), "≤ 2×", why),
        ]
    return [
        ratio_row(
            "start to tray icon shown",
            apps.median([s.tray for s in app]),
            floor_tray,
            seconds,
            2.0,
            f"median of {runs} runs each",
        ),
        ratio_row(
            "start to event loop", apps.median([s.loop for s in app]), floor_loop, seconds, 2.0
        ),
    ]


def latency_rows(samples: int) -> list[Row]:
    values = latency.run(samples)
    worst = max(values)
    interval = latency.INTERVAL
    limit = (interval + 1) / interval
    return [
        Row(
            f"new ticket at a fake → `new` event, interval {interval:g} s (worst of {samples})",
            seconds(worst),
            seconds(interval),
            worst / interval,
            f"≤ {limit:.2f}× (interval + 1 s)",
            limit,
            worst / interval <= limit,
            "samples " + ", ".join(f"{v:.2f}" for v in values) + " s",
        ),
        idle_row(samples),
    ]


def idle_row(samples: int) -> Row:
    figure = f"IMAP IDLE, interval 1 h: mail stored → `new` event (worst of {samples})"
    try:
        values = latency.run_idle(samples)
    except (RuntimeError, ImportError, OSError) as exc:
        return missing_row(figure, "—", "≤ 2 s", f"not measured: {exc}")
    worst = max(values)
    samples_text = ", ".join(f"{v:.2f}" for v in values)
    return Row(
        figure,
        seconds(worst),
        "—",
        None,
        "≤ 2 s",
        None,
        worst <= 2.0,
        f"a real Dovecot on 127.0.0.1; samples {samples_text} s",
    )


def steal_note(shares: list[float | None]) -> str:
    """The hypervisor's steal during the timed runs, when the machine says it."""
    known = [s for s in shares if s is not None]
    if not known:
        return ""
    low, high = f"{min(known):.0%}", f"{max(known):.0%}"
    shown = low if low == high else f"{low}–{high}"
    return f", steal {shown} of the machine's time meanwhile"


def cycle_rows(runs: int) -> list[Row]:
    r = cycle.run(runs, progress=lambda line: print(line, file=sys.stderr))
    writes = "no queue write" if not r.writes_when_same else f"{r.writes_when_same} queue writes!"
    same = ratio_row(
        "the same cycle with nothing changed",
        apps.median(r.same),
        apps.median(r.same_floor),
        seconds,
        1.2,
        f"floor: a plain GET of the same {cycle.TICKETS // cycle.PAGE_SIZE} pages; "
        f"{writes} in {len(r.same)} unchanged cycles (file inode and mtime unchanged)",
    )
    if r.writes_when_same:
        same.passed = False
    return [
        ratio_row(
            f"one poll cycle, {r.waiting:,} waiting tickets over {cycle.DESKS} sources, all new",
            apps.median(r.new),
            apps.median(r.new_floor),
            seconds,
            2.0,
            "floor: parse + normalise + one atomic orjson write of the same pages, "
            f"{cycle.FLOOR_REPEATS} times back to back (the mean); median of {runs} floors and "
            f"{runs} cycles; the cycle's CPU {apps.median(r.new_cpu):.3f} s"
            f"{steal_note(r.new_steal)}",
        ),
        same,
        ratio_row(
            f"queue file size at {r.waiting:,} tickets",
            r.queue_bytes,
            r.compact_bytes,
            mib,
            1.5,
            "floor: the tickets as compact JSON",
        ),
    ]


def request_rows(counts: list[traffic.Count]) -> list[Row]:
    """Two rows per HTTP kind: requests for a first sync of 300 waiting tickets and for an idle
    poll, against the fewest its API allows (the listing's pages; one request)."""
    rows = []
    for c in counts:
        found = "" if c.waiting == traffic.TICKETS else f"; found {c.waiting} waiting, not 300!"
        extra = traffic.SECOND_LISTING_PAGE.get(c.kind)
        second = f", and the stats listing's pages at {extra} a page" if extra else ""
        first = Row(
            f"{c.kind}: requests, first sync of {traffic.TICKETS} waiting tickets",
            str(c.first_sync),
            f"{c.pages} pages",
            c.first_sync / c.pages,
            f"≤ pages + 2 ({c.first_target})",
            None,
            c.first_sync <= c.first_target and not found,
            f"{traffic.MAX_PAGE[c.kind]} a page{second}{found}",
        )
        idle = Row(
            f"{c.kind}: requests, idle poll",
            str(c.idle),
            "1 request",
            float(c.idle),
            "≤ 1 per category query (1)",
            None,
            c.idle <= c.idle_target,
            traffic.IDLE_HOW.get(c.kind, ""),
        )
        rows += [first, idle]
    return rows


def package_rows(runs: int) -> list[Row]:
    figure = "packaged one-folder start (`check --demo --json`)"
    exe = apps.packaged_binary()
    if exe is None:
        print("building the one-folder bundle (packaging/build.py --no-deb)…", file=sys.stderr)
        exe = apps.build_package()
    if exe is None:
        why = "no packaging/build.py on this branch, so no dist/ticketbell/"
        return [missing_row(figure, "—", "≤ 1.3×", why)]
    plain, frozen = apps.packaged(exe, runs)
    return [
        ratio_row(
            figure,
            apps.median(frozen),
            apps.median(plain),
            seconds,
            1.3,
            "floor: `python -m ticketbell check --demo --json`",
        )
    ]


def team_rows() -> list[Row]:
    """Issue 15's figures (bench/team.py): the team hub over a real Mosquitto."""
    latencies, floor = team.fan_out()
    spread = team.p95(latencies)
    fan = ratio_row(
        "team: hub publishes → `new` at each of 20 members, p95",
        spread,
        team.p95(floor),
        seconds,
        5.0,
        f"floor: mosquitto_pub → 20 mosquitto_sub, p95; worst {max(latencies):.3f} s",
    )
    fan.passed = fan.passed and spread <= 1.0
    fan.target = "≤ 1 s and ≤ 5×"
    one, many = team.requests_per_minute(1), team.requests_per_minute(20)
    per_min = ratio_row(
        "team: helpdesk requests per minute, 20 members against 1 (hub polls every 1 s)",
        many,
        one,
        lambda x: f"{x:.0f}/min",
        1.0,
        "members ask the hub's broker, never the helpdesk",
    )
    alone, followed = team.hub_cost(0), team.hub_cost(20)
    rss = ratio_row(
        "team: hub RSS, 10,000 tickets, 20 members against none",
        followed.rss,
        alone.rss,
        mib,
        1.1,
        f"median of RSS readings every 0.5 s over 30 s; CPU {followed.cpu_percent:.2f} % "
        f"against {alone.cpu_percent:.2f} % (polled every 10 s)",
    )
    return [fan, per_min, rss]


def compile_bytecode() -> None:
    """Compile the project's modules as an installer does (pip, the .deb, the bundle): measured
    processes then start from bytecode, as on a person's machine. Without it, a machine that sets
    PYTHONDONTWRITEBYTECODE (this one does) compiles ~330 KB of our source at every start, which
    no installed Ticketbell does; the floors are compiled the same way."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in ("agent", "ui", "bench"):
        compileall.compile_dir(root / folder, quiet=1)
    compileall.compile_file(root / "ticketbell.py", quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ticketbell benchmarks (issue 7)")
    parser.add_argument("--only", choices=GROUPS, action="append", help="run only these groups")
    parser.add_argument("--runs", type=int, default=5, help="runs per timed figure (median)")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args(argv)
    groups = args.only or list(GROUPS)
    began = time.monotonic()
    compile_bytecode()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ticketbell-bench-") as tmp:
        idle = IdleGroup(Path(tmp)) if "idle" in groups else None
        try:
            if idle:
                print("idle: 3 processes left alone for 60 s…", file=sys.stderr)
                idle.begin()
            if "startup" in groups:
                print("start-up…", file=sys.stderr)
                rows += startup_rows(args.runs)
            if "latency" in groups:
                print("detection latency…", file=sys.stderr)
                rows += latency_rows(4)
            if idle:
                rows[:0] = idle.end()
                idle = None
        finally:
            if idle:
                idle.close()
    if "cycle" in groups:
        print("10,000-ticket cycles…", file=sys.stderr)
        rows += cycle_rows(max(3, args.runs // 2 + 1))
    if "requests" in groups:
        print("requests per poll, every HTTP kind against its fake…", file=sys.stderr)
        rows += request_rows(traffic.count_all())
    if "package" in groups:
        rows += package_rows(args.runs * 2)
    if "forecast" in groups:
        print("forecast backtests and a year's scorecard…", file=sys.stderr)
        rows += forecast_bench.rows()
    if "team" in groups:
        print("team hub: fan-out to 20 members, helpdesk requests, hub cost…", file=sys.stderr)
        rows += team_rows()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = (
        f"Measured {stamp} on {machine()} by `make bench` "
        f"({time.monotonic() - began:.0f} s). What each row measures, what was changed to meet "
        f"the targets and where the cost of a miss goes: [bench/README.md](bench/README.md).\n\n"
        f"{table(rows)}\n"
    )
    print(report)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text(report, encoding="utf-8")
    if args.readme:
        readme = apps.ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        readme.write_text(replace_section(text, "## Performance", report), encoding="utf-8")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
