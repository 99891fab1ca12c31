"""The Settings window as a screen reader meets it: on the tests' own X display, with Qt's
accessibility on the AT-SPI bus, tests/atspi_walk.py (the system's python3 with Debian's
python3-pyatspi) finds every field by its accessible name and presses Tab through them, and
the focus goes in the order they are seen.

Started here and stopped at the end: Xvfb, a private session bus, at-spi-bus-launcher (the
accessibility bus and, on its first call, at-spi2-registryd), the Settings window in a child
process. Where a package is missing the test is skipped, naming it (scripts/system-deps.sh
test installs them).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect

from tests.desktop import missing_system_package, running, start_bus, start_x
from tests.test_ui_access import goes_back

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "ticketbell-settings-under-test"
# the Settings window on its own (the demo's settings), shown until it is terminated
SETTINGS_APP = f"""
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from agent import config
from ui.settings import SettingsDialog
app = QApplication(sys.argv)
app.setApplicationName({APP_NAME!r})
dialog = SettingsDialog(Path(sys.argv[1]), config.demo_config())
dialog.show()
dialog.activateWindow()
app.exec()
"""
LAUNCHER = Path("/usr/libexec/at-spi-bus-launcher")
SYSTEM_PYTHON = "/usr/bin/python3"
# the roles of controls a person works (not a list's items, not the window's panes)
CONTROLS = {
    "push button",
    "check box",
    "radio button",
    "combo box",
    "text",
    "password text",
    "spin button",
    "slider",
    "list",
    "table",
    "page tab list",
    "tree",
}


def missing() -> str:
    needs = {"Xvfb": "xvfb", "dbus-daemon": "dbus-daemon", "xdotool": "xdotool"}
    gone = [f"{tool} (package {pkg})" for tool, pkg in needs.items() if not shutil.which(tool)]
    if not LAUNCHER.exists():
        gone.append(f"{LAUNCHER.name} (package at-spi2-core)")
    probe = [SYSTEM_PYTHON, "-c", "import pyatspi"]
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run(probe, capture_output=True).returncode:
        gone.append("pyatspi for /usr/bin/python3 (package python3-pyatspi)")
    return (
        f"not installed: {', '.join(gone)}; scripts/system-deps.sh test installs them"
        if gone
        else ""
    )


@pytest.fixture
def a11y_desktop() -> Iterator[dict[str, str]]:
    """The environment of a program on a display of its own with an accessibility bus."""
    if reason := missing():
        missing_system_package(reason)
    with ExitStack() as stack:
        where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tb-a11y-")))
        display = start_x(stack)
        bus = start_bus(stack, where)
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env.update(DISPLAY=display, DBUS_SESSION_BUS_ADDRESS=bus)
        log = stack.enter_context((where / "launcher.log").open("w", encoding="utf-8"))
        stack.enter_context(
            running([str(LAUNCHER), "--launch-immediately"], env=env, stdout=log, stderr=log)
        )
        yield env


def walk_settings(env: dict[str, str], tmp_path: Path, tabs: int) -> dict[str, Any]:
    app_env = {**env, "QT_QPA_PLATFORM": "xcb", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}
    app_env["PYTHONPATH"] = str(ROOT)
    with (
        (tmp_path / "app.log").open("w") as log,
        running(
            [sys.executable, "-c", SETTINGS_APP, str(tmp_path / "t.toml")],
            env=app_env,
            stdout=log,
            stderr=log,
            cwd=ROOT,
        ),
    ):
        done = subprocess.run(
            [SYSTEM_PYTHON, str(ROOT / "tests" / "atspi_walk.py"), APP_NAME, str(tabs)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr + (tmp_path / "app.log").read_text()
    return json.loads(done.stdout)


def heard(control: dict[str, Any]) -> str:
    """What a screen reader announces as the control: its label, else its name."""
    return control["label"] or control["name"]


def test_a_screen_reader_finds_every_field_and_tabs_in_reading_order(
    a11y_desktop: dict[str, str], tmp_path: Path
) -> None:
    found = walk_settings(a11y_desktop, tmp_path, tabs=16)
    controls = [c for c in found["controls"] if c["role"] in CONTROLS]
    assert [c for c in controls if not heard(c)] == []
    # a combo box's name is its value: what it is comes from the label it is labelled by
    assert [c["name"] for c in controls if c["role"] == "combo box" and not c["label"]] == []
    names = {heard(c) for c in controls}
    assert {"Helpdesks", "Helpdesk", "Name", "Check every", "Test connection", "Save"} <= names
    interval = next(c for c in controls if c["name"] == "Check every")
    assert interval["description"] == "e.g. 2m (empty: every 2 minutes)"
    chain = [c for c in found["chain"] if c is not None]
    first = chain[0]
    assert first["role"] == "page tab list"  # Tab starts at the top: the pages' tabs
    loop = chain[: chain.index(first, 1)]  # once round, back to the tabs
    assert {heard(c) for c in loop} == names, "Tab reaches every control once round"
    for a, b in itertools.pairwise(loop):
        assert not goes_back(QRect(*a["box"]), QRect(*b["box"])), (heard(a), heard(b))
