"""Escalation to the owner: channel messages, their delivery through apprise, the daily digest.

Every channel message lives in the queue's durable outbox before anything is sent, keyed by
(source, ticket, waiting cycle, level[, repeat], target). Its life, driven by :class:`Outbox` on
the scheduler thread (the only writer of the queue), with the sending on a worker:

    enqueued ─► attempt recorded and *saved* ─► sent on a worker ─► result back on the scheduler:
                delivered_at │ last_error + next_attempt (exponential back-off with jitter)
                             │ failed_at once older than ``give_up_after`` (logged, in the status)

An attempt that was recorded but whose outcome never came back (the agent was killed while
sending) is not sent again: the message may have gone out, and a duplicate escalation is worse
than an honest "may not have been delivered" notice. Each message carries a ``Ticketbell-Key``
line (a hash of its key), so a person or a mail filter can recognise a duplicate anyway.

Channel URLs go through apprise (mailto, Slack, Teams, Discord, ntfy, JSON webhooks, …). A URL
that carries a token is kept in the keyring and the config names it as ``keyring:NAME``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from agent import i18n
from agent import secrets as secret_store
from agent.channels import (
    KEYRING_PREFIX,
    OWNER_DESKTOP,
    check_target,
    describe_target,
)
from agent.channels import apprise_plugin as _apprise_plugin
from agent.config import Config, Escalation
from agent.i18n import N_, Text, _
from agent.model import Alert, SourceHealth
from agent.queue import LocalQueue
from agent.storage import AlertKey, OutboxEntry, OutboxKey, alert_key, cycle_prefix

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(minutes=30)
RETRY_JITTER = 0.2  # +/- 20 %, so agents and channels do not retry in lockstep
NOTICE_FOR = timedelta(days=1)  # how long an undeliverable message stays in the status
#: seconds a channel may take to answer one send (apprise's own default is 4 s for webhooks and
#: 15 s for SMTP: a channel answering after 5 s was delivered, counted failed and sent again)
SEND_TIMEOUT = 30.0
#: how long the check that a mail server takes connections waits (see :func:`smtp_unreachable`)
SMTP_CONNECT_TIMEOUT = 15.0
#: seconds after which a send still under way is abandoned as "in doubt" (never sent again)
SEND_DEADLINE = 2 * SEND_TIMEOUT + 10.0


class DeliveryError(Exception):
    """A channel that cannot be used now (its keyring entry is missing, say)."""


# --------------------------------------------------------------------------- channel URLs


def _remember_parts(url: str, whole_url_is_secret: bool = False) -> None:
    """Redact a URL's secret parts too, in case a library logs them separately: the parts
    apprise masks in its private form, or (for a URL from the keyring) every long part."""
    secret_store.remember(url)
    _split = re.compile(r"[/:@?&=]+")
    if whole_url_is_secret:  # before apprise loads the plugin, which logs the URL
        for part in _split.split(url.split("://", 1)[-1]):
            if len(part) >= 8:
                secret_store.remember(part)
    plugin = _apprise_plugin(url)
    if plugin is not None:
        shown = set(_split.split(str(plugin.url(privacy=True))))
        for part in _split.split(str(plugin.url())):
            if len(part) >= 4 and part not in shown:
                secret_store.remember(part)
        password = getattr(plugin, "password", None)
        if isinstance(password, str):
            secret_store.remember(password)


def resolve_target(target: str) -> str:
    """The apprise URL of ``target``; a ``keyring:NAME`` target is read from the keyring."""
    if not target.startswith(KEYRING_PREFIX):
        return target
    name = target[len(KEYRING_PREFIX) :].strip()
    try:
        url = secret_store.get(name)
    except secret_store.SecretUnavailable as exc:
        raise DeliveryError(str(exc)) from None
    _remember_parts(url, whole_url_is_secret=True)
    return url


class _ThreadCapture(logging.Handler):
    """Collects what apprise logs on the current thread: the server's words on a failure."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        text = record.getMessage()
        if record.levelno >= logging.WARNING or re.search(r"exception|response", text, re.I):
            self.lines.append(" ".join(text.split()))


_apprise_lock = threading.Lock()
_apprise_sends = 0  # sends capturing apprise's log now (several run at once on the pool)
_apprise_level = logging.NOTSET  # the level apprise's logger had before the first of them


