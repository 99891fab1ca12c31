"""The suite-wide secret scan: no test secret in a file, log line or error message of the suite.

``tests/conftest.py`` wires it: every log record of the session is written to ``suite.log`` under
pytest's base temp dir through the same redacting filter and formatter as the log file of
``agent.cli.setup_logging``; the output of every ``run_cli`` subprocess and the message of every
error our code raises are kept in :data:`TEXTS`. At the end of the session :func:`scan_suite`
looks for every test secret in all of it, plus every file under the isolated home and every
``tmp_path`` (configs, data dirs, subprocess log files), and the run fails if one is found.

The secrets looked for are the ones the suite used (:func:`watch_secrets`): every value stored
with or read through ``agent.secrets.set``/``get`` in this process, every secret given to a
source, every value given to ``ticketbell secret set`` through ``run_cli``, plus those
registered with :func:`register_secret` (values only ever handed to a subprocess). Not the
redaction list of ``agent.secrets``: it also holds every long part of a channel URL (host
names), which may rightly appear anywhere.

Files of a fake server (its own password database) are not Ticketbell's output: a fake lists its
folder in :data:`SERVER_SIDE`. The private token file of a computer without a keyring
(``agent.secrets.FILE_NAME``) is, like the keyring, where a token is meant to be: not scanned
(``test_secrets_file.py`` checks it is 0600 and holds nothing but the tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent import secrets as secret_store

# Shorter values (a test's "pw", "abc1") are also ordinary words and substrings of other text;
# every secret the suite hands to a connector or the keyring is longer than this.
MIN_LENGTH = 8

SECRETS: set[str] = set()
SERVER_SIDE: list[Path] = []
TEXTS: list[tuple[str, str]] = []  # (where, text): subprocess output, error messages
FOUND = pytest.StashKey[int]()
LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def register_secret(value: str) -> str:
    """Register a secret a test uses outside ``agent.secrets`` (e.g. only in a subprocess)."""
    SECRETS.add(value)
    return value


def suite_secrets() -> set[str]:
    return {s for s in SECRETS if len(s) >= MIN_LENGTH}


def watch_secrets() -> None:
    """Register every secret the code under test stores, reads or hands to a source."""
    from agent.sources.base import Source

    store, read, source_init = secret_store.set, secret_store.get, Source.__init__

    def set_(name: str, value: str, *, to_file: bool = False) -> str:
        SECRETS.add(value)
        return store(name, value, to_file=to_file)

    def get(name: str, env: str = "") -> str:
        value = read(name, env)
        SECRETS.add(value)
        return value

    def init(self: Source, config: object, secret: str | None = None, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        if secret:
            SECRETS.add(secret)
        source_init(self, config, secret, *args, **kw)  # type: ignore[arg-type]

    secret_store.set, secret_store.get = set_, get  # type: ignore[assignment]
    Source.__init__ = init  # type: ignore[method-assign]


def log_handler(path: Path) -> logging.Handler:
    """A handler that writes records as the agent's log file would (see ``setup_logging``)."""
    from agent.cli import _ConsoleFormatter

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(_ConsoleFormatter(LOG_FORMAT))
    handler.addFilter(secret_store.RedactingFilter())
    return handler


def record_errors(*classes: type[BaseException]) -> None:
    """Keep the message (and ``detail``) of every instance of ``classes`` created."""
    for cls in classes:
        original = cls.__init__

        def init(self, *args, __original=original, **kwargs) -> None:  # type: ignore[no-untyped-def]
            __original(self, *args, **kwargs)
            text = f"{self} {getattr(self, 'detail', '')}"
            TEXTS.append((f"{type(self).__name__} message", text))

        cls.__init__ = init  # type: ignore[method-assign]


def _server_side(path: Path) -> bool:
    return any(path.is_relative_to(folder) for folder in SERVER_SIDE)


@dataclass(frozen=True)
class Finding:
    where: str
    secret: str

    def __str__(self) -> str:
        shown = self.secret[:3] + "…"
        return f"secret {shown} ({len(self.secret)} chars) found in {self.where}"


def scan(
    secrets: Iterable[str], roots: Iterable[Path], texts: Iterable[tuple[str, str]]
) -> list[Finding]:
    """Every (place, secret) where a secret appears: in any file under ``roots`` or in ``texts``."""
    wanted = sorted(set(secrets))
    found: list[Finding] = []
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if not path.is_file() or path.is_symlink() or _server_side(path):
                continue
            if path.name == secret_store.FILE_NAME:  # the tokens' place without a keyring
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            lines = data.split(b"\n")
            for secret in wanted:
                raw = secret.encode()
                if raw in data:
                    line = next(i for i, text in enumerate(lines, 1) if raw in text)
                    found.append(Finding(f"{path}:{line}", secret))
    for where, text in texts:
        found += [Finding(where, s) for s in wanted if s in text]
    return found
