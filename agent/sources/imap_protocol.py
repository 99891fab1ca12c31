"""IMAP on the wire, for :mod:`agent.sources.imap`: opening a connection whose socket an abort
can reach from the first byte of the greeting, SASL OAuth, folder names in modified UTF-7, LIST
and FETCH answers, IDLE (RFC 2177; Python 3.11's imaplib has none, so it is spoken here), and
every socket, TLS and protocol failure classified as one of the errors of ``base.py``.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import io
import logging
import re
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent.i18n import N_, Number, Text, english
from agent.sources.base import (
    AuthError,
    BadResponse,
    SourceError,
    TLSFailure,
    Unavailable,
    Unreachable,
    current_budget,
)
from agent.sources.imap_mail import parse_internaldate

if TYPE_CHECKING:
    from agent.auth.tokens import AccessTokens

log = logging.getLogger(__name__)

NETWORK_ERRORS = (OSError, EOFError, ValueError, imaplib.IMAP4.error)
IDLE_TAG = b"TBIDLE"


class IdleRefused(BadResponse):
    """The server answered IDLE with a tagged NO or BAD: it cannot IDLE."""


# --------------------------------------------------------------------------- connecting


class _OpenedIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 that hands itself to ``on_open`` once its socket exists, before the
    greeting is read: a server trickling its greeting can be cut from another thread."""

    def __init__(
        self, host: str, port: int, timeout: float, on_open: Callable[[imaplib.IMAP4], None]
    ) -> None:
        self._on_open = on_open
        super().__init__(host, port, timeout)

    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        super().open(host, port, timeout)
        self._on_open(self)


class _OpenedIMAP4_SSL(imaplib.IMAP4_SSL):
    """imaplib.IMAP4_SSL handing itself to ``on_open`` before the greeting (see above)."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        context: ssl.SSLContext,
        on_open: Callable[[imaplib.IMAP4], None],
    ) -> None:
        self._on_open = on_open
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def open(self, host: str = "", port: int | None = 993, timeout: float | None = None) -> None:
        super().open(host, port, timeout)
        self._on_open(self)


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """TLS as the source's ``verify`` says: the system's CAs, a CA bundle file, or (False) none."""
    ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def open_connection(
    host: str,
    port: int,
    *,
    tls: bool,
    timeout: float,
    context: ssl.SSLContext,
    on_open: Callable[[imaplib.IMAP4], None],
) -> imaplib.IMAP4:
    """Connect and read the greeting; ``on_open`` gets the connection before the greeting."""
    if tls:
        return _OpenedIMAP4_SSL(host, port, timeout, context, on_open)
    return _OpenedIMAP4(host, port, timeout, on_open)


def cut(conn: imaplib.IMAP4 | None) -> None:
    """Shut down a connection's socket from any thread: its reader fails at once."""
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# what the IMAP source was doing when the mail server refused ("refused to {doing}")
LIST_FOLDERS = N_("list its folders")
OPEN = N_("open {folder}")
SEARCH = N_("search {folder}")
READ_HEADERS = N_("read the headers in {folder}")


def classify_error(
    exc: BaseException, doing: str | Text, host: str, port: int, timeout: float
) -> SourceError:
    """Classify a socket/TLS/protocol failure as one of the errors of ``base.py``."""
    where = f"{host}:{port}"
    detail = f"{english(doing)}: {type(exc).__name__}: {text_of(exc)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = N_(
            "the certificate of the mail server {where} is not trusted ({why}); for a "
            "self-signed certificate set verify to the path of its CA file"
        )
        why = exc.verify_message or Text(N_("verification failed"))
        return TLSFailure(Text(text, where=where, why=why), detail)
    if isinstance(exc, ssl.SSLError):
        text = N_("the TLS handshake with the mail server {where} failed")
        return TLSFailure(Text(text, where=where), detail)
    if isinstance(exc, socket.gaierror):
        text = N_("cannot find the mail server {host} (check the url)")
        return Unreachable(Text(text, host=host), detail)
    if isinstance(exc, TimeoutError | socket.timeout):
        text = N_("the mail server {where} did not answer within {seconds} s")
        return Unavailable(Text(text, where=where, seconds=f"{timeout:g}"), detail)
    if isinstance(exc, ConnectionRefusedError) or (doing == "connect" and isinstance(exc, OSError)):
        text = N_("cannot connect to the mail server {where}")
        return Unreachable(Text(text, where=where), detail)
    if isinstance(exc, imaplib.IMAP4.abort | OSError | EOFError):
        text = N_("the mail server {where} closed the connection")
        return Unavailable(Text(text, where=where), detail)
    text = N_("the mail server {where} gave an answer that cannot be read")
    return BadResponse(Text(text, where=where), detail)


def refused(where: str, doing: str | Text, detail: str) -> BadResponse:
    """The mail server said NO (or BAD) to what the source was ``doing``."""
    text = N_("the mail server {where} refused to {doing}")
    return BadResponse(Text(text, where=where, doing=doing), detail)


