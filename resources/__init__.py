"""Icons, sounds and the .desktop file, shipped inside the package (and the PyInstaller bundle).

Use :func:`path` to get a real file for Qt: the path stays valid for the whole run (also in a
one-file bundle or a zipped install, where ``importlib.resources`` may extract a temporary copy),
so a chime still plays after the machine slept for a night.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

_keep = contextlib.ExitStack()
atexit.register(_keep.close)
_paths: dict[str, Path] = {}


def path(name: str) -> Path:
    """A filesystem path to the resource ``name`` that lives until the process exits."""
    if name not in _paths:
        ref = resources.files(__name__) / name
        if not ref.is_file():
            raise FileNotFoundError(f"resource {name!r} is not part of this installation")
        _paths[name] = _keep.enter_context(resources.as_file(ref))
    return _paths[name]


def read_text(name: str) -> str:
    return (resources.files(__name__) / name).read_text(encoding="utf-8")
