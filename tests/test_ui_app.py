"""The app shell: agent events reach the main thread, one instance per data folder."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QSettings

from agent.config import demo_config, from_dict
from agent.engine import Agent
from agent.model import Snapshot
from agent.queue import LocalQueue
from agent.sources.base import Source, Unavailable
from tests.conftest import ROOT
from tests.test_ui_tray import Commands
from ui.app import Bridge, InstanceServer, instance_name, signal_running
from ui.badge import BadgeState, badge_state
from ui.sound import SoundPlayer
from ui.tray import Tray


def test_bridge_delivers_agent_events_on_the_main_thread(qtbot, tmp_path) -> None:
    agent = Agent(demo_config(), LocalQueue(tmp_path / "data"))
    bridge = Bridge()
    seen: list[tuple[str, bool]] = []
    emitted_from: list[str] = []

    def on_status(status) -> None:
        emitted_from.append(threading.current_thread().name)
        bridge.on_status(status)

    bridge.status_changed.connect(
        lambda s: seen.append(("status", threading.current_thread() is threading.main_thread()))
    )
    bridge.alerts_raised.connect(
        lambda a: seen.append(("alerts", threading.current_thread() is threading.main_thread()))
    )
    agent.subscribe(on_status, bridge.on_alerts)
    try:
        with qtbot.waitSignals([bridge.status_changed, bridge.alerts_raised], timeout=10_000):
            agent.start()
    finally:
        agent.stop()
    assert emitted_from and emitted_from[0] == "ticketbell-scheduler"
    assert ("status", True) in seen and ("alerts", True) in seen
    assert all(on_main for _, on_main in seen)


class DownSource(Source):
    kind = "demo"
    needs_secret = False

    def fetch(self, since: datetime | None) -> Snapshot:
        raise Unavailable("Support desk answered HTTP 503 (service unavailable)")


def test_a_failing_source_shows_cannot_see_not_zero(qtbot, tmp_path) -> None:
    config = from_dict({"sources": [{"name": "Support desk", "kind": "demo"}]})
    agent = Agent(
        config, LocalQueue(tmp_path / "data"), source_factory=lambda c, clock: DownSource(c)
    )
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    tray = Tray(Commands(), config, SoundPlayer(settings), tray_available=True)
    bridge = Bridge()
    bridge.status_changed.connect(tray.show_status)
    agent.subscribe(bridge.on_status)
    try:
        agent.start()
        qtbot.waitUntil(lambda: bool(tray.status.failing), timeout=10_000)
    finally:
        agent.stop()
        tray.hide()
    assert badge_state(tray.status) is BadgeState.BLIND
    tip = tray.tray.toolTip()
    assert "cannot see" in tip and "HTTP 503" in tip
    assert "0 waiting" not in tip


def test_second_start_signals_the_first(qtbot, tmp_path, cli_env) -> None:
    data = tmp_path / "data"
    server = InstanceServer(instance_name(data))
    try:
        with qtbot.waitSignal(server.activated, timeout=5000):
            assert signal_running(instance_name(data))
        # a real second `ticketbell` on the same data folder hands over and exits
        proc = subprocess.Popen(
            [sys.executable, "-m", "ticketbell", "--demo", "--data-dir", str(data)],
            env=cli_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with qtbot.waitSignal(server.activated, timeout=30_000):
            pass
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "already running" in err
    finally:
        server.close()
    assert not signal_running(instance_name(Path(tmp_path / "elsewhere")), timeout_ms=200)


#: what the demo tray must not load: a helpdesk over HTTPS, a channel or a team hub loads them
#: when configured (bench/README.md: start to tray icon, idle RSS; one import of the HTTP stack
#: at the top of a module the engine imports cost the demo 10 MiB and a fifth of its start)
NOT_IN_THE_DEMO = ("requests", "urllib3", "ssl", "apprise", "paho", "authlib")

DEMO_TRAY = f"""
import sys
from pathlib import Path
import ui.app, ui.menu, ui.notifications, ui.tray
from agent.config import demo_config
from agent.engine import Agent
from agent.queue import LocalQueue
agent = Agent(demo_config(), LocalQueue(Path(sys.argv[1])))
agent.poll_once()
agent.stop()
print(" ".join(m for m in {NOT_IN_THE_DEMO!r} if m in sys.modules))
"""


def test_the_demo_tray_and_its_agent_load_no_http_stack(tmp_path, cli_env) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DEMO_TRAY, str(tmp_path / "data")],
        env={**cli_env, "QT_QPA_PLATFORM": "offscreen"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"the demo tray loaded {done.stdout.strip()}"


def test_the_demo_starts_with_its_icon_then_its_menu_and_sounds(
    qtbot, tmp_path, monkeypatch
) -> None:
    """The icon and its tooltip come first; the agent, the menu and the sounds follow in the
    event loop's first turns (bench/README.md, start to tray icon)."""
    from PySide6.QtWidgets import QSystemTrayIcon

    from agent.cli import build_parser
    from tests.test_ui_tray import ticket_actions
    from ui.app import TicketbellApp

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    args = build_parser().parse_args(["--demo", "--data-dir", str(tmp_path / "data")])
    app = TicketbellApp(args, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    loaded: list[object] = []  # the sounds' configure calls (the tests' player loads nothing)
    configure = app.sound.configure
    app.sound.configure = lambda alerts: (loaded.append(alerts), configure(alerts))
    app.start()
    try:
        tray = app.tray
        assert tray.tray is not None and tray.tray.isVisible()
        assert tray.tray.toolTip()
        assert not loaded  # the sounds are loaded once the icon is up
        qtbot.waitUntil(lambda: len(ticket_actions(tray.menu)) > 0, timeout=10_000)
        assert "Quit" in [a.text() for a in tray.menu.actions()]
        qtbot.waitUntil(lambda: bool(loaded), timeout=10_000)
        qtbot.waitUntil(lambda: app.agent.passes > 0, timeout=10_000)  # and the agent runs
    finally:
        app.shutdown()


SIGTERM_BEFORE_THE_LOOP = """
import os, signal, sys
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

QSystemTrayIcon.isSystemTrayAvailable = staticmethod(lambda: True)  # as on a desktop
loop = QApplication.exec

def stopped_first(*_):
    os.kill(os.getpid(), signal.SIGTERM)  # its handler runs here, before the loop does
    return loop()

QApplication.exec = stopped_first
from ticketbell import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_sigterm_that_comes_before_the_event_loop_still_stops_the_app(tmp_path, cli_env) -> None:
    """A session that ends (or a `kill`) while Ticketbell is still starting: the app stops,
    its queue saved, instead of running on with its agent stopped."""
    data = tmp_path / "data"
    cli_env["QT_QPA_PLATFORM"] = "offscreen"
    args = ["--demo", "--data-dir", str(data)]
    done = subprocess.run(  # a hanging app is killed at the timeout, and the test fails
        [sys.executable, "-c", SIGTERM_BEFORE_THE_LOOP, *args],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert not signal_running(instance_name(data), timeout_ms=200)  # its instance ended too