@contextlib.contextmanager
def _apprise_debug(capture: logging.Handler) -> Iterator[None]:
    """Capture apprise's log during one send. apprise logs the server's answer at debug level,
    so its logger's level is lowered while any send runs, and the application's own level is
    put back when the last concurrent send ends."""
    global _apprise_sends, _apprise_level
    logger = logging.getLogger("apprise")
    with _apprise_lock:
        if _apprise_sends == 0:
            _apprise_level = logger.level
        _apprise_sends += 1
        if logger.getEffectiveLevel() > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
    try:
        yield
    finally:
        with _apprise_lock:
            logger.removeHandler(capture)
            _apprise_sends -= 1
            if _apprise_sends == 0:
                logger.setLevel(_apprise_level)


#: the apprise notification type of an outbox message's kind: chat channels colour by it
#: (an overdue ticket or an unreadable helpdesk a warning, its end a success; others info)
NOTIFY_TYPES = {"escalation": "warning", "blind": "warning", "follow_up": "success"}


def send(
    target: str,
    title: str,
    body: str,
    html: tuple[str, tuple[tuple[str, str], ...]] | None = None,
    kind: str = "",
) -> str | None:
    """Send one message through apprise (on a worker thread). Returns None or why it failed.

    ``html`` (a page and its images, each a name and base64 PNG) goes to an e-mail channel
    instead of ``body``: an HTML mail with the images inline (``cid:`` + name), apprise adding
    the plain-text part. ``kind``: the outbox message's (escalation, blind, follow_up, …), for
    its notification type."""
    try:
        url = resolve_target(target)
    except DeliveryError as exc:
        return str(exc)
    plugin = _apprise_plugin(url)
    if plugin is None:
        return f"{describe_target(target)} is not a channel URL apprise understands"
    import apprise

    # Give a slow channel time to answer; SMTP uses the "connect" timeout for every command.
    for name in ("socket_read_timeout", "socket_connect_timeout"):
        if isinstance(getattr(plugin, name, None), int | float):
            setattr(plugin, name, SEND_TIMEOUT)

    unreachable = smtp_unreachable(plugin)
    if unreachable:
        return unreachable
    capture = _ThreadCapture()
    try:
        with _apprise_debug(capture):
            if html is not None and hasattr(plugin, "smtp_host"):  # an e-mail channel
                ok = _notify_html(plugin, title, *html)
            else:
                ok = plugin.notify(
                    title=title,
                    body=body,
                    body_format=apprise.NotifyFormat.TEXT,
                    notify_type=apprise.NotifyType(NOTIFY_TYPES.get(kind, "info")),
                )
    except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop the agent
        return secret_store.redact(f"{type(exc).__name__}: {exc}")
    if ok:
        return None
    words = "; ".join(dict.fromkeys(capture.lines)) or "the channel refused the message"
    return secret_store.redact(words[:500])


def _notify_html(plugin: Any, title: str, page: str, images: tuple[tuple[str, str], ...]) -> bool:
    import base64

    import apprise
    from apprise.attachment.memory import AttachMemory

    plugin.inline = True  # images referenced by cid: are sent inline (RFC 2387)
    attach = [
        AttachMemory(content=base64.b64decode(data), name=name, mimetype="image/png")  # type: ignore[no-untyped-call]
        for name, data in images
    ]
    return bool(
        plugin.notify(title=title, body=page, body_format=apprise.NotifyFormat.HTML, attach=attach)
    )


def smtp_unreachable(plugin: object) -> str | None:
    """Why an e-mail channel's server takes no connection now, or None when it does.

    apprise words a connect timeout and an answer that came too late alike ("timed out"), and
    the second may have delivered the message ("in doubt", never re-sent): a mail server that
    cannot be reached at all would be given up after one try. A plain TCP connect first tells
    the two apart: not connected is an ordinary failure, retried with back-off.
    """
    host, port = getattr(plugin, "smtp_host", None), getattr(plugin, "port", None)
    if not isinstance(host, str) or not host or not isinstance(port, int):
        return None
    import socket  # here: the tray's start has no other use for it (bench/README.md)

    try:
        socket.create_connection((host, port), timeout=SMTP_CONNECT_TIMEOUT).close()
    except OSError as exc:
        return f"not connected to the mail server {host}:{port} ({exc or type(exc).__name__})"
    return None


TEST_TITLE = "Ticketbell test message"
TEST_BODY = (
    "This is a test from Ticketbell's settings. When a ticket waits past its response window, "
    "the escalation will arrive here."
)