def login_refused(where: str, user: str, signed_in: bool, detail: str) -> AuthError:
    """The mail server refused the login: a password, or an OAuth sign-in (``signed_in``)."""
    if signed_in:
        text = N_(
            "the mail server {where} refused the signed-in account for {user}; for a shared "
            "mailbox the person who signed in needs access to it, and the server must allow "
            "IMAP for the account"
        )
    else:
        text = N_(
            "the mail server {where} refused the login of {user}; check the password (Gmail "
            "and Outlook need an app password)"
        )
    return AuthError(Text(text, where=where, user=user), detail)


def no_folder(folder: str, names: list[str], detail: str = "", *, sent: bool = False) -> Text:
    """The mailbox has no ``folder`` (the one for sent replies when ``sent``); it has ``names``."""
    known = ", ".join(names) or Text(N_("none"))
    if sent:
        text = N_(
            "the mailbox has no folder {folder} for sent replies (it has: {known}); set "
            'sent_folder to the folder where replies are saved, or sent_folder = "" to go by '
            "the Answered flag only"
        )
    else:
        text = N_("the mailbox has no folder {folder} (it has: {known})")
    return Text(text, folder=repr(folder), known=known)


def tls_needed(where: str, starttls_offered: bool) -> TLSFailure:
    """No STARTTLS where it is asked for, or logins refused without TLS."""
    if starttls_offered:
        text = N_(
            "the mail server {where} accepts logins only over TLS; use imaps:// or starttls = true"
        )
    else:
        text = N_(
            "the mail server {where} does not offer STARTTLS; use imaps:// if it has a TLS port"
        )
    return TLSFailure(Text(text, where=where))


def sasl_oauth(
    mechanism: str, user: str, token: str, host: str, port: int
) -> Callable[[bytes], bytes]:
    """The client side of SASL XOAUTH2 or OAUTHBEARER for ``imaplib.authenticate``.

    The first answer carries the token; a server that refuses it sends an error challenge,
    which the client must answer with an empty line (XOAUTH2) or ``%x01`` (RFC 7628 3.2.3).
    """
    if mechanism == "OAUTHBEARER":
        first = f"n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
        after = b"\x01"
    else:
        first = f"user={user}\x01auth=Bearer {token}\x01\x01"
        after = b""
    answers = [first.encode()]

    def answer(challenge: bytes) -> bytes:
        return answers.pop() if answers else after

    return answer


def cap_literals(conn: imaplib.IMAP4, where: str, cap: int) -> None:
    """Refuse a literal larger than ``cap``, and count literals against the poll's bytes."""
    read = conn.read

    def capped(size: int) -> bytes:
        budget = current_budget()
        if budget is not None:
            budget.bytes_left -= size
        if size > cap or (budget is not None and budget.bytes_left < 0):
            text = N_(
                "the mail server {where} sent more than Ticketbell reads in one poll "
                "({size} bytes in one answer); refused"
            )
            raise BadResponse(
                Text(text, where=where, size=Number(size)),
                f"literal of {size} bytes (cap {cap})",
            )
        return read(size)

    # imaplib has no hook for its literal reader: this wraps it on this one connection
    conn.read = capped  # type: ignore[method-assign]


def sign_in_oauth(
    conn: imaplib.IMAP4, tokens: AccessTokens, user: str, host: str, port: int, source: str
) -> None:
    """SASL OAUTHBEARER (RFC 7628) where advertised, else XOAUTH2 (Microsoft, Google).

    A refused token is renewed once and tried again: it may have been revoked or expired
    early at the server. ``user`` may be a shared mailbox the signed-in person can open.
    """
    mechanism = "OAUTHBEARER" if "AUTH=OAUTHBEARER" in conn.capabilities else "XOAUTH2"
    token = ""
    for attempt in (1, 2):
        token = tokens.current() if attempt == 1 else tokens.renew(refused=token)
        try:
            conn.authenticate(mechanism, sasl_oauth(mechanism, user, token, host, port))
            return
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort) or attempt == 2:
                raise
            log.info("%s: the mail server refused the access token; renewing it", source)


# --------------------------------------------------------------------------- answers


