"""A support inbox over IMAP: one ticket per e-mail thread waiting for a reply.

Not HTTP, so not ``http.py``: stdlib ``imaplib`` over TLS (``imaps://``, or ``imap://`` with
``starttls = true``). What counts as waiting (see ``thread_tickets``):

* messages are grouped into threads by ``Message-ID`` / ``References`` / ``In-Reply-To``;
* a thread waits while its newest message is the customer's and unanswered: a customer message
  flagged ``\\Answered``, a message of ours in the watched folders (From one of our addresses) or
  a message in ``sent_folder`` that names a message of the thread answers the thread up to that
  point; a customer message arriving later makes it wait again;
* ``waiting_since`` is the INTERNALDATE (arrival at the server, not the sender's ``Date:``) of
  the oldest customer message after the last answer;
* automatic mail counts neither as the customer's nor as ours (see :func:`automatic_reason`):
  an out-of-office reply never opens or reopens a thread, and an auto-acknowledgement never
  answers one.

The ticket id is a short hash of the thread's root ``Message-ID`` (the first entry of the oldest
message's ``References``, else its own id): it survives a UIDVALIDITY change, a mailbox rebuild
and a message moved between folders, where ``UIDVALIDITY:UID`` would not. A thread without any
``Message-ID`` falls back to ``UIDVALIDITY:UID`` of its oldest message.

Polling is incremental: per folder the headers already fetched are cached under UIDVALIDITY;
each poll EXAMINEs the folder (read-only; headers are fetched with ``BODY.PEEK`` so ``\\Seen``
is never set), searches the UIDs again only when UIDNEXT or the message count moved, fetches the
headers of new UIDs only, and re-runs the cheap ``UID SEARCH ANSWERED`` / ``DELETED`` for flag
changes. A UIDVALIDITY change throws the folder's cache away.

``wait_for_change()`` uses IMAP IDLE (RFC 2177) on a second connection, so the engine can poll at
once when mail arrives; Python 3.11's imaplib has no IDLE, so it is spoken here directly.
"""

from __future__ import annotations

import base64
import contextlib
import email.policy
import hashlib
import imaplib
import logging
import re
import select
import socket
import ssl
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from agent import signin
from agent.model import Snapshot, Ticket, utcnow
from agent.sources.base import (
    AuthError,
    BadResponse,
    NotConfigured,
    Option,
    Source,
    SourceError,
    TLSFailure,
    Unavailable,
    Unreachable,
    current_budget,
)

if TYPE_CHECKING:
    from agent.config import SourceConfig

log = logging.getLogger(__name__)

HEADERS = (
    "FROM TO CC DELIVERED-TO X-ORIGINAL-TO SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES "
    "X-PRIORITY IMPORTANCE AUTO-SUBMITTED CONTENT-TYPE RETURN-PATH LIST-ID PRECEDENCE"
)
FETCH_ITEMS = f"(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ({HEADERS})])"
FETCH_BATCH = 500
NETWORK_ERRORS = (OSError, EOFError, ValueError, imaplib.IMAP4.error)
IDLE_REISSUE = 25 * 60.0  # RFC 2177: re-issue IDLE at least every 29 minutes
#: the largest literal ({n} bytes) a server may send: we ask for a few header fields only, so
#: anything near this is a broken or hostile server; imaplib would read any size it announces
MAX_LITERAL = 1024 * 1024
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTHS = {m: i for i, m in enumerate(MONTH_NAMES, 1)}
SPECIAL_FOLDERS = {"\\sent", "\\drafts", "\\trash", "\\junk", "\\all", "\\archive", "\\flagged"}
WEBMAIL_FIELDS = {"message_id", "subject"}
_PARSER = BytesHeaderParser(policy=email.policy.default)


# --------------------------------------------------------------------------- pure parts


@dataclass(frozen=True, slots=True)
class Message:
    """The headers of one message that threading and the ticket need."""

    folder: str
    uidvalidity: int
    uid: int
    arrived: datetime  # INTERNALDATE, aware UTC
    message_id: str = ""
    refs: tuple[str, ...] = ()  # References then In-Reply-To, oldest first
    sender: str = ""  # address, lower case
    sender_name: str = ""
    subject: str = ""
    recipients: frozenset[str] = frozenset()
    priority: str = "normal"
    automatic: str = ""  # why a machine sent it (see automatic_reason); "" for a person's mail
    list_id: str = ""  # the List-Id (RFC 2919) of list mail, lower case, without the <>
    bulk: bool = False  # Precedence: bulk, list or junk (RFC 3834 section 2)