_PLAIN_FAILURES = (
    (
        r"connection refused",
        "nothing answered at that address (connection refused); check the "
        "server name and port, and that the server is running",
    ),
    (
        r"name or service not known|nodename nor servname|getaddrinfo failed|"
        r"temporary failure in name resolution",
        "the server name could not be found; check it for typos",
    ),
    (r"timed out|timeout", "the server did not answer in time"),
    (
        r"authenticat|535|username and password not accepted|401|unauthori[sz]ed",
        "the server refused the user name, password or token",
    ),
    (
        r"certificate|ssl|tls",
        "a secure connection could not be set up (certificate or TLS problem)",
    ),
    (r"\b404\b|not found", "the server answered that this address does not exist (404)"),
)


def plain_failure(words: str) -> str:
    """A delivery failure for a person: what probably went wrong, then the server's words."""
    for pattern, meaning in _PLAIN_FAILURES:
        if re.search(pattern, words, re.IGNORECASE):
            return f"{meaning} ({words})"
    return words


def send_test(target: str) -> str | None:
    """Send a short test message to ``target`` through the real delivery path (blocking: call
    it off the UI thread). Returns None when the channel took it, else why not, in plain words
    (never with the target's secrets)."""
    if target == OWNER_DESKTOP:
        return None
    problem = check_target(target)
    if problem:
        return problem
    error = send(target, TEST_TITLE, TEST_BODY)
    return None if error is None else secret_store.redact(plain_failure(error))


def keyring_name(target: str, place: str, taken: Iterable[str]) -> str:
    """A keyring entry name for a channel URL that carries a secret: the service and where it
    is used ("escalation-slack-level1", "escalation-mailto-digest"), made unique against
    ``taken`` (names already in use: other channels, sources' token entries)."""
    scheme = re.sub(r"[^a-z0-9]+", "", target.split("://", 1)[0].lower()) or "channel"
    base = f"escalation-{scheme}-{re.sub(r'[^a-z0-9]+', '', place.lower()) or 'target'}"
    used = {t.casefold() for t in taken}
    name, n = base, 2
    while name.casefold() in used:
        name, n = f"{base}-{n}", n + 1
    return name


def keyring_names(table: Mapping[str, Any]) -> set[str]:
    """The keyring entries an ``[escalation]`` table (as in the file) names as ``keyring:NAME``,
    in its levels' ``notify`` and in its ``digest_to``."""
    targets: list[Any] = []
    for level in table.get("levels", []):
        if isinstance(level, Mapping) and isinstance(level.get("notify"), list):
            targets += level["notify"]
    if isinstance(table.get("digest_to"), list):
        targets += table["digest_to"]
    texts = [str(t) for t in targets]
    names = {t[len(KEYRING_PREFIX) :].strip() for t in texts if t.startswith(KEYRING_PREFIX)}
    return names - {""}


def unused_keyring_names(opened: Mapping[str, Any], saved: Mapping[str, Any]) -> set[str]:
    """The keyring entries the ``[escalation]`` table ``opened`` named that the settings
    ``saved`` (the whole document) no longer use, to delete once they are saved. A name still
    used keeps its entry (compared without case: some keyrings ignore it), and so does one the
    keyring holds for something else: a helpdesk's token (under its name), the team's
    password ("team", agent.team)."""
    sources = saved.get("sources", [])
    used = keyring_names(saved.get("escalation", {})) | {"team"}
    used |= {str(s.get("name", "")) for s in sources if isinstance(s, Mapping)}
    folded = {name.casefold() for name in used}
    return {name for name in keyring_names(opened) if name.casefold() not in folded}


# --------------------------------------------------------------------------- message texts


def human(span: timedelta) -> str:
    """A duration for people: "25 min", "2 h 05 min", "1 d 3 h" (English, as the log writes
    it; a translated text uses ``i18n.duration``)."""
    with i18n.speaking(i18n.SOURCE_LANGUAGE):
        return i18n.duration(span)


def display_zone(config: Config) -> tzinfo | None:
    """The zone times are shown in: the business hours' zone, else the machine's."""
    if config.business_hours is not None:
        from zoneinfo import ZoneInfo

        return ZoneInfo(config.business_hours.timezone)
    return None


def local_time(value: datetime, tz: tzinfo | None, fmt: str = "%H:%M") -> str:
    return value.astimezone(tz).strftime(fmt)


def key_tag(key: str) -> str:
    """The short, secret-free form of an outbox key that each message carries."""
    import hashlib  # here, not at the top: it loads OpenSSL, which the tray need not carry

    return hashlib.sha256(key.encode()).hexdigest()[:16]


def with_key(body: str, key: str) -> str:
    return f"{body}\n\nTicketbell-Key: {key_tag(key)}"


