"""A desktop of the test's own: an X display (Xvfb), a session bus and dunst on both.

Tests that need a real notification server (pressing its buttons, reading its do-not-disturb)
use the ``desktop`` fixture (one per test module: Xvfb on the first free display number of
this worker's range, :func:`start_x`; a private ``dbus-daemon``; dunst with a generated
dunstrc, dmenu as its menu) and ``on_desktop`` (per test: DISPLAY and DBUS_SESSION_BUS_ADDRESS
point at it, no notification is left from the test before and dunst is not paused).
Everything started is stopped when the module ends. ``make test`` installs the tools
(scripts/system-deps.sh, group ``test``); where one is missing the tests fail, naming the
package.

The bus has no service files: a call to a name nobody owns fails as on a desktop without that
service, instead of starting this machine's own dunst.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.fakes.desktop_bus import CONFIG as BUS_CONFIG

#: each tool, and the Debian package it comes in
TOOLS = {
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus-daemon",
    "dunst": "dunst",
    "dunstctl": "dunst",
    "dbus-send": "dbus-bin",  # dunstctl's
    "dmenu": "suckless-tools",
    "xdotool": "xdotool",
}


# Notifications stay until closed (timeout 0), so a slow machine still finds them to press;
# idle_threshold 0: Xvfb has no person at it, and an idle dunst would keep notifications anyway.
DUNSTRC = """[global]
    dmenu = dmenu -p dunst
    browser = /bin/false
    idle_threshold = 0
    show_indicators = no
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""

SCREEN = "1280x800x24"
# -noreset: without it the server regenerates whenever its last client leaves, closing every
# connection still being set up: at-spi-bus-launcher opens the display, sets the accessibility
# bus's address on the root window and closes it, so a window started just then failed with
# "could not connect to display" (16 of 100 starts beside a client that comes and goes, none
# with -noreset), and the address it had set was wiped.
XVFB_OPTIONS = ("-nolisten", "tcp", "-noreset")
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class Desktop:
    display: str  # ":N"
    bus: str  # the session bus's address

    def env(self) -> dict[str, str]:
        """The process environment of a program on this desktop."""
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env.update(DISPLAY=self.display, DBUS_SESSION_BUS_ADDRESS=self.bus)
        return env

    def dunstctl(self, *args: str) -> str:
        done = subprocess.run(
            ["dunstctl", *args], env=self.env(), capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise RuntimeError(f"dunstctl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()


def missing_tools() -> str:
    """What is missing to start a desktop here, naming the package ("" when nothing is)."""
    missing = [f"{tool} (package {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)]
    if not missing:
        return ""
    return f"not installed: {', '.join(missing)}; scripts/system-deps.sh test installs them"


@contextmanager
def running(args: list[str], **kw: object) -> Iterator[subprocess.Popen[str]]:
    """A process that is stopped (terminated, killed if it must be) when the block ends."""
    proc = subprocess.Popen(args, text=True, **kw)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def first_line(proc: subprocess.Popen[str], what: str) -> str:
    """The first line the process prints: its address or display, once it is ready."""
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        raise RuntimeError(f"{what} did not start (exit status {proc.wait(5)})")
    return line


def start_x(stack: ExitStack, screen: str = SCREEN, log: Path | None = None) -> str:
    """Xvfb on a free display, its one screen ``screen`` (width x height x depth) big; what it
    says goes to ``log`` (if given), for a failing test to show.

    The display number is looked for from :func:`first_display` up: the suite's workers run at
    once (``make test``), and an X server that is stopping unlinks the socket file of its
    number after it stopped listening on it, so a second worker's server just started on the
    number it freed would lose its socket ("could not connect to display :0")."""
    said = stack.enter_context(log.open("a")) if log else subprocess.DEVNULL
    for number in range(first_display(), first_display() + DISPLAYS_PER_WORKER):
        if Path(f"/tmp/.X{number}-lock").exists():
            continue
        read, write = os.pipe()
        args = ["Xvfb", f":{number}", "-displayfd", str(write), "-screen", "0", screen]
        try:
            xvfb = stack.enter_context(
                running(
                    [*args, *XVFB_OPTIONS],
                    pass_fds=(write,),
                    stdout=subprocess.DEVNULL,
                    stderr=said,
                )
            )
        finally:
            os.close(write)
        with os.fdopen(read) as numbers:  # the display number, written once it accepts clients
            started = numbers.readline().strip()
        if started:
            return f":{started}"
        xvfb.wait(5)  # taken meanwhile (by a server of this machine's own): the next one
    raise RuntimeError(f"Xvfb did not start: no free display from :{first_display()}")


#: display numbers each worker of the suite may take, from :func:`first_display`
DISPLAYS_PER_WORKER = 100


def first_display() -> int:
    """The first display number this process looks at: each pytest-xdist worker ("gw0",
    "gw1", ...) has a range of its own, above the numbers a person's own X servers take."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return 100 + DISPLAYS_PER_WORKER * index


def start_bus(stack: ExitStack, where: Path) -> str:
    config = where / "bus.conf"
    config.write_text(BUS_CONFIG.format(dir=where), encoding="utf-8")
    daemon = stack.enter_context(
        running(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    )
    return first_line(daemon, "dbus-daemon")


def start_dunst(stack: ExitStack, desktop: Desktop, where: Path) -> None:
    rc = where / "dunstrc"
    rc.write_text(DUNSTRC, encoding="utf-8")
    log = stack.enter_context((where / "dunst.log").open("w", encoding="utf-8"))
    dunst = stack.enter_context(
        running(["dunst", "-config", str(rc)], env=desktop.env(), stdout=log, stderr=log)
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:  # ready once it owns org.freedesktop.Notifications and answers its own calls
        try:
            desktop.dunstctl("is-paused")
            return
        except RuntimeError:
            if dunst.poll() is not None or time.monotonic() > deadline:
                said = (where / "dunst.log").read_text(encoding="utf-8")
                raise RuntimeError(f"dunst did not start on {desktop.display}: {said}") from None
            time.sleep(0.1)


@contextmanager
def desktop_running() -> Iterator[Desktop]:
    """Xvfb, a session bus and dunst, all stopped (dunst first) when the block ends."""
    with ExitStack() as stack:
        where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tb-desktop-")))
        display = start_x(stack)
        desktop = Desktop(display, start_bus(stack, where))
        start_dunst(stack, desktop, where)
        yield desktop


def missing_system_package(why: str) -> NoReturn:
    """A tool from scripts/system-deps.sh is missing: the test fails, naming it. ``make test``
    installs them all, so a missing one is a broken install step, which a skip would hide."""
    pytest.fail(f"{why} (scripts/system-deps.sh test installs it; `make test` runs it)")


@pytest.fixture(scope="module")
def desktop() -> Iterator[Desktop]:
    why = missing_tools()
    if why:
        missing_system_package(why)
    with desktop_running() as started:
        yield started


@pytest.fixture
def on_desktop(desktop: Desktop, monkeypatch: pytest.MonkeyPatch) -> Desktop:
    """This test runs on ``desktop``: its environment points at it; dunst shows nothing from
    the test before and is not paused."""
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", desktop.display)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desktop.bus)
    desktop.dunstctl("close-all")
    desktop.dunstctl("set-paused", "false")
    return desktop
