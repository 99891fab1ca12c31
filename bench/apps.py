"""Whole processes: idle memory and CPU, start-up time, and the packaged app's start.

Measured from the outside, as a person's machine sees them: RSS (``VmRSS`` in
``/proc/<pid>/status``) and CPU time (utime + stime in ``/proc/<pid>/stat``). Every process
runs with ``QT_QPA_PLATFORM=offscreen`` and its own XDG folders, so it neither needs a display
nor touches the real config and queue.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_rss(status_text: str) -> int:
    """Bytes of resident memory from the text of ``/proc/<pid>/status``."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", unit
            return int(value) * 1024
    raise ValueError("no VmRSS line (has the process exited?)")


def parse_cpu(stat_text: str, ticks: int = CLK_TCK) -> float:
    """Seconds of CPU (user + system) from the text of ``/proc/<pid>/stat``.

    The command name (field 2) may hold spaces and parentheses, so fields are counted after
    the last ``)``: utime and stime are fields 14 and 15 of the line.
    """
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def rss(pid: int) -> int:
    return parse_rss(Path(f"/proc/{pid}/status").read_text())


def cpu(pid: int) -> float:
    return parse_cpu(Path(f"/proc/{pid}/stat").read_text())


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a measured process: offscreen Qt, its own XDG dirs, a file keyring."""
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home / var.lower())
    env.update(
        QT_QPA_PLATFORM="offscreen",
        QT_LOGGING_RULES="*.debug=false;qt.multimedia*=false;qt.core.qobject.connect=false",
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def tray_available() -> str:
    """Empty when ``ticketbell --demo`` has a tray app to run, else why not."""
    try:
        import ui.app

        if not hasattr(ui.app, "run_app"):
            return "ui.app.run_app is not on this branch yet"
    except ImportError as exc:
        return f"the tray app is not on this branch yet ({exc.name} missing)"
    return ""


def ticketbell_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ticketbell", *args]


#: the tray apps as the idle figures run them (``marks.py``: a tray even on offscreen Qt)
FLOOR_CMD = [sys.executable, str(BENCH / "marks.py"), "floor"]
TRAY_CMD = [sys.executable, str(BENCH / "marks.py"), "app", "--demo"]


# --------------------------------------------------------------------------- start-up


@dataclass
class Start:
    tray: float
    loop: float


def start_once(which: str, args: list[str], home: Path, timeout: float = 30.0) -> Start:
    """Seconds from spawning ``bench/marks.py`` to the tray icon shown and the event loop."""
    cmd = [sys.executable, str(BENCH / "marks.py"), which, *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=isolated_env(home)
    )
    marks: dict[str, float] = {}
    try:
        assert proc.stdout is not None
        deadline = started + timeout
        while len(marks) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("MARK "):
                _, name, stamp = line.split()
                marks[name] = float(stamp) - started
    finally:
        proc.terminate()
        proc.wait(10)
    if len(marks) < 2:
        raise RuntimeError(f"{which} {' '.join(args)} exited before its event loop: {marks}")
    return Start(marks["tray"], marks["loop"])


def startup(runs: int = 5) -> tuple[list[Start], list[Start]]:
    """(floor, app) start times, alternating runs; app list empty when there is no tray app."""
    floor: list[Start] = []
    app: list[Start] = []
    missing = tray_available()
    with tempfile.TemporaryDirectory(prefix="ticketbell-bench-") as tmp:
        start_once("floor", [], Path(tmp))  # warm the disk cache for both alike
        if not missing:
            start_once("app", ["--demo"], Path(tmp))
        for _ in range(runs):
            floor.append(start_once("floor", [], Path(tmp)))
            if not missing:
                app.append(start_once("app", ["--demo"], Path(tmp)))
    return floor, app


# --------------------------------------------------------------------------- idle


class Idle:
    """A process left alone: CPU counted from :meth:`begin`, memory read at :meth:`end`."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.cpu0 = 0.0
        self.t0 = 0.0
        self.cpu_seconds = 0.0
        self.wall = 0.0
        self.rss = 0

    def begin(self) -> None:
        self.check()
        self.cpu0, self.t0 = cpu(self.proc.pid), time.monotonic()

    def end(self) -> None:
        self.check()
        self.cpu_seconds = cpu(self.proc.pid) - self.cpu0
        self.wall = time.monotonic() - self.t0
        self.rss = rss(self.proc.pid)
        self.proc.terminate()
        self.proc.wait(10)

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-600:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {tail}")

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.cpu_seconds / self.wall if self.wall else 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


# --------------------------------------------------------------------------- packaged


def packaged_binary() -> Path | None:
    """The one-folder build of ``make package``, if there is one."""
    exe = ROOT / "dist" / "ticketbell" / ("ticketbell.exe" if os.name == "nt" else "ticketbell")
    return exe if exe.exists() else None


def build_package() -> Path | None:
    """Build the one-folder bundle as ``make package`` does (without the .deb); about a minute."""
    script = ROOT / "packaging" / "build.py"
    if not script.exists():
        return None
    subprocess.run([sys.executable, str(script), "--no-deb"], check=True, cwd=ROOT)
    return packaged_binary()


def run_time(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``ticketbell check`` (exit 0-2: it ran; 3 or worse: it failed)."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1, 2):
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr[-400:]!r}")
    return elapsed


def packaged(exe: Path, runs: int = 5) -> tuple[list[float], list[float]]:
    """(python -m, packaged) times of ``ticketbell check --demo --json``, a whole command."""
    with tempfile.TemporaryDirectory(prefix="ticketbell-bench-") as tmp:
        env = isolated_env(Path(tmp))
        plain, frozen = [], []
        args = ["check", "--demo", "--json"]
        run_time(ticketbell_cmd(*args), env)
        run_time([str(exe), *args], env)
        for _ in range(runs):
            plain.append(run_time(ticketbell_cmd(*args), env))
            frozen.append(run_time([str(exe), *args], env))
    return plain, frozen


def median(values: list[float]) -> float:
    return statistics.median(values)
