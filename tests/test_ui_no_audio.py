"""The tray and app tests do not depend on the machine's sound (conftest's ``sound_double``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QSettings

from agent.config import Alerts
from tests.conftest import ROOT
from ui.sound import SoundPlayer


def test_the_double_loads_no_sound_and_records_what_was_asked(
    qtbot, tmp_path: Path, sound_double: bool
) -> None:
    assert sound_double
    player = SoundPlayer(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), Alerts())
    assert player.effects == {}  # no QSoundEffect was made: no audio system is touched
    assert player.play("urgent") is True
    assert player.requested == ["urgent"]


def test_the_no_audio_plugin_makes_qt_multimedia_unloadable() -> None:
    probe = "import tests.no_audio\nfrom PySide6.QtMultimedia import QSoundEffect"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "import of PySide6.QtMultimedia halted" in done.stderr  # ModuleNotFoundError


def test_tray_and_app_tests_pass_where_qt_cannot_play_sound(tmp_path: Path) -> None:
    """What a missing libpulse once did to 41 tests that were not about sound."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"),
            *("-p", "tests.no_audio", "--basetemp", str(tmp_path / "run")),
            *("tests/test_ui_tray.py", "tests/test_ui_app.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
