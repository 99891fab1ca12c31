"""PyInstaller runtime hook (packaging/ticketbell.spec): where Qt finds its plugins in the bundle.

It stands in for PyInstaller's own ``pyi_rth_pyside6``, which imports ``PySide6.QtCore`` at every
start of the bundle, a command that never uses Qt (``ticketbell check``) included, to register an
embedded qt.conf. PySide6's wheels need none: their Qt finds its prefix from where its libraries
are, and the bundle keeps the wheel's layout (``PySide6/Qt/lib``, ``PySide6/Qt/plugins``). The
plugin path is set as that hook sets it, from the environment only, without importing Qt.
"""

import os
import sys
from pathlib import Path

_qt = Path(sys._MEIPASS) / "PySide6"  # type: ignore[attr-defined]
if not sys.platform.startswith("win"):
    _qt = _qt / "Qt"
os.environ["QT_PLUGIN_PATH"] = str(_qt / "plugins")
