"""Secrets: the OS keyring (``keyring``), or an environment variable a source names.

Nothing else in Ticketbell reads or writes a secret. Every secret handed out is remembered, and
:class:`RedactingFilter` (installed on the root logger by the CLI) replaces it in every log record,
so a connector that accidentally logs a header still leaks nothing.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import threading
from types import ModuleType

SERVICE = "ticketbell"

_known: set[str] = set()
_lock = threading.Lock()


class SecretUnavailable(Exception):
    """No secret could be found for a source; the message says what to do about it."""


def remember(secret: str | None) -> None:
    """Register a secret so it is redacted from logs and messages, also in its base64 form
    (a server that echoes an ``Authorization: Basic`` header shows ``user:secret`` encoded)."""
    if secret and len(secret) >= 4:
        with _lock:
            _known.add(secret)
            _known.update(_base64_cores(secret))


def _base64_cores(secret: str) -> list[str]:
    """What base64 writes for ``secret`` inside a longer text (``user:secret``, ``secret:X``),
    whatever its offset: for each of the three alignments, the characters that encode the
    secret's bytes alone (the mixed ones at the edges depend on its neighbours)."""
    raw = secret.encode("utf-8")
    if len(raw) < 8:
        return []
    cores = []
    for offset in range(3):
        skip = (3 - offset) % 3  # bytes of the secret that share a group with what precedes it
        whole = (len(raw) - skip) // 3 * 3
        cores.append(base64.b64encode(raw[skip : skip + whole]).decode("ascii"))
    return [c for c in cores if len(c) >= 8]


def clean(name: str, value: str) -> str:
    """A secret as it is stored and sent: without the spaces, tabs and line ends a paste
    leaves around it. One with a control character inside cannot go into a header (requests
    refuses it with an error that would quote it): refused with SecretUnavailable."""
    value = value.strip(" \t\r\n\f\v\x00")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise SecretUnavailable(
            f"the token for {name!r} has a control character (a line break or tab) inside "
            "it, so it cannot be sent; copy it again without one"
        )
    return value


def redact(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "•••")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _known:
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, None
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                if redact(str(exc)) != str(exc):
                    record.exc_info = None
                    record.exc_text = None
                    record.msg = f"{record.msg} ({type(exc).__name__}, details redacted)"
        return True


def _keyring() -> ModuleType:
    import keyring

    return keyring


def keyring_available() -> tuple[bool, str]:
    """Whether a usable keyring backend exists, and its name (or why not)."""
    try:
        kr = _keyring()
        backend = kr.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any backend failure means "not available"
        return False, f"{type(exc).__name__}"
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    priority = getattr(backend, "priority", 1)
    if "fail" in name.lower() or (
        isinstance(priority, (int, float)) and priority <= 0 and "chainer" not in name.lower()
    ):
        return False, name
    return True, name


def get(name: str, env: str = "") -> str:
    """The secret of the source (or channel) called ``name``.

    ``env`` names an environment variable that holds it instead (headless servers, CI).
    Raises SecretUnavailable with a message saying what to do.
    """
    if env:
        value = os.environ.get(env, "")
        if not value:
            raise SecretUnavailable(
                f"the environment variable {env} is not set; it should hold the token for {name!r}"
            )
        remember(value)
        return clean(name, value)
    try:
        value = _keyring().get_password(SERVICE, name)
    except Exception as exc:  # noqa: BLE001 - keyring raises many types across backends
        raise SecretUnavailable(
            f"the keyring cannot be read ({type(exc).__name__}); store the token for {name!r} "
            "with `ticketbell secret set`, or set secret_env to an environment variable"
        ) from None
    if not value:
        raise SecretUnavailable(
            f"no token stored for {name!r}; add it in Settings or with "
            f"`ticketbell secret set {name!r}` (or set secret_env)"
        )
    remember(value)  # as stored, too: an older version kept a pasted line end
    value = clean(name, value)
    remember(value)
    return value


def set(name: str, value: str) -> None:
    """Store a secret in the keyring, cleaned (see :func:`clean`; raises SecretUnavailable)."""
    remember(value)
    value = clean(name, value)
    if not value:
        raise SecretUnavailable(f"the token for {name!r} is empty; nothing stored")
    remember(value)
    try:
        _keyring().set_password(SERVICE, name, value)
    except Exception as exc:  # noqa: BLE001
        raise SecretUnavailable(
            f"the keyring cannot store the token for {name!r} ({type(exc).__name__}); "
            "use secret_env with an environment variable instead"
        ) from None


def delete(name: str) -> None:
    with contextlib.suppress(Exception):  # nothing stored is fine
        _keyring().delete_password(SERVICE, name)


def describe(name: str, env: str = "") -> str:
    """Where the secret of ``name`` comes from, without revealing it (for `config show`)."""
    if env:
        return f"from ${env} ({'set' if os.environ.get(env) else 'NOT set'})"
    try:
        stored = _keyring().get_password(SERVICE, name)
    except Exception:  # noqa: BLE001
        return "keyring unavailable"
    return "in keyring" if stored else "NOT in keyring"
