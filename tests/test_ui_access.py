"""What a keyboard or screen-reader user meets: every control of Settings (each page, each
helpdesk kind), the wizard, the dashboard and the ticket list has a name to be read out, and
Tab goes through them in the order they are seen (top to bottom, left to right)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QGroupBox,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QTabBar,
    QWidget,
)

from agent import config as config_module
from agent.config import Alerts
from agent.model import Alert
from agent.sources import KINDS
from tests.test_ui_dashboard import CONFIG, status, waiting
from tests.test_ui_tray import NOW, SOURCE, make_tray, qsettings, status_of
from tests.test_ui_tray import waiting as tray_waiting
from ui.access import focusable, plain
from ui.dashboard import Dashboard
from ui.settings import FirstRunWizard, SettingsDialog
from ui.ticket_list import TicketListWindow

__all__ = ["make_tray", "qsettings"]  # the tray's fixtures, used here


@pytest.fixture(autouse=True)
def discard_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """The windows are closed with edits unsaved: their question is answered "Discard"."""
    answer = QMessageBox.StandardButton.Discard
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kw: answer)


def spoken_name(widget: QWidget) -> str:
    """The name a screen reader reads for ``widget``, by Qt's rules: the label whose buddy it
    is, else the name set on it, else a button's or tab bar's own text. (Not asked of
    QAccessible here: PySide's wrappers of Qt's cached interfaces crash a later test; the
    real bus is read in test_ui_access_atspi.py.)"""
    labels = [label for label in widget.window().findChildren(QLabel) if label.buddy() is widget]
    if labels and labels[0].text():
        return labels[0].text().replace("&", "")
    if widget.accessibleName():
        return widget.accessibleName()
    if isinstance(widget, QAbstractButton):
        return widget.text().replace("&", "")
    if isinstance(widget, QGroupBox):  # a box ticked on and off: its title
        return widget.title().replace("&", "")
    if isinstance(widget, QTabBar):
        return plain(widget.tabText(widget.currentIndex()))
    return ""


def shown_controls(root: QWidget) -> list[QWidget]:
    """The controls Tab can reach in ``root`` as it is shown now."""
    found = [w for w in root.findChildren(QWidget) if focusable(w) and w.isVisible()]
    return [w for w in found if w.isEnabled() and not isinstance(w, QLabel)]


def unnamed(root: QWidget) -> list[str]:
    return [
        f"{type(w).__name__} in {describe(w)}" for w in shown_controls(root) if not spoken_name(w)
    ]


def describe(widget: QWidget) -> str:
    parents = []
    while (widget := widget.parentWidget()) is not None:
        parents.append(type(widget).__name__)
    return " < ".join(parents[:4])


def tab_chain(root: QWidget) -> list[QWidget]:
    """Where Tab goes, from the first control in reading order round to it again."""
    shown = shown_controls(root)
    start = min(shown, key=lambda w: (place(w, root).top(), place(w, root).left()))
    chain, widget = [start], start.nextInFocusChain()
    while widget is not start and len(chain) < 1000:
        if widget in set(shown):
            chain.append(widget)
        widget = widget.nextInFocusChain()
    return chain


def place(widget: QWidget, root: QWidget) -> QRect:
    return QRect(widget.mapTo(root, QPoint(0, 0)), widget.size())


def goes_back(a: QRect, b: QRect) -> bool:
    """Whether moving from ``a`` to ``b`` goes against reading: left on the same line, or up
    (unless up to the top of a column further right, as from a list to the form beside it)."""
    same_line = a.top() <= b.bottom() and b.top() <= a.bottom()
    if same_line:
        return b.right() < a.left()
    return b.bottom() < a.top() and b.left() <= a.right()


def out_of_order(root: QWidget) -> list[str]:
    chain = tab_chain(root)
    assert set(chain) == set(shown_controls(root)), "Tab misses some controls"
    wrong = []
    for a, b in itertools.pairwise(chain):
        if goes_back(place(a, root), place(b, root)):
            wrong.append(f"{spoken_name(a)!r} then {spoken_name(b)!r}")
    return wrong


def check(root: QWidget, where: str) -> None:
    assert unnamed(root) == [], where
    assert out_of_order(root) == [], where


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_settings_page_is_named_and_in_reading_order(
    qtbot: Any, tmp_path: Path, kind: str
) -> None:
    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    dialog.show()
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData(kind))
    for tab in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(tab)
        check(dialog, f"{kind}: {dialog.tabs.tabText(tab)}")


def test_rows_added_later_are_named_and_in_order(qtbot: Any, tmp_path: Path) -> None:
    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    dialog.show()
    for page in (dialog.response, dialog.escalation):
        dialog.tabs.setCurrentIndex(dialog._tab_of(page))
        for button in page.findChildren(QWidget):
            if isinstance(button, QPushButton) and plain(button.text()).startswith("Add"):
                button.click()
        check(dialog, type(page).__name__)


def test_a_field_is_named_by_its_row_label_and_the_label_leads_to_it(
    qtbot: Any, tmp_path: Path
) -> None:
    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    interval = dialog.source_form.interval
    assert spoken_name(interval) == "Check every"
    label = dialog.source_form.form.labelForField(interval.parentWidget())
    assert isinstance(label, QLabel) and label.buddy() is interval
    hint = "e.g. 2m (empty: every 2 minutes)"
    assert interval.accessibleDescription() == hint  # its own hint only, read after the name


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_wizard_is_named_and_in_reading_order(qtbot: Any, tmp_path: Path, kind: str) -> None:
    wizard = FirstRunWizard(tmp_path / "t.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.kind.setCurrentIndex(wizard.kind.findData(kind))
    check(wizard, "start")
    wizard.next()
    check(wizard, f"connect to {kind}")


def test_the_wizard_to_its_end_is_named_and_in_reading_order(qtbot: Any, tmp_path: Path) -> None:
    wizard = FirstRunWizard(tmp_path / "t.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    wizard.next()  # the demo's live test, then on by itself
    qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)
    check(wizard, "categories")
    wizard.next()
    check(wizard, "done")


def test_the_dashboard_is_named_and_in_reading_order(qtbot: Any) -> None:
    dash = Dashboard(status(waiting("1", "Billing", 30, at_risk=True)), CONFIG)
    qtbot.addWidget(dash)
    dash.show()
    check(dash, "dashboard")
    buttons = [w for w in shown_controls(dash) if isinstance(w, QPushButton)]
    described = {f"{spoken_name(b)}: {b.accessibleDescription()}" for b in buttons}
    assert len(described) == len(buttons) == 8, "each Save button says which chart it saves"


class ListOwner:
    """What the ticket list needs of the tray: where an opened ticket goes."""

    agent = None
    group_by = ""
    pinned: tuple[str, ...] = ()
    quit_requested = None

    def __init__(self) -> None:
        self.menu = QMenu()
        self.opened: list[str] = []

    def open_ticket(self, w: Any) -> bool:
        self.opened.append(w.ticket.url)
        return True

    def show_all_tickets(self) -> None:
        pass


def ticket_list(qtbot: Any) -> tuple[TicketListWindow, ListOwner, list[Any]]:
    owner = ListOwner()
    tickets = [tray_waiting("1", 5), tray_waiting("2", 50)]
    window = TicketListWindow(owner)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.update_view(status_of(tickets), NOW)
    window.show()
    qtbot.waitExposed(window)
    return window, owner, tickets


def test_the_ticket_list_is_named_and_in_reading_order(qtbot: Any) -> None:
    window, _, _ = ticket_list(qtbot)
    check(window, "ticket list")
    assert spoken_name(window.filter) == "Filter"
    assert spoken_name(window.table) == "Waiting tickets"


@pytest.mark.parametrize("sound", ["chime", "off"])
def test_every_sound_has_a_notification_and_sound_off_keeps_it(
    make_tray, monkeypatch: pytest.MonkeyPatch, sound: str
) -> None:
    """The chime's visual twin is the notification; `sound = "off"` (the sound-free mode
    Settings offers) silences the chime and still shows it."""
    tray = make_tray()
    tray.sound.configure(Alerts(sound=sound))
    shown: list[str] = []
    monkeypatch.setattr(tray.tray, "showMessage", lambda title, *args: shown.append(title))
    w = tray_waiting("5", 20, subject="Refund please")
    tray.show_alerts(
        (Alert("new", NOW, "k5", SOURCE, "5", "Refund please", "Billing", w.ticket.url),)
    )
    assert shown == ["1 new ticket: Billing"]
    assert tray.sound.requested == ([] if sound == "off" else ["chime"])


def test_the_ticket_list_works_from_the_keyboard(qtbot: Any) -> None:
    """The arrows choose a ticket and Enter opens it."""
    window, owner, tickets = ticket_list(qtbot)
    window.table.setFocus()
    window.table.setCurrentCell(0, 0)
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert owner.opened == [tickets[1].ticket.url]
