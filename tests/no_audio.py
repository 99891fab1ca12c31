"""A pytest plugin (``-p tests.no_audio``) for a machine whose Qt cannot play sound: importing
``PySide6.QtMultimedia`` fails, as it does where libpulse is missing. tests/test_ui_no_audio.py
runs the tray and app tests under it."""

import sys

sys.modules["PySide6.QtMultimedia"] = None  # type: ignore[assignment]  # import raises ImportError
