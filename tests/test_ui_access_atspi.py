"""Each window as a screen reader meets it: on the tests' own X display, with Qt's
accessibility on the AT-SPI bus, tests/atspi_walk.py (the system's python3 with Debian's
python3-pyatspi) goes through every page of Settings, of the first-run wizard, the dashboard
and the ticket list as a keyboard user does (a tab bar's Right arrow, the wizard's Alt+N), finds
every field by its accessible name and presses Tab once round each page: the focus goes in the
order the controls are seen.

Started here and stopped at the end: Xvfb, a private session bus, at-spi-bus-launcher (the
accessibility bus and, on its first call, at-spi2-registryd), the window in a child process
(tests/atspi_windows.py). Where a package is missing the test fails, naming it
(scripts/system-deps.sh test installs them).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect

from tests.atspi_windows import APP_NAME
from tests.desktop import missing_system_package, running, start_bus, start_x
from tests.test_ui_access import goes_back

ROOT = Path(__file__).resolve().parent.parent
SCREEN = "1280x1600x24"  # room for the tallest page unscrolled (tests/atspi_windows.py)
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
def a11y_desktop(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a program on a display of its own with an accessibility bus (what
    the X server says goes to the test's ``Xvfb.log``)."""
    if reason := missing():
        missing_system_package(reason)
    with ExitStack() as stack:
        where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tb-a11y-")))
        display = start_x(stack, SCREEN, tmp_path / "Xvfb.log")
        bus = start_bus(stack, where)
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env.update(DISPLAY=display, DBUS_SESSION_BUS_ADDRESS=bus)
        log = stack.enter_context((where / "launcher.log").open("w", encoding="utf-8"))
        stack.enter_context(
            running([str(LAUNCHER), "--launch-immediately"], env=env, stdout=log, stderr=log)
        )
        yield env


