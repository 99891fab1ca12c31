"""The keyboard's focus is seen: each control Tab stops at in Settings (each page), the wizard,
the dashboard and the ticket list looks different with the focus than without, in the style
the app runs with (no style sheet of ours hides the focus frame)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from agent import config as config_module
from agent.sources import KINDS
from tests.test_ui_access import CONFIG, ListOwner, shown_controls, spoken_name, status, waiting
from tests.test_ui_tray import NOW, status_of
from tests.test_ui_tray import waiting as tray_waiting
from ui.dashboard import Dashboard
from ui.settings import FirstRunWizard, SettingsDialog
from ui.ticket_list import TicketListWindow


@pytest.fixture(autouse=True)
def discard_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """The windows are closed with edits unsaved: their question is answered "Discard"."""
    answer = QMessageBox.StandardButton.Discard
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kw: answer)


def looks(widget: QWidget) -> Any:
    QApplication.processEvents()
    return widget.grab().toImage()


def unseen_focus(qtbot: Any, window: QWidget) -> list[str]:
    """The controls shown in ``window`` that look the same with the focus and without, the
    focus moved by Tab as a keyboard does (a style draws its focus frame only then)."""
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    controls = shown_controls(window)
    controls[0].setFocus()
    qtbot.keyClick(controls[0], Qt.Key.Key_Tab)  # the focus moved by the keyboard from now on
    unseen = []
    for _ in controls:
        control = QApplication.focusWidget()
        assert control is not None
        focused = looks(control)
        qtbot.keyClick(control, Qt.Key.Key_Tab)
        assert QApplication.focusWidget() is not control, (
            f"Tab is stuck in {spoken_name(control)!r}"
        )
        if looks(control) == focused:
            unseen.append(f"{type(control).__name__} {spoken_name(control)!r}")
    return unseen


def test_the_focus_is_seen_on_every_settings_page(qtbot: Any, tmp_path: Path) -> None:
    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    for tab in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(tab)
        unseen = unseen_focus(qtbot, dialog)
        assert unseen == [], f"{dialog.tabs.tabText(tab)}: {unseen}"


def test_the_focus_is_seen_in_the_wizard(qtbot: Any, tmp_path: Path) -> None:
    wizard = FirstRunWizard(tmp_path / "t.toml")
    qtbot.addWidget(wizard)
    assert unseen_focus(qtbot, wizard) == []
    wizard.next()
    assert unseen_focus(qtbot, wizard) == []


def test_the_focus_is_seen_in_the_owner_s_windows(qtbot: Any) -> None:
    dash = Dashboard(status(waiting("1", "Billing", 30, at_risk=True)), CONFIG)
    qtbot.addWidget(dash)
    unseen = unseen_focus(qtbot, dash)
    assert unseen == [], str(unseen)
    window = TicketListWindow(ListOwner())  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.update_view(status_of([tray_waiting("1", 5), tray_waiting("2", 50)]), NOW)
    assert unseen_focus(qtbot, window) == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_tab_goes_through_every_helpdesk_form_seen_and_never_stuck(
    qtbot: Any, tmp_path: Path, kind: str
) -> None:
    """Tab leaves each field of each kind's form (a key/value table too: its arrows go from
    cell to cell), and each shows it has the focus."""
    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData(kind))
    assert unseen_focus(qtbot, dialog) == [], kind
