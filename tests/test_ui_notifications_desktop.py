"""Pressing a notification's buttons in a real notification server: dunst, on a desktop.

The desktop is the tests' own (tests/desktop.py: Xvfb, a private session bus, dunst with dmenu
as its menu), started for this module and stopped after it; the Qt app stays offscreen, since
it talks to dunst over D-Bus only. A button is pressed the way a person does it in dunst:
``dunstctl context`` opens the menu of the notification's actions (dmenu), the action's name is
typed and Enter pressed; ``dunstctl action 0`` is a click on the notification (its default
action). tests/test_ui_notifications.py covers the same against a fake server.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.desktop import Desktop, desktop, on_desktop  # noqa: F401 - fixtures
from tests.test_ui_notifications import Recorder, alert
from tests.test_ui_tray import SOURCE, make_tray, qsettings  # noqa: F401
from ui.notifications import DesktopNotifier


def press(label: str, of: str) -> None:
    """Choose the button ``label`` of the notification titled ``of`` in dunst's context menu,
    which lists every button of every notification shown as "#label (title) [id,key]"."""
    menu = subprocess.Popen(
        ["dunstctl", "context"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not subprocess.run(
            ["xdotool", "search", "--class", "dmenu"], capture_output=True
        ).stdout:
            assert time.monotonic() < deadline, "dunst's menu (dmenu) did not open"
            time.sleep(0.1)
        time.sleep(0.3)  # dmenu grabs the keyboard before its window is made; let it draw
        typed = f"{label} ({of})"
        subprocess.run(["xdotool", "type", "--delay", "20", typed], check=True, timeout=10)
        subprocess.run(["xdotool", "key", "Return"], check=True, timeout=10)
        menu.wait(10)
    finally:
        if menu.poll() is None:
            menu.kill()
            menu.wait(5)


@pytest.fixture
def desktop_tray(make_tray, on_desktop: Desktop) -> Iterator[Any]:  # noqa: F811 - fixtures
    tray = make_tray(notifier=DesktopNotifier())
    tray.agent = Recorder()
    yield tray
    tray.hide()  # stops the notifier's thread before the desktop goes


def test_buttons_pressed_in_dunst_reach_the_agent(desktop_tray, qtbot) -> None:
    tray = desktop_tray
    tray.show_alerts((alert("overdue"),))
    qtbot.waitUntil(lambda: bool(tray.notices), timeout=10_000)
    press("I'm on it", of="1 overdue ticket: Billing")
    qtbot.waitUntil(lambda: bool(tray.agent.calls), timeout=10_000)
    assert tray.agent.calls == [("ack", SOURCE, "5", False)]
    qtbot.waitUntil(lambda: any(n.undo == "ack" for n in tray.notices.values()), timeout=10_000)
    press("Undo", of="You're on it")
    qtbot.waitUntil(lambda: len(tray.agent.calls) == 2, timeout=10_000)
    assert tray.agent.calls[1] == ("ack", SOURCE, "5", True)

    tray.show_alerts((alert("new", "8"),))
    qtbot.waitUntil(lambda: any(t.id == "8" for n in tray.notices.values() for t in n.tickets))
    press("Snooze 15 min", of="1 new ticket: Billing")
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
