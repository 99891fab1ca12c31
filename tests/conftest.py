"""Test configuration shared by the whole suite.

Every test runs offscreen (no display needed), with its own empty config, data, state and
keyring folders, so nothing a test does touches the machine's real Ticketbell set-up.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Must be set before anything imports Qt.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"

_HOME = Path(tempfile.mkdtemp(prefix="ticketbell-tests-"))
for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[var] = str(_HOME / var.lower())

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc


class FakeClock:
    """Wall and monotonic time that move only when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def jump_wall(self, seconds: float) -> None:
        """Move only the wall clock (a clock change, or a machine that slept)."""
        self._now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running `ticketbell` as a subprocess, isolated in tmp_path."""
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONWARNINGS", None)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60, **kw):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kw,
    )
