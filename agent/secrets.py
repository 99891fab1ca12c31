"""Secrets: the OS keyring (``keyring``), or an environment variable a source names, or, on a
computer with no keyring service and only once the person has chosen it after a warning, a
file only they can read (:func:`token_file`, 0600 in Ticketbell's config folder).

Nothing else in Ticketbell reads or writes a secret. Every secret handed out is remembered, and
:class:`RedactingFilter` (installed on the root logger by the CLI) replaces it in every log record,
so a connector that accidentally logs a header still leaks nothing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

from agent.i18n import N_, Text, _, english

SERVICE = "ticketbell"
IN_KEYRING = "the keyring"  # what stored() says of a token in the OS keyring
#: the file of tokens kept without a keyring (the suite's secret scan knows its name)
FILE_NAME = "tokens.json"

_known: set[str] = set()
_lock = threading.Lock()


class SecretUnavailable(Exception):
    """No secret could be found for a source; the message says what to do about it.

    ``str()`` is the message in the language in use where it is read; :attr:`text` is the
    :class:`~agent.i18n.Text` itself (a source's NotConfigured carries it on), ``english`` the
    words for the log."""

    def __init__(self, message: str | Text) -> None:
        super().__init__(english(message))
        self.text = message

    @property
    def english(self) -> str:
        return english(self.text)

    def __str__(self) -> str:
        return str(self.text)


class NoKeyring(SecretUnavailable):
    """The keyring cannot store a token: the message says so in plain words and offers the
    private file (``set(..., to_file=True)``) or an environment variable."""


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
        text = N_(
            "the token for {name} has a control character (a line break or tab) inside "
            "it, so it cannot be sent; copy it again without one"
        )
        raise SecretUnavailable(Text(text, name=repr(name)))
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


#: the plain-text keyring refused (see :func:`_keyring`), by name; "" when none was, None
#: until the keyring was first asked for
_refused: str | None = None


def _keyring() -> ModuleType:
    """The keyring library, never with a plain-text backend it picked only for want of a keyring.

    keyrings.alt's backends keep secrets in a file as plain text. keyring picks one when it is
    installed and no keyring service answers (a desktop without GNOME Keyring or KWallet, a
    server): tokens went into that file while Ticketbell said "in the keyring" and the self-test
    said OK. Chosen on purpose (``PYTHON_KEYRING_BACKEND`` or keyring's own config file, as the
    tests do) it is used; otherwise this computer has no keyring, and the person is told so and
    offered the private file (:func:`no_keyring_advice`).
    """
    global _refused
    import keyring

    if _refused is None:
        _refused = ""
        backend = keyring.get_keyring()
        if type(backend).__module__.startswith("keyrings.alt") and not _chosen(keyring):
            _refused = f"{type(backend).__module__}.{type(backend).__name__}"
            keyring.set_keyring(keyring.core.load_keyring("keyring.backends.fail.Keyring"))
    return keyring


def _chosen(keyring: ModuleType) -> bool:
    """Whether the keyring backend was named by the person (environment or keyring's config)."""
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    try:
        return keyring.core.load_config() is not None
    except Exception:  # noqa: BLE001 - an unreadable config file names nothing
        return False


def keyring_available() -> tuple[bool, str]:
    """Whether a usable keyring backend exists, and its name (or why not)."""
    try:
        kr = _keyring()
        backend = kr.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any backend failure means "not available"
        return False, f"{type(exc).__name__}"
    if _refused:
        return False, _("{backend} keeps tokens as plain text: not used").format(backend=_refused)
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
            text = N_(
                "the environment variable {env} is not set; it should hold the token for {name}"
            )
            raise SecretUnavailable(Text(text, env=env, name=repr(name)))
        remember(value)
        return clean(name, value)
    try:
        value = _keyring().get_password(SERVICE, name) or _from_file(name)
    except Exception as exc:  # noqa: BLE001 - keyring raises many types across backends
        value = _from_file(name)
        if not value:
            text = N_(
                "no token for {name}: this computer has no keyring service to read ({why}) and "
                "the token is not in {file}; store it in Settings or with "
                "`ticketbell secret set {name} --to-file`"
            )
            why, file = type(exc).__name__, str(token_file())
            raise SecretUnavailable(Text(text, name=repr(name), why=why, file=file)) from None
    if not value:
        text = N_(
            "no token stored for {name}; add it in Settings or with "
            "`ticketbell secret set {name}` (or set secret_env)"
        )
        raise SecretUnavailable(Text(text, name=repr(name)))
    remember(value)  # as stored, too: an older version kept a pasted line end
    value = clean(name, value)
    remember(value)
    return value


def set(name: str, value: str, *, to_file: bool = False) -> str:
    """Store a secret, cleaned (see :func:`clean`; raises SecretUnavailable), in the keyring;
    where it cannot, in :func:`token_file` when ``to_file`` (the person accepted the warning)
    or when that file is in use already, else NoKeyring. Returns where it went, in words."""
    remember(value)
    value = clean(name, value)
    if not value:
        raise SecretUnavailable(
            Text(N_("the token for {name} is empty; nothing stored"), name=repr(name))
        )
    remember(value)
    if not to_file:
        try:
            _keyring().set_password(SERVICE, name, value)
        except Exception as exc:  # noqa: BLE001
            if not token_file().exists():
                raise NoKeyring(no_keyring_advice(name, type(exc).__name__)) from None
        else:
            _write_file(name, None)  # no older copy left in the file to shadow it
            return "in the keyring"
    _write_file(name, value)
    return f"in {token_file()} (readable by you only)"


def no_keyring_advice(name: str, why: str = "") -> Text:
    """What to do when this computer has no keyring service, in plain words."""
    text = N_(
        "This computer has no keyring service{why}: the safe place "
        "where programs keep passwords, such as GNOME Keyring, KWallet, the Windows Credential "
        "Manager or the macOS Keychain. So the token for {name} cannot be kept there. "
        "Ticketbell can keep it in a file only your user account can read ({file}); "
        "anyone who can log in as you, or read your backups, can read it too. Or put the "
        "token in an environment variable and name that variable as the helpdesk's "
        "secret_env in the config file."
    )
    said = f" ({why})" if why else ""
    return Text(text, why=said, name=repr(name), file=str(token_file()))


def delete(name: str) -> None:
    with contextlib.suppress(Exception):  # nothing stored is fine
        _keyring().delete_password(SERVICE, name)
    with contextlib.suppress(OSError, SecretUnavailable):
        _write_file(name, None)


def rename(old: str, new: str, *, replace: bool = False) -> bool:
    """Move the token stored for ``old`` to ``new``, where it is (the keyring or the private
    file), for a source renamed. Not over a token ``new`` has already, unless ``replace``
    (the caller knows no source of the settings uses it: one left by a source removed).
    True when moved."""
    where = stored(old)
    if not where or (stored(new) and not replace):
        return False
    try:
        set(new, get(old), to_file=where != IN_KEYRING)
    except SecretUnavailable:
        return False
    delete(old)
    return True


def stored(name: str) -> str:
    """Where a token for ``name`` is stored ("the keyring", "a private file"), "" if none."""
    with contextlib.suppress(Exception):  # no keyring: the file may hold it
        if _keyring().get_password(SERVICE, name):
            return IN_KEYRING
    return "a private file" if _from_file(name) else ""


def describe(name: str, env: str = "") -> str:
    """Where the secret of ``name`` comes from, without revealing it (for `config show`)."""
    if env:
        return f"from ${env} ({'set' if os.environ.get(env) else 'NOT set'})"
    try:  # where get() looks first: the keyring, then the private file
        found = _keyring().get_password(SERVICE, name)
    except Exception:  # noqa: BLE001
        found = None
        if not _from_file(name):
            return "keyring unavailable"
    if found:
        return "in keyring"
    return f"in {token_file()}" if _from_file(name) else "NOT in keyring"


# --------------------------------------------------------------------------- the private file


def token_file() -> Path:
    """Where tokens are kept on a computer without a keyring: Ticketbell's config folder."""
    import platformdirs

    return Path(platformdirs.user_config_dir(SERVICE, appauthor=False)) / FILE_NAME


def _read_file() -> dict[str, str]:
    """The private file's tokens ({} when there is none). One another user could read is made
    0600 first; one that is not ours, or a symbolic link, is not read."""
    path = token_file()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return {}
    except OSError as exc:
        text = Text(
            N_("{path} cannot be read: {error}"), path=str(path), error=str(exc.strerror or exc)
        )
        raise SecretUnavailable(text) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if sys.platform != "win32":
            if info.st_uid != os.getuid():
                text = Text(N_("{path} belongs to another user; it is not read"), path=str(path))
                raise SecretUnavailable(text)
            if info.st_mode & 0o077:
                os.fchmod(fh.fileno(), 0o600)
        raw = fh.read(1024 * 1024)
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        text = Text(N_("{path} is damaged (not JSON); store the tokens again"), path=str(path))
        raise SecretUnavailable(text) from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _from_file(name: str) -> str:
    with _lock:
        return _read_file().get(name, "")


def _write_file(name: str, value: str | None) -> None:
    """Put (or, with None, take out) ``name``'s token in the private file (0600, its folder
    0700, written atomically); no file is made just to take something out."""
    from agent.storage import atomic_write, private_dir

    with _lock:
        tokens = _read_file()
        if value is None and name not in tokens:
            return
        if value is None:
            del tokens[name]
        else:
            tokens[name] = value
        path = token_file()
        private_dir(path.parent)
        atomic_write(path, json.dumps(tokens, indent=1).encode("utf-8"))
