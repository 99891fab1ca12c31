"""The Qt side of Ticketbell (see docs/architecture.md).

Importing it first asks PySide6's import hook to stop keeping every later module's source in
memory (:func:`read_sources_plainly`), before any module of the tray is imported.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import shiboken6  # noqa: F401 - sets up shibokensupport.feature, the hook changed below


def read_sources_plainly() -> None:
    """Make PySide6's import hook read a module's file instead of keeping its lines.

    For every module imported after PySide6, ``shibokensupport.feature._mod_uses_pyside``
    asks whether its source names "PySide6" (to support ``from __feature__ import ...``,
    which Ticketbell does not use) through ``inspect.getsource()``, which leaves the whole
    file's lines in ``linecache`` for the life of the process: about 5.5 MB of the idle tray's
    memory (bench/README.md, idle RSS). The same question is asked of the file's bytes here,
    and Python's own library, which never names PySide6, is not read at all (about half the
    modules a start imports, 3–4 ms of its time); a PySide6 without that function is left as
    it is.
    """
    feature = sys.modules.get("shibokensupport.feature")
    original = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or original is None or getattr(original, "plain", False):
        return
    stdlib = os.__file__.rpartition(os.sep)[0] + os.sep  # Python's own library

    def uses_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return bool(original(module))  # built-in, compiled, or bytecode only
        if path.startswith(stdlib) and not any(
            packages in path[len(stdlib) :] for packages in ("site-packages", "dist-packages")
        ):
            return False
        try:
            with open(path, "rb") as source:
                return b"PySide6" in source.read()
        except OSError:
            return bool(original(module))

    uses_pyside.plain = True  # type: ignore[attr-defined]
    feature._mod_uses_pyside = uses_pyside  # type: ignore[attr-defined]


read_sources_plainly()
