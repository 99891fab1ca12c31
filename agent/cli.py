"""The ``ticketbell`` command.

    ticketbell [--demo]              the tray app
    ticketbell run --headless        the agent without Qt (servers, always-on owner machines)
    ticketbell check [--json]        poll once, print, exit like a monitoring plugin
    ticketbell report [--week|--month|--from D --to D] [--html F] [--csv F] [--json]
    ticketbell config validate|path|show
    ticketbell sources               the helpdesk kinds
    ticketbell secret set|delete NAME
    ticketbell signin|signout NAME   OAuth 2 sign-in (Microsoft 365, Google, Zendesk)
    ticketbell autostart [on|off]    start at login (shows the state without an argument)
    ticketbell claim SOURCE ID       "I'm on it" for the team hub ([team]); --release ends it
    ticketbell --import FILE         take a provisioning file as this user's config
    ticketbell --self-test           check that this installation works here

Exit codes of ``check``: 0 nothing waiting, 1 waiting, 2 any overdue, 3 a source failed, the
configuration is broken or the command line is mistyped (UNKNOWN). A source the helpdesk has
slowed down (a rate limit: "slowed down by the helpdesk until 10:42") is not a failure: at least
1, since its count may be behind.
Other commands exit 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from agent import __version__
from agent import config as config_module
from agent.commands.common import (
    EXIT_OK,
    EXIT_OVERDUE,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    EXIT_WAITING,
    _ConsoleFormatter,
    config_path,
    data_dir,
    escape_controls,
    load_config,
    open_agent,
    setup_logging,
)
from agent.i18n import N_, _, ngettext

if TYPE_CHECKING:
    from agent.commands.start import RunTray
    from agent.selftest import QtChecks

__all__ = [  # what other modules and the tests take from here (and, lazily, check_json,
    # check_table and show_config: see __getattr__)
    "EXIT_OK",
    "EXIT_OVERDUE",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "EXIT_WAITING",
    "_ConsoleFormatter",
    "build_parser",
    "config_path",
    "data_dir",
    "escape_controls",
    "load_config",
    "main",
    "open_agent",
    "setup_logging",
]

# The commands' modules are imported when their command runs: the tray's start imports none of
# them (`check`'s output, set-up, the headless runner, the self-test), nor what only they use.


def __getattr__(name: str) -> Any:
    """``from agent.cli import check_json`` (and ``check_table``, ``show_config``) still works."""
    if name in ("check_json", "check_table"):
        from agent.commands import check

        return getattr(check, name)
    if name == "show_config":
        from agent.commands.setup import show_config

        return show_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- set-up


class _Parser(argparse.ArgumentParser):
    """``ticketbell``'s parsers: a usage error exits with ``usage_exit``, 2 as argparse's, but
    3 (UNKNOWN) for ``check``, whose 2 tells a monitor that something is overdue. ``commands``:
    the top parser's command parsers, by name."""

    def __init__(self, *args: Any, usage_exit: int = EXIT_USAGE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.usage_exit = usage_exit
        self.commands: Mapping[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        words = {"prog": self.prog, "message": message}
        self.exit(self.usage_exit, _("%(prog)s: error: %(message)s\n") % words)


def _common_options(defaults: bool) -> _Parser:
    """The options taken before and after the command. After it they have no defaults of
    their own: argparse would otherwise reset what was given before the command
    (``ticketbell --config X check`` used the default config)."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        metavar=_("PATH"),
        default=default(None),
        help=_("the config file to use"),
    )
    common.add_argument(
        "--data-dir",
        type=Path,
        metavar=_("PATH"),
        default=default(None),
        help=_("where the queue lives"),
    )
    common.add_argument(
        "--demo",
        action="store_true",
        default=default(False),
        help=_("use the built-in demo helpdesk, no config needed"),
    )
    common.add_argument(  # counted on both sides: `-v check -v` is -vv (added up in main)
        "-v",
        "--verbose",
        action="count",
        dest="verbose" if defaults else "verbose_after",
        default=default(0),
        help=_("more log output"),
    )
    return common


def _top_parser() -> _Parser:
    """The options that stand before any command (the tray's own, and --import, --self-test)."""
    parser = _Parser(
        prog="ticketbell",
        description=_("Watches your helpdesks and rings when tickets wait for a reply."),
        parents=[_common_options(defaults=True)],
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"ticketbell {__version__}",
        help=_("show the version number and exit"),
    )
    parser.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        metavar=_("FILE"),
        help=_("use a provisioning file (no secrets) as your config, then say which tokens to add"),
    )
    parser.add_argument(
        "--force", action="store_true", help=_("with --import: replace an existing config")
    )
    parser.add_argument(
        "--accept-risky",
        action="store_true",
        help=_("with --import: take TLS, proxy and channel settings without asking"),
    )
    parser.add_argument(
        "--self-test", action="store_true", help=_("check Qt, tray, sound, keyring and data dir")
    )
    parser.add_argument("--self-test-qt", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first-start", action="store_true", help=argparse.SUPPRESS)
    return parser


#: argparse's own words that a person meets in ``--help`` and in a usage error. argparse looks
#: them up through gettext's default domain, which no language installs; ``build_parser``
#: gives argparse our catalogues instead (its module-level ``_`` and ``ngettext``).
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"),
    N_("not allowed with argument %s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
)


def build_parser() -> _Parser:
    vars(argparse).update(_=_, ngettext=ngettext)
    common = _common_options(defaults=False)
    parser = _top_parser()
    sub = parser.add_subparsers(dest="command", metavar=_("COMMAND"))  # _Parser, as this one
    parser.commands = sub.choices

    run = sub.add_parser("run", parents=[common], help=_("run the agent (--headless: without Qt)"))
    run.add_argument("--headless", action="store_true", help=_("no tray icon: log and notify"))
    run.add_argument("--json", action="store_true", help=_("also write one JSON line per event"))
    run.add_argument("--role", choices=config_module.ROLES, help=_("override the configured role"))
    run.add_argument("--no-notify", action="store_true", help=_("no desktop notifications"))

    check = sub.add_parser(
        "check",
        parents=[common],
        help=_("poll once and print what waits"),
        usage_exit=EXIT_UNKNOWN,
    )
    check.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))

    cfg = sub.add_parser("config", parents=[common], help=_("validate, locate or show the config"))
    cfg.add_argument("action", choices=("validate", "path", "show", "export"))

    sub.add_parser("sources", parents=[common], help=_("list the helpdesk kinds"))

    _secret_parser(sub, common)

    sign = sub.add_parser("signin", parents=[common], help=_("sign a source in (OAuth 2)"))
    sign.add_argument("name", help=_('the source, e.g. "Support inbox"'))
    way = sign.add_mutually_exclusive_group()
    way.add_argument("--device", action="store_true", help=_("show a code to enter on any device"))
    way.add_argument("--browser", action="store_true", help=_("sign in in this computer's browser"))
    sub.add_parser("signout", parents=[common], help=_("forget a source's sign-in")).add_argument(
        "name", help=_("the source whose sign-in to forget")
    )

    auto = sub.add_parser("autostart", parents=[common], help=_("start Ticketbell at login or not"))
    auto.add_argument("state", nargs="?", choices=("on", "off"), help=_("omit to show the state"))
    return _with_commands(parser, sub, common)


def _with_commands(parser: _Parser, sub: Any, common: Any) -> _Parser:
    """``parser`` with ``claim`` and ``report``, whose options their modules declare."""
    from agent.commands import claim, report

    claim.add_parser(sub, common)
    report.add_parser(sub, common)
    return parser


def _secret_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sec = sub.add_parser(
        "secret", parents=[common], help=_("store a source's token in the keyring")
    )
    sec.add_argument("action", choices=("set", "delete"))
    sec.add_argument("name", help=_("the source (or channel) name the secret belongs to"))
    sec.add_argument(
        "--to-file",
        action="store_true",
        help=_("no keyring on this computer: keep it in a file only you can read"),
    )


# --------------------------------------------------------------------------- dispatch


def main(
    argv: Sequence[str] | None = None,
    *,
    run_tray: RunTray | None = None,
    qt_checks: QtChecks | None = None,
) -> int:
    """Run ``ticketbell ARGV``. The entry module (``ticketbell.py``) gives the tray app and the
    Qt half of the self-test; without them (``python -m agent``) only the commands run."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # as parse_args would, but `check`'s own parser says it: with its usage, exit 3
        said_by = parser.commands["check"] if args.command == "check" else parser
        said_by.error(_("unrecognized arguments: %s") % " ".join(unknown))
    args.verbose += getattr(args, "verbose_after", 0)
    command = args.command
    if command in ("check", "config", "sources"):
        # `ticketbell check | head` must not turn into a traceback on a closed pipe.
        with contextlib.suppress(AttributeError, ValueError):
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if command is None:
        if args.self_test_qt:
            from agent.selftest import qt_child

            return qt_child(qt_checks)
        if args.self_test:
            from agent.commands.start import self_test

            return self_test(args)
        if args.import_file:
            from agent.commands.setup import import_command

            return import_command(args)
        return _start_tray(args, run_tray)
    if command == "run":
        setup_logging(args.verbose)
        if not args.headless:
            return _start_tray(args, run_tray)
    try:
        return _command(command)(args)
    except KeyboardInterrupt:
        return 130


def _command(command: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs ``command``, its module imported now."""
    if command == "run":
        from agent.commands.headless import run_headless

        return run_headless
    if command == "check":
        from agent.commands.check import check_command

        return check_command
    if command == "claim":
        from agent.commands.claim import claim_command

        return claim_command
    if command == "report":
        from agent.commands.report import report_command

        return report_command
    from agent.commands import setup

    return {
        "config": setup.config_command,
        "sources": setup.sources_command,
        "secret": setup.secret_command,
        "autostart": setup.autostart_command,
        "signin": setup.signin_command,
        "signout": setup.signin_command,
    }[command]


def _start_tray(args: argparse.Namespace, run_tray: RunTray | None) -> int:
    from agent.commands.start import start_tray

    return start_tray(args, run_tray)
