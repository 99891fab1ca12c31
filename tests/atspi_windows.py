"""The windows tests/test_ui_access_atspi.py walks, each shown on its own in a process of its
own: ``python -m tests.atspi_windows WINDOW DIR`` (``settings``, ``wizard``, ``dashboard``,
``tickets``; DIR for its settings file), until it is terminated.

Each is made as tall as its longest page (the screen of the test's X display is), so no page
scrolls: the places AT-SPI reports are then the places of one page, as read top to bottom.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

APP_NAME = "ticketbell-window-under-test"
SIZE = (1000, 1500)


def settings(where: Path) -> QWidget:
    from agent import config
    from ui.settings import SettingsDialog

    return SettingsDialog(where / "t.toml", config.demo_config())


def wizard(where: Path) -> QWidget:
    from ui.settings import FirstRunWizard

    return FirstRunWizard(where / "t.toml")


def dashboard(where: Path) -> QWidget:
    from tests.test_ui_dashboard import CONFIG, status, waiting
    from ui.dashboard import Dashboard

    return Dashboard(status(waiting("1", "Billing", 30, at_risk=True)), CONFIG)


def tickets(where: Path) -> QWidget:
    from tests.test_ui_access import ListOwner
    from tests.test_ui_tray import NOW, status_of
    from tests.test_ui_tray import waiting as tray_waiting
    from ui.ticket_list import TicketListWindow

    window = TicketListWindow(ListOwner())  # type: ignore[arg-type]
    window.update_view(status_of([tray_waiting("1", 5), tray_waiting("2", 50)]), NOW)
    return window


WINDOWS = {"settings": settings, "wizard": wizard, "dashboard": dashboard, "tickets": tickets}


def main() -> None:
    app = QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    window = WINDOWS[sys.argv[1]](Path(sys.argv[2]))
    window.resize(*SIZE)
    window.show()
    window.activateWindow()
    app.exec()


if __name__ == "__main__":
    main()