def encode_mailbox(name: str) -> str:
    """A folder name as an IMAP quoted string in modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    run: list[str] = []  # the characters outside printable ASCII, written as one base64 run

    def flush() -> None:
        if run:
            b64 = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b64).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    encoded = "".join(out)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decode_mailbox(name: str) -> str:
    """The inverse of the modified UTF-7 of :func:`encode_mailbox` (unquoted input)."""

    def repl(m: re.Match[str]) -> str:
        body = m.group(1)
        if not body:
            return "&"
        data = body.replace(",", "/")
        data += "=" * (-len(data) % 4)
        return base64.b64decode(data).decode("utf-16-be", "replace")

    return re.sub(r"&([A-Za-z0-9+,]*)-", repl, name)


def parse_list_line(line: bytes | tuple[bytes, bytes]) -> tuple[set[str], str] | None:
    """(flags, folder name) from one ``LIST`` answer line; None for lines it cannot read."""
    if isinstance(line, tuple):  # the name came as a literal
        head, literal = line
        m = re.match(rb"\(([^)]*)\)", head)
        return ({f.lower() for f in m.group(1).decode().split()}, literal.decode()) if m else None
    m = re.match(rb'\(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (.+)$', line or b"")
    if not m:
        return None
    name = m.group(2).decode("utf-8", "replace").strip()
    if name.startswith('"') and name.endswith('"'):
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return {f.lower() for f in m.group(1).decode().split()}, decode_mailbox(name)


def uid_set(uids: Iterable[int]) -> str:
    """``1,2,3,7`` as ``1:3,7``."""
    parts: list[str] = []
    run: list[int] = []
    for uid in sorted(set(uids)):
        if run and uid == run[-1] + 1:
            run.append(uid)
            continue
        if run:
            parts.append(f"{run[0]}:{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [uid]
    if run:
        parts.append(f"{run[0]}:{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def fetched_headers(
    data: list[Any], wanted: set[int], where: str
) -> Iterator[tuple[int, datetime, bytes]]:
    """(UID, INTERNALDATE, header block) of each message in a ``UID FETCH`` answer.

    UIDs not in ``wanted`` are passed over ("n:*" quirks: never trust the server to stay in
    range).
    """
    pending: tuple[bytes, bytes] | None = None
    for item in [*data, None]:
        if isinstance(item, tuple):
            pending = item
            continue
        if pending is None:
            continue
        prefix = pending[0] + (item if isinstance(item, bytes) else b"")
        raw, pending = pending[1], None
        uid_m = re.search(rb"UID (\d+)", prefix)
        date_m = re.search(rb'INTERNALDATE "([^"]+)"', prefix)
        if not uid_m or not date_m:
            raise BadResponse(
                Text(
                    N_("the mail server {where} sent a FETCH answer without UID or date"),
                    where=where,
                ),
                prefix[:200].decode("ascii", "replace"),
            )
        uid = int(uid_m.group(1))
        if uid not in wanted:
            continue
        try:
            arrived = parse_internaldate(date_m.group(1).decode("ascii"))
        except ValueError as exc:
            raise BadResponse(
                Text(N_("the mail server {where} sent a date that cannot be read"), where=where),
                str(exc),
            ) from None
        yield uid, arrived, raw


def number(data: object) -> int:
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, bytes) and item.strip().isdigit():
            return int(item)
    return 0


def text_of(value: object) -> str:
    """The readable text of an imaplib error or answer (bytes, a list of them, an exception)."""
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def shutdown(conn: imaplib.IMAP4) -> None:
    """Close a connection without caring whether the server is still there."""
    with contextlib.suppress(*NETWORK_ERRORS, AttributeError):
        conn.shutdown()


# --------------------------------------------------------------------------- IDLE


def idle_once(conn: imaplib.IMAP4, seconds: float, closed: Callable[[], bool]) -> bool:
    """One IDLE command of at most ``seconds``: True when the server reported a change.

    Raises :class:`IdleRefused` when the server refuses IDLE, EOFError when it hangs up.
    """
    conn.send(IDLE_TAG + b" IDLE\r\n")
    changed = _until_continuation(conn)
    end = time.monotonic() + seconds
    while not changed:
        remaining = end - time.monotonic()
        if remaining <= 0 or closed():
            break
        if _readable(conn, remaining):
            line = _idle_line(conn)
            if line.startswith(b"* BYE"):
                raise EOFError(line.decode("ascii", "replace").strip())
            changed = _is_change(line)
    conn.send(b"DONE\r\n")
    while True:  # what the server says until IDLE is done counts too
        line = _idle_line(conn)
        if line.startswith(IDLE_TAG):
            return changed
        changed = changed or _is_change(line)


def _until_continuation(conn: imaplib.IMAP4) -> bool:
    """Read up to IDLE's continuation request; True when a change was reported meanwhile."""
    changed = False
    while True:
        line = _idle_line(conn)
        if line.startswith(b"+"):
            return changed
        if line.startswith(IDLE_TAG):
            raise IdleRefused("IDLE refused", line.decode("ascii", "replace").strip())
        changed = changed or _is_change(line)


def _idle_line(conn: imaplib.IMAP4) -> bytes:
    line = conn.readline()
    if not line:
        raise EOFError("connection closed")
    return line


def _is_change(line: bytes) -> bool:
    return bool(re.match(rb"\* \d+ (EXISTS|EXPUNGE|FETCH)\b", line))


def _readable(conn: imaplib.IMAP4, wait: float) -> bool:
    """True when a line can be read: already buffered (by imaplib or TLS) or arriving in time.

    A socket timeout would leave imaplib's reader unusable, so this peeks without blocking and
    then waits with ``select``.
    """
    sock = conn.sock
    buffered = conn.file
    assert isinstance(buffered, io.BufferedReader)  # imaplib reads sock.makefile("rb")
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        if buffered.peek(1):
            return True
    except (BlockingIOError, ssl.SSLWantReadError):
        pass
    finally:
        sock.settimeout(timeout)
    ready, _, _ = select.select([sock], [], [], wait)
    return bool(ready)
