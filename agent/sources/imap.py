"""A support inbox over IMAP: one ticket per e-mail thread waiting for a reply.

Not HTTP, so not ``http.py``: stdlib ``imaplib`` over TLS (``imaps://``, or ``imap://`` with
``starttls = true``). What counts as waiting, who wrote a message and which messages make a
thread are pure functions of :mod:`agent.sources.imap_mail`; the wire (connecting, SASL, LIST,
FETCH, IDLE, error classification) is :mod:`agent.sources.imap_protocol`.

Polling is incremental: per folder the headers already fetched are cached under UIDVALIDITY;
each poll EXAMINEs the folder (read-only; headers are fetched with ``BODY.PEEK`` so ``\\Seen``
is never set), searches the UIDs again only when UIDNEXT or the message count moved, fetches the
headers of new UIDs only, and re-runs the cheap ``UID SEARCH ANSWERED`` / ``DELETED`` for flag
changes. A UIDVALIDITY change throws the folder's cache away.

``wait_for_change()`` uses IMAP IDLE (RFC 2177) on a second connection, so the engine can poll at
once when mail arrives.

:meth:`ImapSource.abort` (the fetch's deadline) shuts down the sockets of the connections being
read, the ones still being opened included: a server trickling its greeting or its login answer
is cut like one trickling a FETCH answer. IDLE's set-up (connect, greeting, log in, open the
folder) has a fetch's deadline too.
"""

from __future__ import annotations

