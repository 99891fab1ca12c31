"""Pressing a notification's buttons in a real notification server: dunst, on a desktop.

Runs where dunst owns the session bus's notification service and can show its context menu
(dmenu) on an X display: the virtual desktop of the development tools does, e.g.
``run-in-desktop.sh out -- python -m pytest tests/test_ui_notifications_desktop.py``; anywhere
else it is skipped, saying why. A button is pressed the way a person does it in dunst:
``dunstctl context`` opens the menu of the notification's actions (dmenu), the action's name is
typed and Enter pressed; ``dunstctl action 0`` is a click on the notification (its default
action). tests/test_ui_notifications.py covers the same against a fake server on any machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_ui_notifications import Recorder, alert
from tests.test_ui_tray import SOURCE, make_tray, qsettings  # noqa: F401
from ui.notifications import DesktopNotifier


def dunst_running() -> str:
    """Why this test cannot run here ("" when it can)."""
    for tool in ("dunstctl", "dmenu", "xdotool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/system-deps.sh desktop)"
    if not os.environ.get("DISPLAY") or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no X display or session bus: run it in the virtual desktop"
    probe = subprocess.run(["dunstctl", "is-paused"], capture_output=True, text=True, timeout=5)
    return "" if probe.returncode == 0 else "dunst is not running on this session bus"


def press(label: str) -> None:
    """Choose ``label`` in dunst's context menu of the newest notification."""
    menu = subprocess.Popen(
        ["dunstctl", "context"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # dmenu grabs the keyboard once its window is up
        found = subprocess.run(["xdotool", "search", "--class", "dmenu"], capture_output=True)
        if found.stdout.strip():
            break
        time.sleep(0.1)
    time.sleep(0.3)
    subprocess.run(["xdotool", "type", "--delay", "20", label], check=True, timeout=10)
    subprocess.run(["xdotool", "key", "Return"], check=True, timeout=10)
    menu.wait(10)


@pytest.fixture
def desktop_tray(make_tray) -> Iterator[Any]:  # noqa: F811 - the imported fixture
    why = dunst_running()
    if why:
        pytest.skip(why)
    subprocess.run(["dunstctl", "close-all"], check=True, timeout=5)
    tray = make_tray(notifier=DesktopNotifier())
    tray.agent = Recorder()
    yield tray
    tray.hide()
    subprocess.run(["dunstctl", "close-all"], timeout=5)


def test_buttons_pressed_in_dunst_reach_the_agent(desktop_tray, qtbot) -> None:
    tray = desktop_tray
    tray.show_alerts((alert("overdue"),))
    qtbot.waitUntil(lambda: bool(tray.notices), timeout=10_000)
    press("I'm on it")
    qtbot.waitUntil(lambda: bool(tray.agent.calls), timeout=10_000)
    assert tray.agent.calls == [("ack", SOURCE, "5", False)]
    qtbot.waitUntil(lambda: any(n.undo == "ack" for n in tray.notices.values()), timeout=10_000)
    press("Undo")
    qtbot.waitUntil(lambda: len(tray.agent.calls) == 2, timeout=10_000)
    assert tray.agent.calls[1] == ("ack", SOURCE, "5", True)

    tray.show_alerts((alert("new", "8"),))
    qtbot.waitUntil(lambda: any(t.id == "8" for n in tray.notices.values() for t in n.tickets))
    press("Snooze 15 min")
    qtbot.waitUntil(lambda: len(tray.agent.calls) == 3, timeout=10_000)
    assert tray.agent.calls[2] == ("snooze", SOURCE, "8", 15)


def test_a_click_in_dunst_opens_the_ticket(desktop_tray, qtbot) -> None:
    tray = desktop_tray
    tray.show_alerts((alert("new", "8"),))
    qtbot.waitUntil(lambda: bool(tray.notices), timeout=10_000)
    subprocess.run(["dunstctl", "action", "0"], check=True, timeout=5)
    qtbot.waitUntil(lambda: bool(tray.opened), timeout=10_000)
    assert [u.toString() for u in tray.opened] == [alert("new", "8").url]
    assert tray.agent.calls == []