def parse_internaldate(text: str) -> datetime:
    """``"17-Jul-1996 02:44:25 -0700"`` to aware UTC, independent of the locale."""
    m = re.fullmatch(
        r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\s*", text
    )
    if not m or m.group(2).title() not in MONTHS:
        raise ValueError(f"not an IMAP INTERNALDATE: {text!r}")
    day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    local = datetime(int(year), MONTHS[mon.title()], int(day), int(hh), int(mm), int(ss))
    return local.replace(tzinfo=timezone(offset)).astimezone(timezone.utc)


def _ids(text: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", text)


def _priority(headers: object) -> str:
    get = getattr(headers, "get", None)
    xp = str(get("x-priority", "") if get else "").strip()
    importance = str(get("importance", "") if get else "").strip().lower()
    if xp[:1] in ("1", "2") or importance == "high":
        return "high"
    if xp[:1] in ("4", "5") or importance == "low":
        return "low"
    return "normal"


#: RFC 3834 section 2 names these Precedence values as marking bulk and list mail
BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
#: the senders of delivery reports (RFC 5321 section 4.5.5 and common practice)
REPORT_SENDERS = frozenset({"mailer-daemon", "postmaster"})


def automatic_reason(
    *, auto_submitted: str, content_type: str, sender: str, return_path: str
) -> str:
    """Why a message was sent by a machine rather than a person; "" when nothing says so.

    * ``Auto-Submitted`` other than ``no`` (RFC 3834 section 5: ``auto-replied`` for
      out-of-office and vacation replies, ``auto-generated`` for notifications);
    * a report (RFC 6522 ``multipart/report``: delivery status notifications, RFC 3464, and
      read receipts, RFC 8098), or mail from ``mailer-daemon`` / ``postmaster``;
    * an empty ``Return-Path: <>``: delivery reports and RFC 3834 responders (section 3.3) are
      sent with the null reverse-path, so nobody can reply to them.

    List mail (``List-Id``, ``Precedence``) is judged by :func:`_is_automatic`, which knows our
    own addresses.
    """
    auto = auto_submitted.split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if content_type == "multipart/report":
        return "a delivery or read report (multipart/report)"
    local = sender.partition("@")[0]
    if local in REPORT_SENDERS:
        return f"sent by {local}"
    if return_path.replace(" ", "") == "<>":
        return "sent with an empty Return-Path"
    return ""


def parse_headers(
    raw: bytes, *, folder: str, uidvalidity: int, uid: int, arrived: datetime
) -> Message:
    """A :class:`Message` from the fetched header block; RFC 2047 words are decoded."""
    headers = _PARSER.parsebytes(raw)

    def text(name: str) -> str:
        try:
            value = headers.get(name)
        except (ValueError, TypeError, IndexError):  # a header the parser cannot make sense of
            value = None
        return " ".join(str(value).split()) if value is not None else ""

    message_id = next(iter(_ids(text("message-id"))), "")
    refs = _ids(text("references"))
    for ref in _ids(text("in-reply-to")):
        if ref not in refs:
            refs.append(ref)
    senders = getaddresses([text("from")])
    name, address = senders[0] if senders else ("", "")
    recipients = {
        addr.lower()
        for _, addr in getaddresses(
            [text(h) for h in ("to", "cc", "delivered-to", "x-original-to") if text(h)]
        )
        if addr
    }
    try:
        content_type = headers.get_content_type()
    except (ValueError, TypeError, IndexError, AttributeError):
        content_type = ""
    list_ids = _ids(text("list-id"))
    return Message(
        folder=folder,
        uidvalidity=uidvalidity,
        uid=uid,
        arrived=arrived,
        message_id=message_id,
        refs=tuple(r for r in refs if r != message_id),
        sender=address.lower(),
        sender_name=name or address,
        subject=text("subject"),
        recipients=frozenset(recipients),
        priority=_priority(headers),
        automatic=automatic_reason(
            auto_submitted=text("auto-submitted"),
            content_type=content_type,
            sender=address.lower(),
            return_path=text("return-path"),
        ),
        list_id=list_ids[0].strip("<>").lower() if list_ids else "",
        bulk=text("precedence").lower() in BULK_PRECEDENCE,
    )


def _threads(messages: Iterable[Message]) -> list[list[Message]]:
    """Group messages that share a Message-ID chain (union-find over the ids)."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keyed: list[tuple[str, Message]] = []
    for msg in messages:
        key = msg.message_id or f"uid:{msg.folder}:{msg.uidvalidity}:{msg.uid}"
        root = find(key)
        for ref in msg.refs:
            other = find(ref)
            if other != root:
                parent[other] = root
        keyed.append((key, msg))
    groups: dict[str, list[Message]] = {}
    for key, msg in keyed:
        groups.setdefault(find(key), []).append(msg)
    return list(groups.values())


def _is_ours(msg: Message, own: frozenset[str], sent_folder: str) -> bool:
    if sent_folder and msg.folder == sent_folder:
        return True
    domain = "@" + msg.sender.rpartition("@")[2]
    return msg.sender in own or domain in own


def _is_automatic(msg: Message, own: frozenset[str]) -> bool:
    """Whether a machine sent ``msg``: :func:`automatic_reason`, or list and bulk mail
    (``List-Id``, RFC 2919; ``Precedence: bulk``, ``list`` or ``junk``, which RFC 3834 section 2
    names as what list servers and bulk senders set, though no standard defines it).

    A support address that is itself a group (Google Groups, Mailman) stamps every mail it
    passes on with its own List-Id (``support@example.com`` -> ``<support.example.com>``):
    list mail of one of our addresses (``own``) is the customers' mail, not a list's.
    """
    if msg.automatic:
        return True
    if not msg.list_id:
        return msg.bulk
    for address in own:
        if address.startswith("@"):
            if msg.list_id.endswith("." + address[1:]):
                return False
        elif msg.list_id == address.replace("@", ".", 1):
            return False
    return True


def thread_id(thread: list[Message]) -> str:
    """The stable ticket id of a thread (see the module docstring)."""
    oldest = min(thread, key=lambda m: (m.arrived, m.uid))
    root = (oldest.refs[0] if oldest.refs else "") or oldest.message_id
    if not root:
        return f"{oldest.uidvalidity}:{oldest.uid}"
    return hashlib.sha256(root.encode("utf-8", "replace")).hexdigest()[:12]


def thread_tickets(
    messages: Iterable[Message],
    answered: Callable[[Message], bool],
    *,
    source: str,
    own: frozenset[str],
    sent_folder: str,
    categorize: Callable[[Message], str],
    url: Callable[[Message], str] = lambda m: "",
    lists: frozenset[str] = frozenset(),
) -> list[Ticket]:
    """The waiting threads among ``messages``, one ticket each; pure (``answered`` reads flags).

    Automatic mail (:func:`_is_automatic`; ``lists`` are the addresses whose own List-Id is
    not list mail) neither opens, reopens nor answers a thread.
    """
    tickets = []
    for thread in _threads(messages):
        counted = [m for m in thread if not _is_automatic(m, lists)]
        customer = [m for m in counted if not _is_ours(m, own, sent_folder)]
        if not customer:
            continue  # a conversation we started and nobody answered: not waiting on us
        since: Message | None = None
        for msg in sorted(counted, key=lambda m: (m.arrived, _is_ours(m, own, sent_folder))):
            if _is_ours(msg, own, sent_folder) or answered(msg):
                since = None
            elif since is None:
                since = msg
        if since is None:
            continue
        first = min(customer, key=lambda m: (m.arrived, m.uid))
        tickets.append(
            Ticket(
                source=source,
                id=thread_id(thread),
                subject=first.subject or "(no subject)",
                created_at=min(m.arrived for m in counted),
                waiting_since=since.arrived,
                requester=first.sender_name,
                category=categorize(since),
                priority=max(
                    (m.priority for m in customer),
                    key=("low", "normal", "high").index,
                ),
                status="unanswered",
                url=url(since),
            )
        )
    return tickets


def encode_mailbox(name: str) -> str:
    """A folder name as an IMAP quoted string in modified UTF-7 (RFC 3501 5.1.3)."""
    out, run = [], []

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


# --------------------------------------------------------------------------- the source


@dataclass
class _Folder:
    """What was fetched from one folder, valid while its UIDVALIDITY stays."""

    uidvalidity: int = 0
    uidnext: int = 0
    exists: int = -1
    messages: dict[int, Message] = field(default_factory=dict)
    answered: set[int] = field(default_factory=set)


class ImapSource(Source):
    kind = "imap"
    description = "a support inbox over IMAP: one ticket per unanswered e-mail thread"
    required = (Option("user", "Login (usually the mailbox's address)"),)
    optional = (
        Option(
            "url",
            "Mail server",
            help="imaps://imap.example.com:993 (or imap:// + starttls); "
            'not needed with provider = "microsoft" or "google"',
        ),
        Option(
            "auth",
            "Sign-in",
            str,
            "password",
            '"password", or "oauth" to sign in with Microsoft 365, Google or your OAuth server',
        ),
        *signin.OPTIONS,
        Option("folder", "Folder to watch", str, "INBOX"),
        Option(
            "sent_folder",
            "Folder of sent replies",
            str,
            "Sent",
            'replies saved there answer their thread; "" to rely on the Answered flag only',
        ),
        Option("starttls", "Use STARTTLS on imap://", bool, False),
        Option(
            "team",
            "Our addresses",
            list,
            [],
            "addresses or @domains whose mails in the watched folders count as our replies",
        ),
        Option("lookback_days", "Days of mail to read", int, 60),
        Option(
            "webmail_url",
            "Webmail link",
            str,
            "",
            "e.g. https://mail.google.com/mail/u/0/#search/rfc822msgid%3A{message_id}",
        ),
    )
    secret_label = "Password (or app password)"  # noqa: S105 - a label, not a secret
    category_label = "Folders or recipient addresses"

    @classmethod
    def check_options(cls, config: SourceConfig) -> list[tuple[str, str]]:
        auth = str(config.options.get("auth") or "password").lower()
        if not config.url and auth == "password":
            return [
                (
                    "url",
                    "is missing; set url to the mail server (imaps://host:993), or sign in with "
                    'auth = "oauth" and provider = "microsoft" or "google"',
                )
            ]
        return []

    def __init__(
        self,
        config: SourceConfig,
        secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(config, secret, clock)
        self.tokens = None
        url = config.url
        auth = str(self.option("auth") or "password").lower()
        if auth not in ("password", "oauth"):
            raise NotConfigured(f'{self.name}: auth must be "password" or "oauth", not {auth!r}')
        for key, problem in self.check_options(config):  # config loading ran them too
            raise NotConfigured(f"{self.name}: {key} {problem}")
        if signin.uses_oauth(config):
            assert secret is not None
            self.tokens = signin.tokens_for(config, secret, clock)
            url = url or self.tokens.client.provider.imap_url
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("imap", "imaps") or not parts.hostname:
            raise NotConfigured(
                f"{self.name}: url {url!r} is not an IMAP address; "
                "use imaps://host:993 (or imap://host:143 with starttls = true)"
            )
        if not config.user:
            raise NotConfigured(f"{self.name}: set user to the mailbox's login")
        self.host = parts.hostname
        self.tls = scheme == "imaps"
        self.starttls = bool(self.option("starttls"))
        try:
            self.port = parts.port or (993 if self.tls else 143)
        except ValueError:
            raise NotConfigured(f"{self.name}: url {url!r} has a bad port") from None
        if (
            not self.tls
            and not self.starttls
            and self.host not in ("127.0.0.1", "::1", "localhost")
        ):
            log.warning(
                "%s: imap:// without starttls sends the password unencrypted to %s",
                self.name,
                self.host,
            )
        if config.proxy:
            log.warning("%s: IMAP connections do not go through the proxy setting", self.name)
        self.user = config.user
        cats = config.categories
        self.addresses = [c.lower() for c in cats if "@" in c]
        self.folders = [c for c in cats if "@" not in c] or [str(self.option("folder") or "INBOX")]
        self.sent_setting = str(
            self.option("sent_folder") if self.option("sent_folder") is not None else "Sent"
        )
        self.sent_folder: str | None = None  # resolved on the first fetch
        own = {a.lower() for a in (self.option("team") or [])}
        if "@" in self.user:
            own.add(self.user.lower())
        self.own = frozenset(own)
        self.lookback = timedelta(days=max(1, int(self.option("lookback_days") or 60)))
        self.webmail = str(self.option("webmail_url") or "")
        try:
            parts = [p for p in string.Formatter().parse(self.webmail) if p[1] is not None]
        except ValueError:  # an unmatched "{" or "}"
            parts = [("", "{", "", None)]
        for _, name, spec, conversion in parts:
            # only plain {message_id} and {subject}: a format spec ("{subject:>300000000}")
            # or conversion would build a URL of any size for every ticket
            if name not in WEBMAIL_FIELDS or spec or conversion:
                raise NotConfigured(
                    f"{self.name}: webmail_url may use {{message_id}} and {{subject}} as they "
                    "are (no format or conversion after them); write a literal { or } as {{ or }}"
                )
        self._cache: dict[str, _Folder] = {}
        self._conn: imaplib.IMAP4 | None = None
        self._idle: imaplib.IMAP4 | None = None
        self._idle_ok: bool | None = None
        self._closed = False
        self._idle_setup: imaplib.IMAP4 | None = None  # IDLE's connection while being set up

    # ------------------------------------------------------------ connection and errors

    def _context(self) -> ssl.SSLContext:
        verify = self.config.verify
        ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        if verify is False:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> imaplib.IMAP4:
        timeout = self.config.timeout
        try:
            if self.tls:
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=self._context(), timeout=timeout
                )
            else:
                conn = imaplib.IMAP4(self.host, self.port, timeout=timeout)
                if self.starttls:
                    if "STARTTLS" not in conn.capabilities:
                        conn.shutdown()
                        raise TLSFailure(
                            f"the mail server {self._where()} does not offer STARTTLS; "
                            "use imaps:// if it has a TLS port"
                        )
                    conn.starttls(self._context())
        except SourceError:
            raise
        except NETWORK_ERRORS as exc:
            raise self._error(exc, "connect") from None
        _cap_literals(conn, self._where())
        try:
            if "LOGINDISABLED" in conn.capabilities:
                raise TLSFailure(
                    f"the mail server {self._where()} accepts logins only over TLS; "
                    "use imaps:// or starttls = true"
                )
            assert self.secret is not None
            if self.tokens is not None:
                self._sign_in_oauth(conn)
            elif self.secret.isascii() and self.user.isascii():
                conn.login(self.user, self.secret)
            else:
                token = f"\0{self.user}\0{self.secret}".encode()
                conn.authenticate("PLAIN", lambda _: token)
        except imaplib.IMAP4.error as exc:
            _shutdown(conn)
            if isinstance(exc, imaplib.IMAP4.abort):
                raise self._error(exc, "log in") from None
            if self.tokens is not None:
                raise AuthError(
                    f"the mail server {self._where()} refused the signed-in account for "
                    f"{self.user}; for a shared mailbox the person who signed in needs access "
                    "to it, and the server must allow IMAP for the account",
                    _text(exc),
                ) from None
            raise AuthError(
                f"the mail server {self._where()} refused the login of {self.user}; check the "
                "password (Gmail and Outlook need an app password)",
                _text(exc),
            ) from None
        except SourceError:
            _shutdown(conn)
            raise
        except NETWORK_ERRORS as exc:
            _shutdown(conn)
            raise self._error(exc, "log in") from None
        return conn

    def _sign_in_oauth(self, conn: imaplib.IMAP4) -> None:
        """SASL OAUTHBEARER (RFC 7628) where advertised, else XOAUTH2 (Microsoft, Google).

        A refused token is renewed once and tried again: it may have been revoked or expired
        early at the server. ``user`` may be a shared mailbox the signed-in person can open.
        """
        assert self.tokens is not None
        mechanism = "OAUTHBEARER" if "AUTH=OAUTHBEARER" in conn.capabilities else "XOAUTH2"
        token = ""
        for attempt in (1, 2):
            token = self.tokens.current() if attempt == 1 else self.tokens.renew(refused=token)
            try:
                conn.authenticate(
                    mechanism, sasl_oauth(mechanism, self.user, token, self.host, self.port)
                )
                return
            except imaplib.IMAP4.error as exc:
                if isinstance(exc, imaplib.IMAP4.abort) or attempt == 2:
                    raise
                log.info("%s: the mail server refused the access token; renewing it", self.name)

    def _error(self, exc: BaseException, doing: str) -> SourceError:
        """Classify a socket/TLS/protocol failure as one of the errors of ``base.py``."""
        where = self._where()
        detail = f"{doing}: {type(exc).__name__}: {_text(exc)}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TLSFailure(
                f"the certificate of the mail server {where} is not trusted "
                f"({exc.verify_message or 'verification failed'}); for a self-signed "
                "certificate set verify to the path of its CA file",
                detail,
            )
        if isinstance(exc, ssl.SSLError):
            return TLSFailure(f"the TLS handshake with the mail server {where} failed", detail)
        if isinstance(exc, socket.gaierror):
            return Unreachable(f"cannot find the mail server {self.host} (check the url)", detail)
        if isinstance(exc, TimeoutError | socket.timeout):
            return Unavailable(
                f"the mail server {where} did not answer within {self.config.timeout:g} s", detail
            )
        if isinstance(exc, ConnectionRefusedError) or (
            doing == "connect" and isinstance(exc, OSError)
        ):
            return Unreachable(f"cannot connect to the mail server {where}", detail)
        if isinstance(exc, imaplib.IMAP4.abort | OSError | EOFError):
            return Unavailable(f"the mail server {where} closed the connection", detail)
        return BadResponse(f"the mail server {where} gave an answer that cannot be read", detail)

    def _command(self, conn: imaplib.IMAP4, doing: str, fn: Callable[[], tuple[str, list]]) -> list:
        try:
            typ, data = fn()
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise self._error(exc, doing) from None
            raise BadResponse(
                f"the mail server {self._where()} refused to {doing}", _text(exc)
            ) from None
        except (OSError, EOFError) as exc:
            raise self._error(exc, doing) from None
        if typ != "OK":
            raise BadResponse(f"the mail server {self._where()} refused to {doing}", _text(data))
        return data

    # ------------------------------------------------------------ fetch

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        conn = self._conn
        if conn is not None:
            try:  # a connection kept from the last poll may have timed out at the server
                if conn.noop()[0] != "OK":
                    raise OSError("NOOP refused")
            except (imaplib.IMAP4.error, OSError, EOFError):
                _shutdown(conn)
                conn = self._conn = None
        if conn is None:
            conn = self._conn = self._connect()
        try:
            if self.sent_folder is None:
                self.sent_folder = self._resolve_sent(conn)
            messages: list[Message] = []
            answered: set[tuple[str, int, int]] = set()
            for folder in [*self.folders, *([self.sent_folder] if self.sent_folder else [])]:
                cache = self._sync(conn, folder, now)
                messages.extend(cache.messages.values())
                answered.update((folder, cache.uidvalidity, uid) for uid in cache.answered)
        except SourceError:
            self._drop_connection()
            raise
        tickets = thread_tickets(
            messages,
            lambda m: (m.folder, m.uidvalidity, m.uid) in answered,
            source=self.name,
            own=self.own,
            sent_folder=self.sent_folder or "",
            categorize=self._category,
            url=self._url,
            lists=self.own | frozenset(self.addresses),
        )
        return Snapshot(self.name, tuple(t for t in tickets if self.wants(t.category)), now)

    def _category(self, msg: Message) -> str:
        for address in self.addresses:
            if address in msg.recipients:
                return address
        return msg.folder

    def _url(self, msg: Message) -> str:
        if not self.webmail:
            return ""
        return self.webmail.format(
            message_id=quote(msg.message_id.strip("<>"), safe=""),
            subject=quote(msg.subject, safe=""),
        )

    def _list(self, conn: imaplib.IMAP4) -> list[tuple[set[str], str]]:
        data = self._command(conn, "list its folders", lambda: conn.list('""', '"*"'))
        return [parsed for line in data if line and (parsed := parse_list_line(line))]

    def _resolve_sent(self, conn: imaplib.IMAP4) -> str:
        if not self.sent_setting:
            return ""
        folders = self._list(conn)
        names = [name for _, name in folders]
        if self.sent_setting in names:
            return self.sent_setting
        special = [name for flags, name in folders if "\\sent" in flags]
        if self.sent_setting == "Sent" and special:
            return special[0]  # the default name, and the server marks its own Sent folder
        raise NotConfigured(
            f"the mailbox has no folder {self.sent_setting!r} for sent replies "
            f"(it has: {', '.join(sorted(names)) or 'none'}); set sent_folder to the folder "
            'where replies are saved, or sent_folder = "" to go by the Answered flag only'
        )

    def _sync(self, conn: imaplib.IMAP4, folder: str, now: datetime) -> _Folder:
        """Bring the cache of ``folder`` up to date with as little traffic as possible."""
        try:
            typ, data = conn.select(encode_mailbox(folder), readonly=True)
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise self._error(exc, f"open {folder}") from None
            typ, data = "NO", [_text(exc).encode()]
        except (OSError, EOFError) as exc:
            raise self._error(exc, f"open {folder}") from None
        if typ != "OK":
            names = sorted(name for _, name in self._list(conn))
            raise NotConfigured(
                f"the mailbox has no folder {folder!r} (it has: {', '.join(names) or 'none'})",
                _text(data),
            )
        validity = _number(conn.response("UIDVALIDITY")[1])
        uidnext = _number(conn.response("UIDNEXT")[1])
        exists = _number(data)
        cache = self._cache.get(folder)
        if cache is None or cache.uidvalidity != validity:
            if cache is not None:
                log.info(
                    "%s: %s was rebuilt (UIDVALIDITY changed); reading it anew", self.name, folder
                )
            cache = self._cache[folder] = _Folder(uidvalidity=validity)
        start = (now - self.lookback).date()
        day = f"{start.day}-{MONTH_NAMES[start.month - 1]}-{start.year}"  # not locale-dependent

        def search(*criteria: str) -> set[int]:
            data = self._command(
                conn, f"search {folder}", lambda: conn.uid("SEARCH", "SINCE", day, *criteria)
            )
            return {int(x) for chunk in data if chunk for x in chunk.split()}

        if uidnext != cache.uidnext or exists != cache.exists or uidnext == 0:
            present = search("NOT", "DELETED")
            for uid in set(cache.messages) - present:
                del cache.messages[uid]
            new = sorted(present - set(cache.messages))
            for start in range(0, len(new), FETCH_BATCH):
                self._fetch_headers(conn, folder, validity, new[start : start + FETCH_BATCH], cache)
            cache.uidnext, cache.exists = uidnext, exists
        for uid in search("DELETED"):
            cache.messages.pop(uid, None)
        cache.answered = search("ANSWERED") if folder != self.sent_folder else set()
        return cache

    def _fetch_headers(
        self, conn: imaplib.IMAP4, folder: str, validity: int, uids: list[int], cache: _Folder
    ) -> None:
        data = self._command(
            conn,
            f"read the headers in {folder}",
            lambda: conn.uid("FETCH", uid_set(uids), FETCH_ITEMS),
        )
        wanted = set(uids)
        pending: tuple[bytes, bytes] | None = None
        for item in [*data, None]:
            if isinstance(item, tuple):
                pending = item
                continue
            if pending is None:
                continue
            prefix = pending[0] + (item if isinstance(item, bytes) else b"")
            pending_raw = pending[1]
            pending = None
            uid_m = re.search(rb"UID (\d+)", prefix)
            date_m = re.search(rb'INTERNALDATE "([^"]+)"', prefix)
            if not uid_m or not date_m:
                raise BadResponse(
                    f"the mail server {self._where()} sent a FETCH answer without UID or date",
                    prefix[:200].decode("ascii", "replace"),
                )
            uid = int(uid_m.group(1))
            if uid not in wanted:  # "n:*" quirks: never trust the server to stay in range
                continue
            try:
                arrived = parse_internaldate(date_m.group(1).decode("ascii"))
            except ValueError as exc:
                raise BadResponse(
                    f"the mail server {self._where()} sent a date that cannot be read", str(exc)
                ) from None
            cache.messages[uid] = parse_headers(
                pending_raw, folder=folder, uidvalidity=validity, uid=uid, arrived=arrived
            )

    def list_categories(self) -> list[str]:
        conn = self._conn or self._connect()
        self._conn = conn
        try:
            folders = self._list(conn)
        except SourceError:
            self._drop_connection()
            raise
        return sorted(
            name
            for flags, name in folders
            if not flags & SPECIAL_FOLDERS
            and "\\noselect" not in flags
            and name != self.sent_setting
        )

    # ------------------------------------------------------------ IDLE

    def wait_for_change(self, timeout: float) -> bool | None:
        """Block up to ``timeout`` s in IMAP IDLE on the first watched folder.

        True: the folder changed (new mail, flags, expunge) — poll now. False: nothing changed.
        None: this server cannot IDLE or the connection failed; the engine polls on the interval.
        Runs on a worker thread with its own connection; :meth:`close` interrupts it.
        """
        if self._closed or self._idle_ok is False:
            return None
        # The set-up (connect, log in, open the folder) has a fetch's deadline too.
        setup_timer = threading.Timer(self.fetch_seconds(), self.abort)
        setup_timer.daemon = True
        try:
            if self._idle is None:
                setup_timer.start()
                conn = self._connect()
                self._idle_setup = conn
                if "IDLE" not in conn.capabilities:
                    self._idle_ok = False
                    _shutdown(conn)
                    log.info("%s: the mail server has no IDLE; polling only", self.name)
                    return None
                self._command(
                    conn,
                    f"open {self.folders[0]}",
                    lambda: conn.select(encode_mailbox(self.folders[0]), readonly=True),
                )
                setup_timer.cancel()
                self._idle_setup = None
                self._idle = conn
            deadline = time.monotonic() + max(0.0, timeout)
            while not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._idle_once(self._idle, min(remaining, IDLE_REISSUE)):
                    return True
            return None
        except (SourceError, imaplib.IMAP4.error, OSError, EOFError, ValueError) as exc:
            if not self._closed:
                log.info("%s: IDLE stopped (%s); polling on the interval", self.name, _text(exc))
            idle, self._idle = self._idle, None
            if idle is not None:
                _shutdown(idle)
            return None
        finally:
            setup_timer.cancel()
            setup, self._idle_setup = self._idle_setup, None
            if setup is not None:  # the set-up failed part way
                _shutdown(setup)

    def _idle_once(self, conn: imaplib.IMAP4, seconds: float) -> bool:
        """One IDLE command of at most ``seconds``: True when the server reported a change."""
        tag = b"TBIDLE"
        conn.send(tag + b" IDLE\r\n")
        changed = False
        while True:  # until the continuation request
            line = conn.readline()
            if not line:
                raise EOFError("connection closed")
            if line.startswith(b"+"):
                break
            if line.startswith(tag):
                self._idle_ok = False
                raise BadResponse("IDLE refused", line.decode("ascii", "replace").strip())
            changed = changed or _is_change(line)
        end = time.monotonic() + seconds
        while not changed:
            remaining = end - time.monotonic()
            if remaining <= 0 or self._closed:
                break
            if not _readable(conn, remaining):
                continue
            line = conn.readline()
            if not line:
                raise EOFError("connection closed")
            if line.startswith(b"* BYE"):
                raise EOFError(line.decode("ascii", "replace").strip())
            changed = _is_change(line)
        conn.send(b"DONE\r\n")
        while True:  # what the server says until IDLE is done counts too
            line = conn.readline()
            if not line:
                raise EOFError("connection closed")
            if line.startswith(tag):
                return changed
            changed = changed or _is_change(line)

    # ------------------------------------------------------------ lifecycle

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _shutdown(conn)

    def abort(self) -> None:
        """Break the connections of a fetch or IDLE set-up past its deadline (any thread)."""
        for conn in (self._conn, self._idle_setup):
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._drop_connection()
        idle, self._idle = self._idle, None
        if idle is not None:
            with contextlib.suppress(OSError):  # wakes a worker blocked in IDLE at once
                idle.sock.shutdown(socket.SHUT_RDWR)
            _shutdown(idle)


# --------------------------------------------------------------------------- helpers


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


def _cap_literals(conn: imaplib.IMAP4, where: str) -> None:
    """Refuse a literal larger than MAX_LITERAL, and count literals against the poll's bytes."""
    read = conn.read

    def capped(size: int) -> bytes:
        budget = current_budget()
        if budget is not None:
            budget.bytes_left -= size
        if size > MAX_LITERAL or (budget is not None and budget.bytes_left < 0):
            raise BadResponse(
                f"the mail server {where} sent more than Ticketbell reads in one poll "
                f"({size:,} bytes in one answer); refused",
                f"literal of {size} bytes (cap {MAX_LITERAL})",
            )
        return read(size)

    conn.read = capped  # type: ignore[method-assign]


def _is_change(line: bytes) -> bool:
    return bool(re.match(rb"\* \d+ (EXISTS|EXPUNGE|FETCH)\b", line))


def _readable(conn: imaplib.IMAP4, wait: float) -> bool:
    """True when a line can be read: already buffered (by imaplib or TLS) or arriving in time.

    A socket timeout would leave imaplib's reader unusable, so this peeks without blocking and
    then waits with ``select``.
    """
    sock = conn.sock
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        if conn.file.peek(1):
            return True
    except (BlockingIOError, ssl.SSLWantReadError):
        pass
    finally:
        sock.settimeout(timeout)
    ready, _, _ = select.select([sock], [], [], wait)
    return bool(ready)


def _number(data: object) -> int:
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, bytes) and item.strip().isdigit():
            return int(item)
    return 0


def _text(value: object) -> str:
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def _shutdown(conn: imaplib.IMAP4) -> None:
    """Close a connection without caring whether the server is still there."""
    with contextlib.suppress(*NETWORK_ERRORS, AttributeError):
        conn.shutdown()