import imaplib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent import signin
from agent.i18n import N_, Text
from agent.model import Snapshot
from agent.sources.base import (
    NotConfigured,
    Option,
    Source,
    SourceError,
)
from agent.sources.imap_mail import (  # noqa: F401 - tests and tools import them from here
    MONTH_NAMES,
    Message,
    automatic_reason,
    check_webmail_url,
    parse_headers,
    parse_internaldate,
    thread_tickets,
    webmail_link,
)
from agent.sources.imap_protocol import (  # noqa: F401 - tests import them from here
    LIST_FOLDERS,
    NETWORK_ERRORS,
    OPEN,
    READ_HEADERS,
    SEARCH,
    IdleRefused,
    cap_literals,
    classify_error,
    cut,
    encode_mailbox,
    fetched_headers,
    idle_once,
    login_refused,
    no_folder,
    number,
    open_connection,
    parse_list_line,
    refused,
    sasl_oauth,
    shutdown,
    sign_in_oauth,
    text_of,
    tls_context,
    tls_needed,
    uid_set,
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
IDLE_REISSUE = 25 * 60.0  # RFC 2177: re-issue IDLE at least every 29 minutes
#: the largest literal ({n} bytes) a server may send: we ask for a few header fields only, so
#: anything near this is a broken or hostile server; imaplib would read any size it announces
MAX_LITERAL = 1024 * 1024
SPECIAL_FOLDERS = {"\\sent", "\\drafts", "\\trash", "\\junk", "\\all", "\\archive", "\\flagged"}
LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


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
    title = N_("Support inbox")
    description = N_("a support inbox over IMAP: one ticket per unanswered e-mail thread")
    required = (Option("user", N_("Login (usually the mailbox's address)")),)
    optional = (
        Option(
            "url",
            N_("Mail server"),
            help=N_(
                "imaps://imap.example.com:993 (or imap:// + starttls); "
                'not needed with provider = "microsoft" or "google"'
            ),
        ),
        *signin.sign_in_options(
            "password",
            N_('"password", or "oauth" to sign in with Microsoft 365, Google or your OAuth server'),
        ),
        Option("folder", N_("Folder to watch"), str, "INBOX"),
        Option(
            "sent_folder",
            N_("Folder of sent replies"),
            str,
            "Sent",
            N_('replies saved there answer their thread; "" to rely on the Answered flag only'),
        ),
        Option("starttls", N_("Use STARTTLS on imap://"), bool, False),
        Option(
            "team",
            N_("Our addresses"),
            list,
            [],
            N_("addresses or @domains whose mails in the watched folders count as our replies"),
        ),
        Option("lookback_days", N_("Days of mail to read"), int, 60),
        Option(
            "webmail_url",
            N_("Webmail link"),
            str,
            "",
            N_("e.g. https://mail.google.com/mail/u/0/#search/rfc822msgid%3A{message_id}"),
        ),
    )
    secret_label = N_("Password (or app password)")
    credential_steps = N_(  # the README's steps
        "Gmail and Outlook.com / Microsoft 365 do not accept the account password from mail "
        "programs once two-step verification is on: create an app password (Google Account → "
        "Security → 2-Step Verification → App passwords; Microsoft account → Security → "
        "Advanced security options → App passwords) and store that one."
    )
    category_label = N_("My folders or recipient addresses (none ticked: all of them)")

    @classmethod
    def check_options(cls, config: SourceConfig) -> list[tuple[str, Text]]:
        from agent.auth.providers import client_problems

        oauth = signin.uses_oauth(config)
        problems = client_problems(config) if oauth else []  # what `ticketbell signin` refuses
        provider = signin.PROVIDERS.get(str(config.options.get("provider") or "").strip().lower())
        if not problems and not config.url and not (oauth and provider and provider.imap_url):
            missing = N_(
                "is missing; set url to the mail server (imaps://host:993), or sign in with "
                'auth = "oauth" and provider = "microsoft" or "google"'
            )
            return [("url", Text(missing))]
        return problems

    def set_up(self) -> None:
        self.tokens: signin.AccessTokens | None = None
        self._server(self._server_url(self.config, self.secret, self.clock))
        self.user = self.config.user
        cats = self.config.categories
        self.addresses = [c.lower() for c in cats if "@" in c]
        self.folders = [c for c in cats if "@" not in c] or [str(self.option("folder") or "INBOX")]
        sent = self.option("sent_folder")
        self.sent_setting = str(sent if sent is not None else "Sent")
        self.sent_folder: str | None = None  # resolved on the first fetch
        own = {a.lower() for a in self.option_texts("team")}
        if "@" in self.user:
            own.add(self.user.lower())
        self.own = frozenset(own)
        days = self.option("lookback_days") or 60
        assert isinstance(days, int), "config reads lookback_days as a whole number"
        self.lookback = timedelta(days=max(1, days))
        self.webmail = str(self.option("webmail_url") or "")
        check_webmail_url(self.name, self.webmail)
        self._cache: dict[str, _Folder] = {}
        self._conn: imaplib.IMAP4 | None = None
        self._idle: imaplib.IMAP4 | None = None
        self._idle_ok: bool | None = None
        self._closed = False
        #: connections being opened or set up, by who opens them ("fetch", "idle"): abort()
        #: reaches them before the greeting is read
        self._opening: dict[str, imaplib.IMAP4] = {}

    def _server_url(
        self, config: SourceConfig, secret: str | None, clock: Callable[[], datetime]
    ) -> str:
        """The mail server's URL: the configured one, else the OAuth provider's."""
        auth = str(self.option("auth") or "password").lower()
        if auth not in ("password", "oauth"):
            text = N_('{name}: auth must be "password" or "oauth", not {auth}')
            raise NotConfigured(Text(text, name=self.name, auth=repr(auth)))
        for key, problem in self.check_options(config):  # config loading ran them too
            text = N_("{name}: {key} {problem}")
            raise NotConfigured(Text(text, name=self.name, key=key, problem=problem))
        if not signin.uses_oauth(config):
            return config.url
        assert secret is not None
        self.tokens = signin.tokens_for(config, secret, clock)
        return config.url or self.tokens.client.provider.imap_url

    def _server(self, url: str) -> None:
        """Host, port and TLS from ``url``; NotConfigured names what is wrong."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("imap", "imaps") or not parts.hostname:
            text = N_(
                "{name}: url {url} is not an IMAP address; "
                "use imaps://host:993 (or imap://host:143 with starttls = true)"
            )
            raise NotConfigured(Text(text, name=self.name, url=repr(url)))
        if not self.config.user:
            text = N_("{name}: set user to the mailbox's login")
            raise NotConfigured(Text(text, name=self.name))
        self.host = parts.hostname
        self.tls = scheme == "imaps"
        self.starttls = bool(self.option("starttls"))
        try:
            self.port = parts.port or (993 if self.tls else 143)
        except ValueError:
            text = N_("{name}: url {url} has a bad port")
            raise NotConfigured(Text(text, name=self.name, url=repr(url))) from None
        if not self.tls and not self.starttls and self.host not in LOCAL_HOSTS:
            log.warning(
                "%s: imap:// without starttls sends the password unencrypted to %s",
                self.name,
                self.host,
            )
        if self.config.proxy:
            log.warning("%s: IMAP connections do not go through the proxy setting", self.name)

    # ------------------------------------------------------------ connection and errors

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _error(self, exc: BaseException, doing: str | Text) -> SourceError:
        return classify_error(exc, doing, self.host, self.port, self.config.timeout)

    def _connect(self, opener: str = "fetch") -> imaplib.IMAP4:
        """A logged-in connection. Until it is returned, ``abort()`` reaches it as
        ``_opening[opener]``: from the first byte of the greeting to the end of the login."""

        def opened(conn: imaplib.IMAP4) -> None:
            self._opening[opener] = conn

        try:
            conn = self._open(opened)
            cap_literals(conn, self._where(), MAX_LITERAL)
            self._log_in(conn)
            return conn
        finally:
            self._opening.pop(opener, None)

    def _open(self, opened: Callable[[imaplib.IMAP4], None]) -> imaplib.IMAP4:
        """Connect, read the greeting and, on ``imap://`` with starttls, start TLS."""
        try:
            conn = open_connection(
                self.host,
                self.port,
                tls=self.tls,
                timeout=self.config.timeout,
                context=tls_context(self.config.verify),
                on_open=opened,
            )
            if self.tls or not self.starttls:
                return conn
            if "STARTTLS" not in conn.capabilities:
                conn.shutdown()
                raise tls_needed(self._where(), starttls_offered=False)
            conn.starttls(tls_context(self.config.verify))
            return conn
        except SourceError:
            raise
        except NETWORK_ERRORS as exc:
            raise self._error(exc, "connect") from None

    def _log_in(self, conn: imaplib.IMAP4) -> None:
        """Log in with the password, or SASL OAuth; the connection is closed when it fails."""
        try:
            if "LOGINDISABLED" in conn.capabilities:
                raise tls_needed(self._where(), starttls_offered=True)
            assert self.secret is not None
            if self.tokens is not None:
                sign_in_oauth(conn, self.tokens, self.user, self.host, self.port, self.name)
            elif self.secret.isascii() and self.user.isascii():
                conn.login(self.user, self.secret)
            else:
                token = f"\0{self.user}\0{self.secret}".encode()
                conn.authenticate("PLAIN", lambda _: token)
        except imaplib.IMAP4.error as exc:
            shutdown(conn)
            raise self._login_refused(exc) from None
        except SourceError:
            shutdown(conn)
            raise
        except NETWORK_ERRORS as exc:
            shutdown(conn)
            raise self._error(exc, "log in") from None

    def _login_refused(self, exc: imaplib.IMAP4.error) -> SourceError:
        if isinstance(exc, imaplib.IMAP4.abort):
            return self._error(exc, "log in")
        return login_refused(self._where(), self.user, self.tokens is not None, text_of(exc))

    def _command(
        self, conn: imaplib.IMAP4, doing: Text, fn: Callable[[], tuple[str, list[Any]]]
    ) -> list[Any]:
        try:
            typ, data = fn()
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise self._error(exc, doing) from None
            raise refused(self._where(), doing, text_of(exc)) from None
        except (OSError, EOFError) as exc:
            raise self._error(exc, doing) from None
        if typ != "OK":
            raise refused(self._where(), doing, text_of(data))
        return data

    # ------------------------------------------------------------ fetch

    def fetch(self, since: datetime | None) -> Snapshot:
        now = self.clock()
        conn = self._kept_connection() or self._connect()
        self._conn = conn
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

    def _kept_connection(self) -> imaplib.IMAP4 | None:
        """The connection kept from the last poll, unless it timed out at the server."""
        conn = self._conn
        if conn is None:
            return None
        try:
            if conn.noop()[0] == "OK":
                return conn
        except (imaplib.IMAP4.error, OSError, EOFError):
            pass
        shutdown(conn)
        self._conn = None
        return None

    def _category(self, msg: Message) -> str:
        for address in self.addresses:
            if address in msg.recipients:
                return address
        return msg.folder

    def _url(self, msg: Message) -> str:
        return webmail_link(self.webmail, msg)

    def _list(self, conn: imaplib.IMAP4) -> list[tuple[set[str], str]]:
        data = self._command(conn, Text(LIST_FOLDERS), lambda: conn.list('""', '"*"'))
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
        raise NotConfigured(no_folder(self.sent_setting, sorted(names), sent=True))

    def _examine(self, conn: imaplib.IMAP4, folder: str) -> tuple[int, int, int]:
        """Open ``folder`` read-only: its UIDVALIDITY, UIDNEXT and message count."""
        try:
            typ, data = conn.select(encode_mailbox(folder), readonly=True)
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise self._error(exc, Text(OPEN, folder=folder)) from None
            typ, data = "NO", [text_of(exc).encode()]
        except (OSError, EOFError) as exc:
            raise self._error(exc, Text(OPEN, folder=folder)) from None
        if typ != "OK":
            names = sorted(name for _, name in self._list(conn))
            raise NotConfigured(no_folder(folder, names), text_of(data))
        validity = number(conn.response("UIDVALIDITY")[1])
        return validity, number(conn.response("UIDNEXT")[1]), number(data)

    def _folder_cache(self, folder: str, validity: int) -> _Folder:
        cache = self._cache.get(folder)
        if cache is None or cache.uidvalidity != validity:
            if cache is not None:
                log.info(
                    "%s: %s was rebuilt (UIDVALIDITY changed); reading it anew", self.name, folder
                )
            cache = self._cache[folder] = _Folder(uidvalidity=validity)
        return cache

    def _sync(self, conn: imaplib.IMAP4, folder: str, now: datetime) -> _Folder:
        """Bring the cache of ``folder`` up to date with as little traffic as possible."""
        validity, uidnext, exists = self._examine(conn, folder)
        cache = self._folder_cache(folder, validity)
        start = (now - self.lookback).date()
        day = f"{start.day}-{MONTH_NAMES[start.month - 1]}-{start.year}"  # not locale-dependent

        def search(*criteria: str) -> set[int]:
            data = self._command(
                conn,
                Text(SEARCH, folder=folder),
                lambda: conn.uid("SEARCH", "SINCE", day, *criteria),
            )
            return {int(x) for chunk in data if chunk for x in chunk.split()}

        if uidnext != cache.uidnext or exists != cache.exists or uidnext == 0:
            present = search("NOT", "DELETED")
            for uid in set(cache.messages) - present:
                del cache.messages[uid]
            new = sorted(present - set(cache.messages))
            for first in range(0, len(new), FETCH_BATCH):
                self._fetch_headers(conn, folder, new[first : first + FETCH_BATCH], cache)
            cache.uidnext, cache.exists = uidnext, exists
        for uid in search("DELETED"):
            cache.messages.pop(uid, None)
        cache.answered = search("ANSWERED") if folder != self.sent_folder else set()
        return cache

    def _fetch_headers(
        self, conn: imaplib.IMAP4, folder: str, uids: list[int], cache: _Folder
    ) -> None:
        data = self._command(
            conn,
            Text(READ_HEADERS, folder=folder),
            lambda: conn.uid("FETCH", uid_set(uids), FETCH_ITEMS),
        )
        validity = cache.uidvalidity
        for uid, arrived, raw in fetched_headers(data, set(uids), self._where()):
            cache.messages[uid] = parse_headers(
                raw, folder=folder, uidvalidity=validity, uid=uid, arrived=arrived
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
        try:
            if self._idle is None:
                self._idle = self._set_up_idle()
                if self._idle is None:
                    return None
            deadline = time.monotonic() + max(0.0, timeout)
            while not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._idle_once(self._idle, min(remaining, IDLE_REISSUE)):
                    return True
            return None
        except (SourceError, *NETWORK_ERRORS) as exc:
            if not self._closed:
                log.info("%s: IDLE stopped (%s); polling on the interval", self.name, text_of(exc))
            idle, self._idle = self._idle, None
            if idle is not None:
                shutdown(idle)
            return None

    def _set_up_idle(self) -> imaplib.IMAP4 | None:
        """IDLE's own connection with the first folder open; None when the server has no IDLE.

        The set-up (connect, greeting, log in, open the folder) has a fetch's deadline: a timer
        then cuts the connection being set up (never the fetch's).
        """
        timer = threading.Timer(self.fetch_seconds(), self._abort_idle_set_up)
        timer.daemon = True
        timer.start()
        conn: imaplib.IMAP4 | None = None
        try:
            conn = self._connect("idle")
            self._opening["idle"] = conn
            if "IDLE" not in conn.capabilities:
                self._idle_ok = False
                log.info("%s: the mail server has no IDLE; polling only", self.name)
                return None
            ready, folder = conn, encode_mailbox(self.folders[0])
            opening = Text(OPEN, folder=self.folders[0])
            self._command(ready, opening, lambda: ready.select(folder, True))
            conn = None
            return ready
        finally:
            timer.cancel()
            self._opening.pop("idle", None)
            if conn is not None:  # no IDLE, or the set-up failed part way
                shutdown(conn)

    def _abort_idle_set_up(self) -> None:
        cut(self._opening.get("idle"))

    def _idle_once(self, conn: imaplib.IMAP4, seconds: float) -> bool:
        """One IDLE command of at most ``seconds``: True when the server reported a change."""
        try:
            return idle_once(conn, seconds, lambda: self._closed)
        except IdleRefused:
            self._idle_ok = False
            raise

    # ------------------------------------------------------------ lifecycle

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            shutdown(conn)

    def abort(self) -> None:
        """Break the connections of a fetch or IDLE set-up past its deadline (any thread),
        the ones still being opened (greeting, STARTTLS, login) included."""
        for conn in (self._conn, *list(self._opening.values())):
            cut(conn)

    def close(self) -> None:
        self._closed = True
        self._drop_connection()
        idle, self._idle = self._idle, None
        if idle is not None:
            cut(idle)  # wakes a worker blocked in IDLE at once
            shutdown(idle)
