"""The ``ticketbell`` command.

    ticketbell [--demo]              the tray app
    ticketbell run --headless        the agent without Qt (servers, always-on owner machines)
    ticketbell check [--json]        poll once, print, exit like a monitoring plugin
    ticketbell config validate|path|show
    ticketbell sources               the helpdesk kinds
    ticketbell secret set|delete NAME
    ticketbell signin|signout NAME   OAuth 2 sign-in (Microsoft 365, Google, Zendesk)
    ticketbell autostart [on|off]    start at login (shows the state without an argument)
    ticketbell --import FILE         take a provisioning file as this user's config
    ticketbell --self-test           check that this installation works here

Exit codes of ``check``: 0 nothing waiting, 1 waiting, 2 any overdue, 3 a source failed or the
configuration is broken (UNKNOWN). A source the helpdesk has slowed down (a rate limit: "slowed
down by the helpdesk until 10:42") is not a failure: at least 1, since its count may be behind.
Other commands exit 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import logging.handlers
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from agent import __version__
from agent import config as config_module
from agent import secrets as secret_store
from agent.config import Config, ConfigError
from agent.model import Alert, Health, Status, notification_text, one_line

log = logging.getLogger("ticketbell")

EXIT_OK, EXIT_WAITING, EXIT_OVERDUE, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_USAGE = 2


# --------------------------------------------------------------------------- set-up


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """The options taken before and after the command. After it they have no defaults of
    their own: argparse would otherwise reset what was given before the command
    (``ticketbell --config X check`` used the default config)."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, metavar="PATH", default=default(None), help="the config file to use"
    )
    common.add_argument(
        "--data-dir",
        type=Path,
        metavar="PATH",
        default=default(None),
        help="where the queue lives",
    )
    common.add_argument(
        "--demo",
        action="store_true",
        default=default(False),
        help="use the built-in demo helpdesk, no config needed",
    )
    common.add_argument(  # counted on both sides: `-v check -v` is -vv (added up in main)
        "-v",
        "--verbose",
        action="count",
        dest="verbose" if defaults else "verbose_after",
        default=default(0),
        help="more log output",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="ticketbell",
        description="Watches your helpdesks and rings when tickets wait for a reply.",
        parents=[_common_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"ticketbell {__version__}")
    parser.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        metavar="FILE",
        help="use a provisioning file (no secrets) as your config, then say which tokens to add",
    )
    parser.add_argument(
        "--force", action="store_true", help="with --import: replace an existing config"
    )
    parser.add_argument(
        "--accept-risky",
        action="store_true",
        help="with --import: take TLS, proxy and channel settings without asking",
    )
    parser.add_argument(
        "--self-test", action="store_true", help="check Qt, tray, sound, keyring and data dir"
    )
    parser.add_argument("--self-test-qt", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first-start", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common], help="run the agent (--headless: without Qt)")
    run.add_argument("--headless", action="store_true", help="no tray icon: log and notify")
    run.add_argument("--json", action="store_true", help="also write one JSON line per event")
    run.add_argument("--role", choices=config_module.ROLES, help="override the configured role")
    run.add_argument("--no-notify", action="store_true", help="no desktop notifications")

    check = sub.add_parser("check", parents=[common], help="poll once and print what waits")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")

    cfg = sub.add_parser("config", parents=[common], help="validate, locate or show the config")
    cfg.add_argument("action", choices=("validate", "path", "show", "export"))

    sub.add_parser("sources", parents=[common], help="list the helpdesk kinds")

    sec = sub.add_parser("secret", parents=[common], help="store a source's token in the keyring")
    sec.add_argument("action", choices=("set", "delete"))
    sec.add_argument("name", help="the source (or channel) name the secret belongs to")

    sign = sub.add_parser("signin", parents=[common], help="sign a source in (OAuth 2)")
    sign.add_argument("name", help='the source, e.g. "Support inbox"')
    way = sign.add_mutually_exclusive_group()
    way.add_argument("--device", action="store_true", help="show a code to enter on any device")
    way.add_argument("--browser", action="store_true", help="sign in in this computer's browser")
    sub.add_parser("signout", parents=[common], help="forget a source's sign-in").add_argument(
        "name", help="the source whose sign-in to forget"
    )

    auto = sub.add_parser("autostart", parents=[common], help="start Ticketbell at login or not")
    auto.add_argument("state", nargs="?", choices=("on", "off"), help="omit to show the state")
    return parser


# Line breaks, terminal escapes and text-direction marks in a message (a helpdesk's error text
# is quoted in one) would forge log lines or rewrite the terminal: written as \n, \x1b, \u202e.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class _ConsoleFormatter(logging.Formatter):
    """Redacts secrets and escapes control characters in the message (a traceback after it
    keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return secret_store.redact(text)


class _PrivateLogFile(logging.handlers.RotatingFileHandler):
    """The log file, and each one rotation starts, readable by this user only (0600)."""

    def _open(self) -> Any:
        from agent.queue import open_private

        fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(verbose: int, console_level: int = logging.INFO) -> Path | None:
    """Console to stderr, and a rotating file under the platform's log dir (when writable)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG)
    redacting = secret_store.RedactingFilter()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else console_level)
    console.setFormatter(_ConsoleFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    console.addFilter(redacting)
    root.addHandler(console)
    from agent.queue import private_dir  # here: `ticketbell --version` stays fast

    log_dir = config_module.default_log_dir()
    try:
        private_dir(log_dir)
        file_handler = _PrivateLogFile(
            log_dir / "ticketbell.log", maxBytes=1_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError:
        return None
    file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    file_handler.setFormatter(
        _ConsoleFormatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    file_handler.addFilter(redacting)
    root.addHandler(file_handler)
    for noisy in ("urllib3", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_dir


def config_path(args: argparse.Namespace) -> Path:
    return args.config if args.config else config_module.default_config_path()


def load_config(args: argparse.Namespace) -> Config:
    """The config the command runs with: the demo's, or the file (raises ConfigError)."""
    if getattr(args, "demo", False):
        return config_module.demo_config()
    return config_module.load(config_path(args))


def data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir:
        return args.data_dir
    base = config_module.default_data_dir()
    return base / "demo" if getattr(args, "demo", False) else base


def open_agent(config: Config, args: argparse.Namespace) -> Any:
    """The queue and the agent for this config (imports kept here: `--version` stays fast)."""
    from agent.engine import Agent
    from agent.queue import LocalQueue

    queue = LocalQueue(data_dir(args), config.retention)
    return Agent(config, queue)


# --------------------------------------------------------------------------- commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose += getattr(args, "verbose_after", 0)
    command = args.command
    if command in ("check", "config", "sources"):
        # `ticketbell check | head` must not turn into a traceback on a closed pipe.
        with contextlib.suppress(AttributeError, ValueError):
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if command is None:
        if args.self_test_qt:
            from agent.selftest import qt_child

            return qt_child()
        if args.self_test:
            return _self_test(args)
        if args.import_file:
            return _import(args)
        return _tray(args)
    try:
        return {
            "run": _run,
            "check": _check,
            "config": _config,
            "sources": _sources,
            "secret": _secret,
            "autostart": _autostart,
            "signin": _signin,
            "signout": _signin,
        }[command](args)
    except KeyboardInterrupt:
        return 130


def _tray(args: argparse.Namespace) -> int:
    if sys.platform == "win32":
        _set_app_user_model_id()
    if getattr(sys, "frozen", False):
        _first_start_self_test(args)
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


def _self_test(args: argparse.Namespace) -> int:
    from agent import selftest

    where = sys.executable if getattr(sys, "frozen", False) else f"Python {sys.version.split()[0]}"
    print(f"ticketbell {__version__} self-test ({where})", flush=True)
    checks = selftest.run(config_path(args), data_dir(args), config_module.default_log_dir())
    if args.first_start:
        setup_logging(args.verbose, console_level=logging.WARNING)
        lines = [c.line() for c in checks]
        code, last = selftest.verdict(checks)
        for line in lines:
            log.info("first start: %s", line)
        log.log(logging.WARNING if code else logging.INFO, "first start: %s", last)
        with contextlib.suppress(OSError):
            _first_start_marker(args).write_text("\n".join([*lines, last, ""]), encoding="utf-8")
        return code
    for check in checks:
        print(check.line())
    code, last = selftest.verdict(checks)
    print(last)
    return code


def _import(args: argparse.Namespace) -> int:
    """`ticketbell --import FILE`: a provisioning file becomes this user's config."""
    from agent import autostart

    try:
        config = config_module.read_provisioning(args.import_file)
    except ConfigError as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    risky = config_module.risky_settings(config)
    if risky and not args.accept_risky:
        print(f"{args.import_file} asks for settings to agree to:", file=sys.stderr)
        for line in risky:
            print(f"  - {line}", file=sys.stderr)
        if not sys.stdin.isatty():
            print("ticketbell: nothing imported; run again with --accept-risky", file=sys.stderr)
            return EXIT_USAGE
        if input("Import it with these settings? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing imported")
            return EXIT_USAGE
    target = config_path(args)
    if target.exists() and not args.force:
        if not sys.stdin.isatty():
            print(
                f"ticketbell: {target} already exists; run again with --force to replace it",
                file=sys.stderr,
            )
            return EXIT_USAGE
        answer = input(f"{target} already exists. Replace it (a copy is kept)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return EXIT_USAGE
    try:
        if target.exists():
            backup = target.with_name(target.name + ".bak")
            backup.write_bytes(target.read_bytes())
            print(f"the old config is kept as {backup}")
        config = config_module.save(config.raw, target)
    except (OSError, ConfigError) as exc:
        print(f"ticketbell: cannot write {target}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"imported {len(config.sources)} source(s) from {args.import_file} into {target}")
    if config.start_at_login:
        try:
            autostart.set_enabled(True)
            print(f"Ticketbell will start at login ({autostart.entry_location()})")
        except autostart.AutostartError as exc:
            print(f"ticketbell: {exc}", file=sys.stderr)
    needed = config_module.secrets_needed(config)
    if needed:
        from agent.signin import uses_oauth

        oauth = {s.name for s in config.sources if uses_oauth(s)}
        print("Now add the token(s) or sign in; they are never in a provisioning file:")
        for name, what in needed:
            if name in oauth:
                print(f"  ticketbell signin {_shell_quote(name)}    # or Sign in… in Settings")
            else:
                print(f"  ticketbell secret set {_shell_quote(name)}    # {what}")
    return EXIT_OK


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _autostart(args: argparse.Namespace) -> int:
    from agent import autostart

    if args.state:
        try:
            autostart.set_enabled(args.state == "on")
        except autostart.AutostartError as exc:
            print(f"ticketbell: {exc}", file=sys.stderr)
            return EXIT_USAGE
    state = "on" if autostart.enabled() else "off"
    print(f"start at login: {state} ({autostart.entry_location()})")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    if not args.headless:
        return _tray(args)
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.role:
        from dataclasses import replace

        config = replace(config, role=args.role)
    if not config.sources:
        print(f"ticketbell: {config.path}: no [[sources]] configured", file=sys.stderr)
        return EXIT_USAGE
    try:
        agent = open_agent(config, args)
    except OSError as exc:  # a data folder of another user, a link planted for the lock file
        print(f"ticketbell: cannot use the data folder: {exc}", file=sys.stderr)
        return EXIT_USAGE
    notifier = None if args.no_notify else DesktopNotifier()
    printer = EventPrinter(sys.stdout if args.json else None)
    agent.subscribe(on_alerts=printer)
    if notifier:
        agent.subscribe(on_alerts=notifier)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)
    log.info(
        "ticketbell %s headless, role %s, %d source(s), queue in %s",
        __version__,
        config.role,
        len(config.sources),
        agent.queue.data_dir,
    )
    agent.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        agent.stop()
        if notifier:
            notifier.close()
    return EXIT_OK


class EventPrinter:
    """Writes a log line per event on stderr and, with --json, a JSON line per event on stdout."""

    def __init__(self, json_out: TextIO | None) -> None:
        self.json_out = json_out
        self.lock = threading.Lock()

    def __call__(self, alerts: tuple[Alert, ...]) -> None:
        with self.lock:
            for alert in alerts:
                what = one_line(alert.subject if alert.ticket else alert.message, 200)
                who = (
                    f"{alert.source} #{one_line(alert.ticket, 40)}"
                    if alert.ticket
                    else alert.source
                )
                log.info("%s: %s %s", alert.kind, who, what)
                if self.json_out is not None:
                    self.json_out.write(orjson.dumps(alert.to_json()).decode() + "\n")
            if self.json_out is not None:
                self.json_out.flush()


class DesktopNotifier:
    """Headless desktop notifications through plyer, one per burst, off the scheduler thread."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticketbell-notify")
        self.warned = False

    def __call__(self, alerts: tuple[Alert, ...]) -> None:
        text = notification_text(alerts)
        if text:
            self.pool.submit(self._send, *text)

    def _send(self, title: str, body: str) -> None:
        try:
            from plyer import notification

            notification.notify(title=title, message=body, app_name="Ticketbell", timeout=10)
        except Exception as exc:  # noqa: BLE001 - plyer raises anything without a desktop
            if not self.warned:
                log.warning("desktop notifications are not available here (%s)", exc)
                self.warned = True

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


def _check(args: argparse.Namespace) -> int:
    setup_logging(args.verbose, console_level=logging.ERROR)
    try:
        config = load_config(args)
    except ConfigError as exc:
        if args.json:
            print(orjson.dumps({"error": str(exc), "waiting": None}).decode())
        print(f"UNKNOWN: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    if not config.sources:
        print(f"UNKNOWN: {config.path}: no [[sources]] configured", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        agent = open_agent(config, args)
    except OSError as exc:
        print(f"UNKNOWN: cannot use the data folder: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        report = agent.poll_once()
    finally:
        agent.stop()
    status = report.status
    if args.json:
        print(
            orjson.dumps(
                check_json(status, report.new_keys, config), option=orjson.OPT_INDENT_2
            ).decode()
        )
    else:
        print(check_table(status, report.new_keys))
    if any(s.health not in (Health.OK, Health.SLOWED) for s in status.sources):
        return EXIT_UNKNOWN
    if status.overdue:
        return EXIT_OVERDUE
    slowed = any(s.health is Health.SLOWED for s in status.sources)
    return EXIT_WAITING if status.waiting or slowed else EXIT_OK


def check_json(status: Status, new_keys: frozenset[str], config: Config) -> dict[str, Any]:
    """What `check --json` prints. A ticket's URL only when the tray would open it."""
    from agent.policy import ticket_url

    def url(source: str, value: str) -> str | None:
        try:
            return ticket_url(value, config.source(source))
        except KeyError:
            return None

    return {
        "waiting": status.waiting,
        "overdue": status.overdue,
        "due_soon": status.due_soon,
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "health": s.health.value,
                "message": s.message,
                "waiting": s.waiting,
            }
            for s in status.sources
        ],
        "tickets": [
            {
                "source": w.ticket.source,
                "id": w.ticket.id,
                "subject": w.ticket.subject,
                "category": w.ticket.category,
                "priority": w.ticket.priority,
                "waiting_since": w.ticket.waiting_since.isoformat(),
                "due_at": w.due_at.isoformat(),
                "state": w.state.value,
                "new": w.ticket.key in new_keys,
                "url": url(w.ticket.source, w.ticket.url),
            }
            for w in status.tickets
        ],
    }


def _local(dt: Any) -> str:
    return dt.astimezone().strftime("%a %H:%M")


def check_table(status: Status, new_keys: frozenset[str]) -> str:
    lines = []
    summary = f"{status.waiting} waiting, {status.overdue} overdue, {status.due_soon} due soon"
    for s in status.sources:
        mark = "ok" if s.health is Health.OK else f"FAILED: {one_line(s.message, 300)}"
        if s.health is Health.SLOWED:
            mark = one_line(s.message, 300)
        lines.append(f"{s.name} ({s.kind}): {s.waiting} waiting — {mark}")
    lines.append(summary)
    if status.tickets:
        rows = [("STATE", "DUE", "SOURCE", "ID", "CATEGORY", "SUBJECT")]
        for w in status.tickets:
            state = w.state.value.replace("_", " ")
            if w.ticket.key in new_keys:
                state += " (new)"
            rows.append(
                (
                    state,
                    _local(w.due_at),
                    one_line(w.ticket.source, 30),
                    one_line(w.ticket.id, 20),
                    one_line(w.ticket.category, 30) or "-",
                    one_line(w.ticket.subject, 50),  # no terminal escapes or line breaks
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines.append("")
        for r in rows:
            lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:5])) + "  " + r[5])
    return "\n".join(lines)


def _config(args: argparse.Namespace) -> int:
    path = config_path(args)
    if args.action == "path":
        print(path)
        return EXIT_OK
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "export":
        sys.stdout.write(config_module.export_provisioning(config))
        return EXIT_OK
    if args.action == "validate":
        where = "the demo configuration" if args.demo else str(path)
        print(f"{where}: valid ({len(config.sources)} source(s), role {config.role})")
        from agent.model import utcnow
        from agent.signin import auth_warnings

        for warning in auth_warnings(config, utcnow()):
            print(f"warning: {warning}")
        return EXIT_OK
    print(show_config(config))
    return EXIT_OK


def show_config(config: Config) -> str:
    """The config as TOML, each source annotated with where its secret is (never the secret)."""
    data = dict(config.raw)
    text = config_module.to_toml(data) if data else ""
    notes = []
    for src in config.sources:
        from agent.sources import source_class

        if source_class(src.kind).needs_secret:
            notes.append(
                f"# secret for {src.name!r}: {secret_store.describe(src.name, src.secret_env)}"
            )
    return secret_store.redact("\n".join([*notes, "", text]).strip() + "\n")


def _sources(args: argparse.Namespace) -> int:
    from agent.sources import KINDS, source_class

    width = max(len(k) for k in KINDS)
    for kind in KINDS:
        cls = source_class(kind)
        print(f"{kind.ljust(width)}  {cls.description}")
    return EXIT_OK


def _secret(args: argparse.Namespace) -> int:
    if args.action == "delete":
        secret_store.delete(args.name)
        print(f"deleted the secret of {args.name!r} (if there was one)")
        return EXIT_OK
    if sys.stdin.isatty():
        value = getpass.getpass(f"Token for {args.name!r} (not shown): ")
    else:
        value = sys.stdin.readline().rstrip("\n")
    if not value:
        print("ticketbell: no secret given; nothing stored", file=sys.stderr)
        return EXIT_USAGE
    try:
        secret_store.set(args.name, value)
    except secret_store.SecretUnavailable as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"stored the secret of {args.name!r} in the keyring")
    return EXIT_OK


def _signin(args: argparse.Namespace) -> int:
    """`ticketbell signin NAME` / `ticketbell signout NAME` (see ``agent.signin``)."""
    from agent import signin
    from agent.sources.base import SourceError

    try:
        config = load_config(args)
        source = config.source(args.name)
    except ConfigError as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyError:
        names = ", ".join(repr(s.name) for s in config.sources) or "none"
        print(f"ticketbell: no source named {args.name!r} (there are: {names})", file=sys.stderr)
        return EXIT_USAGE
    if not signin.uses_oauth(source):
        print(f'ticketbell: {args.name!r} does not sign in (set auth = "oauth")', file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "signout":
            print(signin.sign_out(source))
            return EXIT_OK
        method = "device" if args.device else "browser" if args.browser else "auto"
        print(signin.sign_in(source, lambda text: print(text, flush=True), method))
    except (signin.SignInFailed, SourceError) as exc:
        print(f"ticketbell: signing in {args.name!r} did not work: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
