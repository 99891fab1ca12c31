"""Test configuration shared by the whole suite.

Every test runs offscreen (no display needed), with its own empty config, data, state and
keyring folders, so nothing a test does touches the machine's real Ticketbell set-up.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

# Must be set before anything imports Qt.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
# English texts with neutral formats (agent/i18n.py), whatever this machine's language; a test
# that wants another language says so (LANGUAGE=de, i18n.speaking)
for _var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_var, None)
os.environ["LANG"] = "C.UTF-8"

_HOME = Path(tempfile.mkdtemp(prefix="ticketbell-tests-"))
for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[var] = str(_HOME / var.lower())

import logging  # noqa: E402

import pytest  # noqa: E402
from pytest_httpserver import HTTPServer  # noqa: E402

from tests import secretscan  # noqa: E402
from tests.fakes.web import local_server  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """The HTTP server a test module's fake helpdesk answers on (pytest-httpserver, 127.0.0.1),
    one per module and stopped after its last test; a module that needs another kind of
    server defines its own ``server``."""
    with local_server() as server:
        yield server


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
def open_queue() -> Any:
    """``LocalQueue(...)`` for a test: every queue it opens is closed when the test ends (its
    lock file stays open until then), so none is left for the garbage collector to warn about."""
    from agent.queue import LocalQueue

    opened: list[LocalQueue] = []

    def open_(data_dir: Path, **kwargs: Any) -> LocalQueue:
        queue = LocalQueue(data_dir, **kwargs)
        opened.append(queue)
        return queue

    yield open_
    for queue in reversed(opened):
        queue.close()


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

    if args[:2] == ["secret", "set"] and kw.get("input"):  # the value stored is a secret
        secretscan.register_secret(kw["input"].strip())
    done = subprocess.run(
        [sys.executable, "-m", "ticketbell", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kw,
    )
    where = f"output of `ticketbell {' '.join(args)}`"
    secretscan.TEXTS.append((where, f"{done.stdout}\n{done.stderr}"))
    return done


# ------------------------------------------------------------------ the suite-wide secret scan

_suite_log: list[logging.Handler] = []


@pytest.fixture(scope="session", autouse=True)
def _capture_suite_log(tmp_path_factory: pytest.TempPathFactory):
    """Every log record of the session, written as the agent's log file would write it."""
    from agent.config import ConfigError
    from agent.escalation import DeliveryError
    from agent.secrets import SecretUnavailable
    from agent.sources.base import SourceError

    secretscan.watch_secrets()
    secretscan.record_errors(SourceError, ConfigError, SecretUnavailable, DeliveryError)
    handler = secretscan.log_handler(tmp_path_factory.getbasetemp() / "suite.log")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    _suite_log.append(handler)
    yield
    _suite_log.remove(handler)
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()


@pytest.fixture(autouse=True)
def redaction_starts_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with nothing registered for redaction, as a new process does: the list
    is process-wide, and a channel URL from the keyring registers its host name ("127.0.0.1"),
    which an earlier test left to redact from a later test's log line."""
    from agent import secrets as secret_store

    monkeypatch.setattr(secret_store, "_known", set())


def pytest_runtest_teardown(item: pytest.Item) -> None:
    root = logging.getLogger()
    for handler in _suite_log:  # a test that reconfigured logging dropped it: keep capturing
        if handler not in root.handlers:
            root.addHandler(handler)


_worker_leaks: list[str] = []  # what the xdist workers found (the controller's list)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker's scan (below) comes back to the controller with the worker."""
    _worker_leaks.extend(getattr(node, "workeroutput", {}).get("secret_leaks", []))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test secret is in any file, log line or error message of the suite.

    Under pytest-xdist (``make test`` runs two workers) each worker scans what its own tests
    wrote, with the secrets its own tests used, and hands its findings to the controller,
    which reports them all and fails the run."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)  # set in an xdist worker
    controller = session.config.pluginmanager.has_plugin("dsession")  # xdist's controller
    findings: list[str] = []
    if session.testscollected and not controller:
        roots = [_HOME, factory.getbasetemp()]
        scan = secretscan.scan(secretscan.suite_secrets(), roots, secretscan.TEXTS)
        findings = [str(finding) for finding in scan]
    if workeroutput is not None:
        workeroutput["secret_leaks"] = findings
        return
    if not session.testscollected and not controller:
        return
    findings += _worker_leaks
    session.config.stash[secretscan.FOUND] = len(findings)
    if findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for finding in findings:
            if reporter is not None:
                reporter.write_line(f"SECRET LEAK: {finding}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ------------------------------------------------------------------ the sound-player double


def _configure_without_audio(self: Any, alerts: Any) -> None:
    self.alerts = alerts  # no QSoundEffect, no QtMultimedia, no audio system


def _record_play(self: Any, name: str) -> bool:
    self.requested.append(name)  # as the real player records what it was asked to play
    return True


@pytest.fixture(autouse=True)
def qt_objects_freed_here(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each Qt test (and after pytest-qt closed its widgets), the objects it left for
    deletion are deleted and its cyclic garbage collected, here: left to a later collection,
    PySide wrappers of a finished test were freed in the middle of another test's widget
    constructor, which crashed the suite now and then (a segfault in QWizardPage.__init__).
    Warnings of that garbage (an unclosed socket's) belong to no test and are not raised."""
    yield
    name = request.node.path.name
    if not (name.startswith("test_ui_") or "qtbot" in request.fixturenames):
        return
    from PySide6.QtCore import QCoreApplication, QEvent  # noqa: TID251 - Qt tests only

    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()


@pytest.fixture(autouse=True)
def sound_double(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The tray and app tests play no real sound: ``ui.sound.SoundPlayer`` keeps its mute,
    quiet-hours and "which sound" rules but loads and plays nothing (a machine without
    libpulse once failed 41 tests that were not about sound). What it was asked to play is in
    ``player.requested``. ``tests/test_ui_sound*.py`` test the real player and keep it.
    Returns whether the double is in place: in every Qt test (a ``test_ui_*`` file, or one
    using ``qtbot``), even one that imports ``ui`` only inside itself, and wherever ``ui`` is
    loaded already; agent tests never import Qt for it."""
    name = request.node.path.name
    qt_test = name.startswith("test_ui_") or "qtbot" in request.fixturenames
    if name.startswith("test_ui_sound") or not (qt_test or "ui" in sys.modules):
        return False
    from ui.sound import SoundPlayer

    monkeypatch.setattr(SoundPlayer, "configure", _configure_without_audio)
    monkeypatch.setattr(SoundPlayer, "play", _record_play)
    return True
