"""The ``ticketbell`` command: the one place that decides between the tray app and the commands.

``agent/`` never imports the Qt side, so this module, outside both packages, hands ``agent.cli``
the two things only the Qt side has: the tray app and the Qt half of ``--self-test``.
``python -m ticketbell`` is the same command; ``python -m agent`` runs the commands only.
Qt is imported only when the tray (or its self-test) runs: ``ticketbell check`` stays fast and
works where Qt is not installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.cli import EXIT_USAGE
from agent.cli import main as run_command

if TYPE_CHECKING:
    from agent.selftest import Check


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(argv, run_tray=run_tray, qt_checks=qt_checks)


def run_tray(args: argparse.Namespace) -> int:
    try:
        from ui.app import run_app
    except ImportError as exc:
        if exc.name and not exc.name.startswith("ui"):
            print(
                f"ticketbell: the tray app needs {exc.name}, which is not installed "
                f"({exc}); `ticketbell run --headless` runs without it",
                file=sys.stderr,
            )
        else:
            print(
                "ticketbell: the tray app is not part of this build yet; "
                "use `ticketbell run --headless` or `ticketbell check`",
                file=sys.stderr,
            )
        return EXIT_USAGE
    return run_app(args)


def qt_checks() -> list[Check]:
    from agent.selftest import FAIL, Check

    try:
        from ui.selftest import qt_checks as run_qt_checks
    except ImportError as exc:
        return [Check("qt platform", FAIL, f"Qt is not installed ({exc.name})")]
    return run_qt_checks()


if __name__ == "__main__":
    sys.exit(main())
