"""A corrupt or hostile config file at start: the tray app opens Settings showing the file and
the key at fault, instead of crashing or quitting; fixing it there starts the agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel

from agent.cli import build_parser
from ui.app import TicketbellApp
from ui.settings import SettingsDialog

CASES = [
    ('role = "owner"\n[[sources]\nname = "x"\n', "", "not valid TOML"),
    ("\x00\x01\x02", "", "not valid TOML"),
    (
        '[[sources]]\nname = "Desk"\nkind = "demo"\ninterval = "-5m"\n',
        "sources[0].interval",
        "negative",
    ),
    (
        '[[sources]]\nname = "Desk"\nkind = "demo"\ntimeout = nan\n',
        "sources[0].timeout",
        "out of range",
    ),
    ("[alerts]\ndue_soon = inf\n", "alerts.due_soon", "out of range"),
    ('[alerts]\nsound = "../../../../etc/passwd"\n', "alerts.sound", ".wav"),
    ('retention = "999999999999999999999d"\n', "retention", "far too long"),
]

MARKED = ("sources[0].interval", "alerts.sound")  # keys with a field of their own in Settings


@pytest.mark.parametrize(("text", "key", "words"), CASES, ids=[c[1] or c[2] for c in CASES])
def test_a_broken_config_opens_settings_naming_file_and_key(
    qtbot: Any, tmp_path: Path, text: str, key: str, words: str, record_property: Any
) -> None:
    record_property("fault", "broken config file at tray start")
    path = tmp_path / "ticketbell.toml"
    path.write_text(text, encoding="utf-8")
    args = build_parser().parse_args(["--config", str(path), "--data-dir", str(tmp_path / "d")])
    shell = TicketbellApp(args, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    try:
        shell.start()  # must not raise
        dialog = shell.dialog
        assert isinstance(dialog, SettingsDialog)
        qtbot.waitExposed(dialog)
        assert shell.agent is None  # nothing runs on a config that does not load
        banner = dialog.banner.text()
        assert not dialog.banner.isHidden()
        assert str(path) in banner and words in banner, banner
        if key:
            assert f": {key}: " in banner, banner
        assert "Not saved" not in banner  # nothing was being saved: the file could not be used
        field_errors = [label.text() for label in dialog.findChildren(QLabel) if label.isVisible()]
        if key in MARKED:  # also marked in red at its field, on the page now shown
            assert any(words in t and str(path) not in t for t in field_errors), field_errors
    finally:
        shell.shutdown()
        if shell.dialog is not None:
            shell.dialog.hide()
