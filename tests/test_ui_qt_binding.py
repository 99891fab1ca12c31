"""The Qt binding itself must not break a long-running tray app.

PySide6 6.12.0 (CPython 3.11) drops one reference to ``None`` on every Qt call that returns
nothing; after a few thousand calls (minutes of a tray app redrawing its badge) CPython aborts
with "deallocating None". pyproject.toml excludes that release; this test catches a repeat.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPixmap


def test_void_qt_calls_keep_none_alive(qapp) -> None:
    timer = QTimer()
    pixmap = QPixmap(8, 8)
    before = sys.getrefcount(None)
    for _ in range(2000):
        timer.setInterval(5)
        pixmap.setDevicePixelRatio(1.0)
    assert sys.getrefcount(None) >= before - 50
