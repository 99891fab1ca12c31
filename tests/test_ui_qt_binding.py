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


def test_pysides_import_hook_answers_as_its_own_check_would() -> None:
    """``ui`` replaces the check PySide6's import hook makes of every module (does its source
    name PySide6?) with one that keeps no source in memory and does not read Python's own
    library: the answers must be the ones PySide6's own check (``inspect.getsource``) gives."""
    import inspect

    import ui  # noqa: F401 - installs the check

    feature = sys.modules["shibokensupport.feature"]
    ours = feature._mod_uses_pyside
    assert getattr(ours, "plain", False)
    modules = [
        m
        for m in list(sys.modules.values())
        if isinstance(getattr(m, "__file__", None), str) and m.__file__.endswith(".py")
    ]
    assert len(modules) > 100
    for module in modules:
        try:
            expected = "PySide6" in inspect.getsource(module)
        except (TypeError, OSError, SyntaxError):
            continue  # PySide6's own check falls back on False; ours may read the file
        assert ours(module) is expected, module.__name__
