"""What an IMAP mailbox's messages say, as pure functions: who wrote each (the customer, us, a
machine), which messages make one thread, and which threads wait for a reply.

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
"""

from __future__ import annotations

import email.policy
import hashlib
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from urllib.parse import quote

from agent.i18n import N_, Text
from agent.model import Ticket
from agent.sources.base import NotConfigured

MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTHS = {m: i for i, m in enumerate(MONTH_NAMES, 1)}
WEBMAIL_FIELDS = {"message_id", "subject"}
_PARSER = BytesHeaderParser(policy=email.policy.default)


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
                requester_email=first.sender,
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


def check_webmail_url(name: str, webmail: str) -> None:
    """Only plain ``{message_id}`` and ``{subject}``: a format spec (``{subject:>300000000}``)
    or conversion would build a URL of any size for every ticket."""
    try:
        parts = [p for p in string.Formatter().parse(webmail) if p[1] is not None]
    except ValueError:  # an unmatched "{" or "}"
        parts = [("", "{", "", None)]
    for _, field_name, spec, conversion in parts:
        if field_name not in WEBMAIL_FIELDS or spec or conversion:
            text = N_(
                "{name}: webmail_url may use {message_id} and {subject} as they are (no format "
                "or conversion after them); write a literal {open} or {close} as {open}{open} "
                "or {close}{close}"
            )
            fields = {"message_id": "{message_id}", "subject": "{subject}"}
            raise NotConfigured(Text(text, name=name, open="{", close="}", **fields))


def webmail_link(template: str, msg: Message) -> str:
    """The webmail address of ``msg`` from a ``webmail_url`` template ("" without one)."""
    if not template:
        return ""
    return template.format(
        message_id=quote(msg.message_id.strip("<>"), safe=""),
        subject=quote(msg.subject, safe=""),
    )
