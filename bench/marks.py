"""Run a tray app and print when its tray icon is shown and when its event loop is reached.

``python bench/marks.py floor`` runs :mod:`bench.floor_tray`; ``python bench/marks.py app ARGS``
runs ``ticketbell ARGS`` (``ticketbell.main``). The app's code is not changed: before it starts,
``QSystemTrayIcon.show``/``setVisible`` and ``QApplication.exec`` are wrapped to print
``MARK tray <t>`` and ``MARK loop <t>`` on stdout, ``t`` being ``time.monotonic()`` (the same
clock in every process, so the parent subtracts the moment it started the process).
Importing QtWidgets first costs both apps the same and no tray can be shown without it.
The idle figures run both apps through this wrapper too, so both show a tray icon.

The app's own first Qt import is its ``ui`` package, which changes how PySide6's import hook
reads the modules imported after it (``ui/__init__.py``); the wrapper imports ``ui`` before
QtWidgets for the app, so the app runs with the imports in the order ``ticketbell`` makes them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

_marked: set[str] = set()


def mark(name: str) -> None:
    if name not in _marked:
        _marked.add(name)
        print(f"MARK {name} {time.monotonic():.6f}", flush=True)


def install() -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    show, set_visible, exec_ = QSystemTrayIcon.show, QSystemTrayIcon.setVisible, QApplication.exec

    def shown(self: QSystemTrayIcon) -> None:
        show(self)
        mark("tray")

    def visible(self: QSystemTrayIcon, on: bool) -> None:
        set_visible(self, on)
        if on:
            mark("tray")

    def run(*_: Any) -> int:  # a static method in PySide6, also called on the instance
        QTimer.singleShot(0, lambda: mark("loop"))
        return exec_()

    # Offscreen Qt has no system tray, and the app would show its window instead: pretend a
    # desktop tray exists so it takes the path it takes on a desktop (the floor shows one anyway).
    QSystemTrayIcon.isSystemTrayAvailable = staticmethod(lambda: True)  # type: ignore[method-assign]
    QSystemTrayIcon.show = shown  # type: ignore[method-assign]
    QSystemTrayIcon.setVisible = visible  # type: ignore[method-assign]
    QApplication.exec = run  # type: ignore[method-assign,assignment]


def main() -> int:
    which, args = sys.argv[1], sys.argv[2:]
    if which == "floor":
        install()
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import floor_tray

        return floor_tray.main()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's entry module
    import ui  # noqa: F401 - the app's first Qt import, as in `ticketbell` (see above)

    install()
    from ticketbell import main as ticketbell

    return ticketbell(args)


if __name__ == "__main__":
    sys.exit(main())
