"""The floor of the tray figures: a bare PySide6 app showing a QSystemTrayIcon, QtMultimedia loaded.

Nothing else: no agent, no queue, no menu. ``ticketbell --demo`` is compared with it for idle
memory and start-up time. Run alone: ``python bench/floor_tray.py`` (Ctrl-C to stop).
"""

from __future__ import annotations

import signal
import sys

from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtMultimedia import QSoundEffect
from PySide6.QtWidgets import QApplication, QSystemTrayIcon


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app = QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    sound = QSoundEffect()  # the multimedia stack a chime needs, loaded but silent
    pixmap = QPixmap(32, 32)
    pixmap.fill(QColor("#d33"))
    tray = QSystemTrayIcon(QIcon(pixmap))
    tray.setToolTip("floor")
    tray.show()
    code = app.exec()
    del sound
    return code


if __name__ == "__main__":
    sys.exit(main())