def targets_for(alert: Alert, escalation: Escalation) -> tuple[str, ...]:
    """The channel targets of an escalated alert (a blind source goes to the first level's)."""
    if not escalation.levels:
        return ()
    index = alert.level if alert.ticket else 0
    index = min(index, len(escalation.levels) - 1)
    return tuple(t for t in escalation.levels[index].notify if t != OWNER_DESKTOP)


def escalation_messages(
    alert: Alert, config: Config, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """The outbox messages (key, record) an escalated alert owes: one per channel target, in
    the owner's ``language``."""
    with i18n.speaking(config.language):
        if alert.ticket:
            title, lines = _overdue_text(alert, config, now)
            kind = "escalation"
        else:
            title = str(alert.text) if alert.text is not None else alert.message
            unknown = _("Until it can read it again, its waiting tickets are unknown.")
            lines = [title, "", unknown]
            kind = "blind"
    out = []
    for target in targets_for(alert, config.escalation):
        key = OutboxKey(AlertKey.decode(alert.key), target).encode()
        record = {
            "kind": kind,
            "target": target,
            "source": alert.source,
            "ticket": alert.ticket,
            "cycle": AlertKey.decode(alert.key).cycle,
            "level": alert.level,
            "title": title[:200],
            "body": with_key("\n".join(lines), key),
        }
        out.append((key, record))
    return out


def _overdue_text(alert: Alert, config: Config, now: datetime) -> tuple[str, list[str]]:
    """The title and lines of an overdue ticket's escalation message."""
    tz = display_zone(config)
    w = alert.tickets[0] if alert.tickets else None
    repeat = AlertKey.decode(alert.key).repeat
    overdue = i18n.duration(now - w.due_at) if w else ""
    title = _("Overdue {duration}: {source} #{ticket} — {subject}").format(
        duration=overdue, source=alert.source, ticket=alert.ticket, subject=alert.subject
    )
    if alert.message:  # another reason than overdue (agent.team_agent: nobody is watching)
        title = f"{alert.message}: {alert.source} #{alert.ticket} — {alert.subject}"
    lines = []
    if w is not None:
        t = w.ticket
        since = i18n.weekday_time(t.waiting_since, tz)
        # due on another day than today: its day too ("due 10:14" of Monday read as today's)
        today = w.due_at.astimezone(tz).date() == now.astimezone(tz).date()
        due = i18n.time_text(w.due_at, tz) if today else i18n.weekday_time(w.due_at, tz)
        lines.append(
            _("{source} #{ticket} has waited for a reply since {since} (due {due}).").format(
                source=alert.source, ticket=t.id, since=since, due=due
            )
        )
        details = [
            _("{label}: {value}").format(label=label, value=value)
            for label, value in (
                (_("Category"), t.category),
                (_("Priority"), t.priority),
                (_("Requester"), t.requester),
                (_("Assignee"), t.assignee),
            )
            if value
        ]
        lines.append(_("Subject: {subject}").format(subject=t.subject))
        if details:
            lines.append(" · ".join(details))
    link = _ticket_link(alert, config)
    if link:
        lines.append(_("Open it: {link}").format(link=link))
    level, levels = alert.level + 1, len(config.escalation.levels)
    step = _("Escalation level {level} of {levels}.").format(level=level, levels=levels)
    if repeat:
        step = _("Escalation level {level} of {levels}, reminder {repeat}.").format(
            level=level, levels=levels, repeat=repeat
        )
    lines.append("")
    lines.append(step)
    return title, lines


def _ticket_link(alert: Alert, config: Config) -> str | None:
    """The ticket's URL when the tray would open it (same rule: :func:`agent.policy.ticket_url`);
    a ``javascript:``, ``file:`` or other-host link from the helpdesk's data is left out."""
    from agent.policy import ticket_url

    try:
        source = config.source(alert.source)
    except KeyError:
        return None
    return ticket_url(alert.url, source) if alert.url else None


def sent_escalations(queue: LocalQueue, source: str, ticket: str, cycle: str) -> list[OutboxEntry]:
    """The outbox's escalation (and blind-source) messages of one waiting cycle."""
    prefix = cycle_prefix(source, ticket or "*", cycle)
    return [e for e in queue.outbox_entries(prefix) if e.kind in ("escalation", "blind")]


def unsent(entries: Iterable[OutboxEntry]) -> list[str]:
    """The keys of the messages among ``entries`` not sent yet (nor given up, nor cancelled):
    when their escalation ends, nobody needs the alarm, so the escalator cancels them."""
    return [e.key for e in entries if e.open and not e.sending_since]


def follow_up_messages(
    entries: Iterable[OutboxEntry], source: str, ticket: str, cycle: str, text: str
) -> list[tuple[str, dict[str, Any]]]:
    """Follow-ups for an escalation that ended ("answered after 42 min", "reading again"):
    one short message to each target that was sent one of ``entries`` (or may have been: in
    flight). Pure: cancelling the messages not sent is the escalator's own step."""
    reached = dict.fromkeys(e.target for e in entries if e.delivered_at or e.sending_since)
    kind = "answered" if ticket else "source_up"
    out = []
    for target in reached:
        key = OutboxKey(AlertKey(source, ticket or "*", cycle, kind), target).encode()
        record = {
            "kind": "follow_up",
            "target": target,
            "source": source,
            "ticket": ticket,
            "cycle": cycle,
            "title": text[:200],
            "body": with_key(text, key),
        }
        out.append((key, record))
    return out


def blind_key(source: str, since: datetime) -> str:
    """The ledger key of the alert that ``source``, failing since ``since``, cannot be read:
    the escalator looks it up to follow the alert up when the source is read again."""
    return alert_key(source, "*", since.isoformat(), "blind")


def blind_alerts(
    sources: Iterable[SourceHealth], escalation: Escalation, now: datetime, tz: tzinfo | None
) -> list[Alert]:
    """Sources failing for longer than ``blind_after``: a monitor that is blind must say so."""
    out = []
    for s in sources:
        since = s.failing_since
        if since is None or now - since < escalation.blind_after:
            continue
        said = Text(
            N_("Ticketbell cannot read {source} since {time}: {problem}"),
            source=s.name,
            time=i18n.TimeOfDay(since, tz),
            problem=s.text if s.text is not None else s.message,
        )
        key = blind_key(s.name, since)
        english = said.english
        out.append(
            Alert.of_source("escalated", now, key, s.name, str(said), english=english, said=said)
        )
    return out


def next_blind_at(sources: Iterable[SourceHealth], escalation: Escalation) -> datetime | None:
    times = [s.failing_since + escalation.blind_after for s in sources if s.failing_since]
    return min(times) if times else None


# --------------------------------------------------------------------------- delivery


def retry_delay(attempts: int, rng: random.Random) -> timedelta:
    """Exponential back-off from 30 s, capped at 30 min, with +/- 20 % jitter.

    The exponent stops at 16 (the cap is reached by the 7th attempt): a channel failing for a
    day makes ~50 attempts, and 30 s * 2**43 no longer fits a timedelta (OverflowError)."""
    base = min(RETRY_BASE * 2 ** min(max(0, attempts - 1), 16), RETRY_CAP)
    return timedelta(seconds=base.total_seconds() * (1 + rng.uniform(-RETRY_JITTER, RETRY_JITTER)))


_IN_DOUBT = re.compile(r"read timed out|timed out|timeout", re.IGNORECASE)
_NOT_CONNECTED = re.compile(
    r"connect timeout|connecttimeout|connection refused|not connected to", re.IGNORECASE
)


def in_doubt(error: str | None) -> bool:
    """Whether a failed send may have arrived all the same: the channel took the message but its
    answer came after we stopped waiting (a read timeout). Such a send is never repeated."""
    return bool(error and _IN_DOUBT.search(error) and not _NOT_CONNECTED.search(error))


@dataclass(frozen=True)
class DeliveryResult:
    key: str
    error: str | None
    in_doubt: bool = False

    @classmethod
    def of(cls, key: str, error: str | None) -> DeliveryResult:
        return cls(key, error, in_doubt(error))


def message_name(entry: OutboxEntry, shown: bool = False) -> str:
    """What a message is, for a person: "escalation of Desk #1", "daily digest"... in English
    for the log, in the person's language where ``shown`` (the tray's notices)."""
    words = _ if shown else str
    if entry.kind == "digest":
        return words(N_("daily digest"))
    if entry.kind == "scorecard":
        return words(N_("weekly scorecard"))
    name = {
        "escalation": N_("escalation"),
        "blind": N_("blind-source alert"),
        "follow_up": N_("follow-up"),
    }
    label = words(name.get(entry.kind, N_("message")))
    if entry.ticket:
        said = words(N_("{label} of {source} #{ticket}"))
        return said.format(label=label, source=entry.source, ticket=entry.ticket)
    if entry.source:
        return words(N_("{label} about {source}")).format(label=label, source=entry.source)
    return label
