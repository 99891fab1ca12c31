"""Starting the tray app (through the entry module's ``run_tray``) and ``--self-test``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from agent import __version__, i18n
from agent import config as config_module
from agent.commands.common import EXIT_USAGE, config_path, data_dir, setup_logging
from agent.i18n import _

log = logging.getLogger("ticketbell")


#: opens the tray app for these arguments and returns the exit code (given by the entry module,
#: ``ticketbell.py``: ``agent/`` never imports the Qt side)
RunTray = Callable[[argparse.Namespace], int]


def start_tray(args: argparse.Namespace, run_tray: RunTray | None) -> int:
    if sys.platform == "win32":
        _set_app_user_model_id()
    if getattr(sys, "frozen", False):
        _first_start_self_test(args)
    if run_tray is None:
        print(
            "ticketbell: `python -m agent` runs the commands only; the tray app starts with "
            "`ticketbell` (`python -m ticketbell`); `ticketbell run --headless` runs without it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return run_tray(args)


def _set_app_user_model_id() -> None:
    """Windows names a notification's app by the process's AppUserModelID ("python" otherwise);
    the Start-menu shortcut the installer makes carries the same ID."""
    import ctypes

    from agent.autostart import APP_ID

    with contextlib.suppress(AttributeError, OSError):
        ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(APP_ID)  # type: ignore[attr-defined]


def _first_start_self_test(args: argparse.Namespace) -> None:
    """The first start of a packaged version runs the self-test in a background process that
    writes its lines to the log, so a support person can read what failed on a machine nobody
    can see. It does not delay the start, and only a failed verdict reaches a console."""
    if _first_start_marker(args).exists():
        return
    import subprocess

    from agent.selftest import self_command

    extra = ["--data-dir", str(args.data_dir)] if args.data_dir else []
    with contextlib.suppress(OSError):
        subprocess.Popen(
            self_command("--self-test", "--first-start", *extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )


def _first_start_marker(args: argparse.Namespace) -> Path:
    return data_dir(args) / f".self-test-{__version__}"


def self_test(args: argparse.Namespace) -> int:
    from agent import selftest

    with contextlib.suppress(config_module.ConfigError, OSError):  # its own check says why
        i18n.use(config_module.load(config_path(args)).language)
    where = sys.executable if getattr(sys, "frozen", False) else f"Python {sys.version.split()[0]}"
    said = _("ticketbell {version} self-test ({where})").format(version=__version__, where=where)
    print(said, flush=True)
    if args.first_start:
        with i18n.speaking("en"):  # its lines go to the log, which stays English
            return _first_start(args)
    checks = selftest.run(config_path(args), data_dir(args), config_module.default_log_dir())
    for check in checks:
        print(check.line())
    code, last = selftest.verdict(checks)
    print(last)
    return code


def _first_start(args: argparse.Namespace) -> int:
    """The bundle's first start: the self-test's lines into the log and the marker file."""
    from agent import selftest

    checks = selftest.run(config_path(args), data_dir(args), config_module.default_log_dir())
    setup_logging(args.verbose, console_level=logging.WARNING)
    lines = [c.line() for c in checks]
    code, last = selftest.verdict(checks)
    for line in lines:
        log.info("first start: %s", line)
    log.log(logging.WARNING if code else logging.INFO, "first start: %s", last)
    with contextlib.suppress(OSError):
        _first_start_marker(args).write_text("\n".join([*lines, last, ""]), encoding="utf-8")
    return code
