"""What every ``ticketbell`` command shares: exit codes, logging, the config, data folder and
agent a command runs with."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import config as config_module
from agent import secrets as secret_store
from agent.config import Config, ConfigError
from agent.i18n import N_, Text

if TYPE_CHECKING:
    from agent.engine import Agent

log = logging.getLogger("ticketbell")

EXIT_OK, EXIT_WAITING, EXIT_OVERDUE, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_USAGE = 2


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


class _PrivateLogFile(logging.FileHandler):
    """The log file, readable by this user only (0600), kept under ``max_bytes`` by moving it
    to ``ticketbell.log.1`` (and that to ``.2``, up to ``backups``) when the next line would
    not fit, as ``logging.handlers.RotatingFileHandler`` does. That module is not used: it
    imports pickle, socket and queue for its other handlers, about 1.5 MB of the idle tray."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.max_bytes = max_bytes
        self.backups = backups
        super().__init__(path, encoding="utf-8")

    def _open(self) -> Any:
        from agent.queue import open_private

        fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            stream = self.stream = self.stream or self._open()
            size = stream.tell()
            if size and size + len(line.encode("utf-8")) > self.max_bytes:
                stream.close()
                self._rotate()
                stream = self.stream = self._open()
            stream.write(line)
            stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's rule: a handler reports, never raises
            self.handleError(record)

    def _rotate(self) -> None:
        base = Path(self.baseFilename)
        for n in range(self.backups - 1, 0, -1):
            older = base.with_name(f"{base.name}.{n}")
            if older.exists():
                older.replace(base.with_name(f"{base.name}.{n + 1}"))
        base.replace(base.with_name(f"{base.name}.1"))


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
        file_handler = _PrivateLogFile(log_dir / "ticketbell.log", 1_000_000, backups=5)
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
    """The config the command runs with: the demo's, or the file (raises ConfigError). Its
    ``language`` is spoken from here on."""
    from agent import i18n

    if getattr(args, "demo", False):
        config = config_module.demo_config()
    else:
        config = config_module.load(config_path(args))
    i18n.use(config.language)
    return config


def load_config_or_say(args: argparse.Namespace) -> Config | None:
    """The config the command runs with (``load_config``), or None once why it cannot be read
    is printed: the command then ends with ``EXIT_USAGE``."""
    try:
        return load_config(args)
    except ConfigError as exc:
        print(f"ticketbell: {exc}", file=sys.stderr)
        return None


def data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir:
        given: Path = args.data_dir
        return given
    base = config_module.default_data_dir()
    return base / "demo" if getattr(args, "demo", False) else base


def open_agent(config: Config, args: argparse.Namespace) -> Agent:
    """The queue and the agent for this config (imports kept here: `--version` stays fast)."""
    from agent.engine import Agent
    from agent.queue import LocalQueue

    queue = LocalQueue(data_dir(args), config.retention)
    if config.team is not None:  # the team hub's link (and hub) attached: agent.team_agent
        from agent.team_agent import open_team_agent

        return open_team_agent(config, queue, hub=args.command != "check")
    return Agent(config, queue)


def open_agent_or_why(config: Config, args: argparse.Namespace) -> Agent | Text:
    """The agent for this config (``open_agent``), or why it cannot run: no sources, or a data
    folder it cannot use (another user's, a link planted for the lock file). The reason is a
    Text: the person's language where shown, English in ``check --json``."""
    if not config.sources:
        return Text(N_("{path}: no [[sources]] configured"), path=str(config.path))
    try:
        return open_agent(config, args)
    except OSError as exc:
        return Text(N_("cannot use the data folder: {error}"), error=str(exc))


def open_agent_or_say(config: Config, args: argparse.Namespace, prefix: str) -> Agent | None:
    """The agent for this config, or None once why it cannot run (``open_agent_or_why``) is
    printed after ``prefix``. The command then ends with its own exit code."""
    opened = open_agent_or_why(config, args)
    if isinstance(opened, Text):
        print(f"{prefix}: {opened}", file=sys.stderr)
        return None
    return opened