def walk(env: dict[str, str], tmp_path: Path, window: str, pages: int, next_key: str) -> Any:
    """What tests/atspi_walk.py finds on each of the ``pages`` of ``window``."""
    app_env = {**env, "QT_QPA_PLATFORM": "xcb", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1"}
    app_env["PYTHONPATH"] = str(ROOT)
    app_env["LANGUAGE"] = "en"
    with (
        (tmp_path / "app.log").open("w") as log,
        running(
            [sys.executable, "-m", "tests.atspi_windows", window, str(tmp_path)],
            env=app_env,
            stdout=log,
            stderr=log,
            cwd=ROOT,
        ),
    ):
        done = subprocess.run(
            [SYSTEM_PYTHON, str(ROOT / "tests" / "atspi_walk.py"), APP_NAME, str(pages), next_key],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if done.returncode != 0:
        probe = ["xdotool", "getdisplaygeometry"]  # does the display answer a client now?
        now = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30)
        pytest.fail(
            f"{done.stderr}\nthe window (app.log):\n{(tmp_path / 'app.log').read_text()}"
            f"\nthe X server on {env['DISPLAY']} (Xvfb.log):\n"
            f"{(tmp_path / 'Xvfb.log').read_text()}\n"
            f"after: xdotool getdisplaygeometry: {now.returncode} {now.stdout}{now.stderr}"
        )
    return json.loads(done.stdout)


def heard(control: dict[str, Any]) -> str:
    """What a screen reader announces as what the control is: its name, else the label it is
    labelled by (a combo box's name is its value: there only the label says what it is)."""
    if control["role"] == "combo box":
        return str(control["label"])
    return control["name"] or control["label"]


def reading_start(loop: list[dict[str, Any]]) -> int:
    """Where in a round of Tab reading starts: the control at the top, then the left."""
    return min(range(len(loop)), key=lambda i: (loop[i]["box"][1], loop[i]["box"][0]))


def check_page(page: dict[str, Any], where: str) -> set[str]:
    """Every control on ``page`` is heard by a name, none with a mnemonic's '&'; one round of
    Tab reaches each once, in reading order. The names heard."""
    controls = [c for c in page["controls"] if c["role"] in CONTROLS]
    assert controls, where
    assert [c for c in controls if not heard(c)] == [], where
    assert [heard(c) for c in controls if "&" in heard(c)] == [], where
    # a combo box's name is its value: what it is comes from the label it is labelled by
    combos = [c["name"] for c in controls if c["role"] == "combo box" and not c["label"]]
    assert combos == [], where
    chain = page["chain"]
    assert None not in chain, f"{where}: Tab leaves the window"
    spoken = [heard(c) for c in chain]
    assert chain[-1] == chain[0], f"{where}: Tab does not come round: {spoken}"
    loop = chain[:-1]
    nameless = [c for c in loop if not heard(c)]
    assert nameless == [], f"{where}: Tab stops at a control with no name"
    reached = [(c["role"], heard(c)) for c in loop if c["role"] in CONTROLS]
    enabled = [c for c in controls if c["enabled"]]  # a box ticked off: its fields are not
    assert sorted(reached) == sorted((c["role"], heard(c)) for c in enabled), (
        f"{where}: Tab reaches every control once round: {spoken}"
    )
    first = reading_start(loop)
    loop = loop[first:] + loop[:first]
    for a, b in itertools.pairwise(loop):
        assert not goes_back(QRect(*a["box"]), QRect(*b["box"])), (where, heard(a), heard(b))
        assert a["box"] != b["box"], (where, heard(a), heard(b))
    return {heard(c) for c in [*controls, *loop]}


def alt_keys(page: dict[str, Any], where: str) -> dict[str, str]:
    """Each control's Alt-shortcut as a screen reader hears it ("Alt+S"), by what it is heard
    as; none answers the same one as another on the page."""
    keys = {
        heard(c): k
        for c in page["controls"]
        if c["role"] in CONTROLS
        for k in dict.fromkeys(c["keys"])
        if k.startswith("Alt+")
    }
    twice = [k for k, n in Counter(keys.values()).items() if n > 1]
    assert twice == [], f"{where}: {[(h, k) for h, k in keys.items() if k in twice]}"
    return keys


SETTINGS_PAGES = ["Helpdesks", "Response times", "Alerts", "Escalation", "General"]


def test_a_screen_reader_finds_every_field_of_settings_in_reading_order(
    a11y_desktop: dict[str, str], tmp_path: Path
) -> None:
    pages = walk(a11y_desktop, tmp_path, "settings", len(SETTINGS_PAGES), "Right")
    heard_on = {t: check_page(page, t) for t, page in zip(SETTINGS_PAGES, pages, strict=True)}
    keys = {title: alt_keys(page, title) for title, page in zip(SETTINGS_PAGES, pages, strict=True)}
    for title, page in zip(SETTINGS_PAGES, pages, strict=True):
        buttons = [heard(c) for c in page["controls"] if c["role"] == "push button"]
        assert [b for b in buttons if b not in keys[title]] == [], f"{title}: no Alt-letter"
        assert keys[title]["Save"] == "Alt+S"
        first = page["chain"][0]
        assert first["role"] == "page tab list", title  # the page came by the tab bar's arrow
        assert first["name"] == title, "the tab bar reads the page it shows"
    common = {"Save", "Cancel", "Import…", "Export…"}
    helpdesks = {"Helpdesks", "Helpdesk", "Name", "Check every", "Test connection"}
    assert helpdesks | common <= heard_on["Helpdesks"]
    interval = next(c for c in pages[0]["controls"] if c["name"] == "Check every")
    assert interval["description"] == "e.g. 2m (empty: every 2 minutes)"
    response = {"Reply within", "Priority", "Add a rule", "Time zone", "Opens at"}
    assert response | common <= heard_on["Response times"]
    alerts = {"Sound", "Volume", "Play the sound", "Quiet hours", "Remind every"}
    assert alerts | common <= heard_on["Alerts"]
    assert {"Add a level", "Send at", "Add a place to tell"} | common <= heard_on["Escalation"]
    general = {"I am the", "Language", "Start Ticketbell when I log in"}
    assert general | common <= heard_on["General"]


def test_a_screen_reader_goes_through_the_wizard_in_reading_order(
    a11y_desktop: dict[str, str], tmp_path: Path
) -> None:
    pages = walk(a11y_desktop, tmp_path, "wizard", 4, "alt+n")
    titles = ["start", "connect", "categories", "done"]
    heard_on = {t: check_page(page, t) for t, page in zip(titles, pages, strict=True)}
    keys = {t: alt_keys(page, t) for t, page in zip(titles, pages, strict=True)}
    assert keys["start"]["Next >"] == "Alt+N"  # Qt's own
    assert keys["connect"]["Test connection"].startswith("Alt+")
    assert {"Try the demo now (no account needed)", "Next >", "Cancel"} <= heard_on["start"]
    assert {"Name", "Check every", "Test connection", "< Back"} <= heard_on["connect"]
    assert "Start Ticketbell when I log in" in heard_on["done"]
    assert (tmp_path / "t.toml").exists(), "the wizard went through to the end, saved"


@pytest.mark.parametrize(
    ("window", "names"),
    [
        ("dashboard", {"Waiting now by category", "Save as PNG…", "Save data as CSV…"}),
        ("tickets", {"Filter", "Waiting tickets"}),
    ],
)
def test_a_screen_reader_finds_the_owner_s_windows_in_reading_order(
    a11y_desktop: dict[str, str], tmp_path: Path, window: str, names: set[str]
) -> None:
    (page,) = walk(a11y_desktop, tmp_path, window, 1, "")
    assert names <= check_page(page, window)
