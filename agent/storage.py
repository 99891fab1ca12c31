"""How the queue is kept on disk: private files and folders, atomic writes, TinyDB's storage,
the process lock, and the stored form of its keys and ticket rows (the one place that writes
and reads them).

Why it is built this way:
- *Atomic writes.* :func:`atomic_write` writes a temporary file, flushes, fsyncs and renames it
  over the old one: a kill at any moment leaves the previous or the new state, never half a file.
- *One write per snapshot.* :class:`MemoryTables` keeps TinyDB's tables in memory and writes the
  file only when the queue commits.
- *One writer.* :class:`ProcessLock` keeps a second process (say ``ticketbell check`` while the
  tray app runs) from writing the same file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from tinydb.storages import Storage

from agent.i18n import Text, text_of
from agent.model import UTC, Alert, Ticket, parse_time

log = logging.getLogger(__name__)

#: the queue file's table of daily aggregates (agent.insight.aggregates reads and checks it)
AGGREGATES_TABLE = "aggregates"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def open_private(path: Path, flags: int) -> int:
    """Open ``path`` readable by this user only (0600, also a file an older version left
    readable by others), never through a symbolic link planted in its place (O_NOFOLLOW: an
    OSError instead)."""
    fd = os.open(path, flags | _NOFOLLOW | getattr(os, "O_BINARY", 0), 0o600)
    if sys.platform != "win32":
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            os.close(fd)
            raise
    return fd


def _new_private_file(path: str, flags: int) -> int:
    """Create ``path`` for this user only: O_EXCL makes a new file, its mode 0600 (less what
    the umask takes away), so it needs no chmod as :func:`open_private` gives an older file
    (one system call less in every atomic write)."""
    return os.open(path, flags | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0), 0o600)


def private_dir(path: Path) -> Path:
    """Create ``path`` for this user only (0700), or check an existing one belongs to this
    user (else PermissionError naming it: another user could read or replace what is in it).
    Ticketbell's data and log folders go through here."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if sys.platform != "win32":
        owner = path.stat().st_uid
        if owner != os.getuid():
            raise PermissionError(
                f"{path} belongs to another user (uid {owner}); Ticketbell keeps its files "
                "only in a folder of yours: remove it, or choose another with --data-dir"
            )
    return path


def atomic_write(path: Path, data: bytes, folder_fd: int | None = None) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    The file is written readable by this user only, through a temporary file created anew
    (O_EXCL, O_NOFOLLOW: a link planted under its name is removed, never written through).
    ``folder_fd``: ``path``'s folder, already open, for the fsync that makes the rename last
    (else it is opened for it)."""
    # Plain os calls, no file object (its fstat, ioctl and lseek): each call lets other threads
    # run and must win the GIL back, which costs milliseconds in a busy process (the team
    # bench). On str paths (PTH rules off here): pathlib's objects cost more than the write.
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")  # noqa: PTH118
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        try:
            fd = _new_private_file(tmp, flags)
        except FileExistsError:  # left by a crash, or a link planted under its name
            os.unlink(tmp)  # noqa: PTH108 - a link is removed itself, not its target
            fd = _new_private_file(tmp, flags)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # noqa: PTH108
        raise
    if sys.platform == "win32":
        return
    if folder_fd is not None:
        os.fsync(folder_fd)
        return
    fd = os.open(folder or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicJSONStorage(Storage):
    """A TinyDB storage: orjson, atomic replace, and a damaged file moved aside, not fatal."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.recovered_from: Path | None = None
        self._folder_fd: int | None = None
        self._close_folder: weakref.finalize[Any, Any] | None = None

    def read(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            return None
        try:
            data = orjson.loads(raw)
            # the daily aggregates are checked on their own: damaged, only they are moved aside
            if not isinstance(data, dict):
                raise ValueError("not a table of tables")
            tables = [t for name, t in data.items() if name != AGGREGATES_TABLE]
            if not all(isinstance(t, dict) for t in tables):
                raise ValueError("not a table of tables")
            for table in tables:
                for doc in table.values():
                    if not isinstance(doc, dict):
                        raise ValueError("a record is not an object")
        except (orjson.JSONDecodeError, ValueError) as exc:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            os.replace(self.path, aside)
            self.recovered_from = aside
            log.error(
                "the queue file %s could not be read (%s); moved it aside to %s and started "
                "with an empty queue",
                self.path,
                exc,
                aside.name,
            )
            return None
        return data

    def write(self, data: dict[str, Any]) -> None:
        atomic_write(self.path, orjson.dumps(data), self._folder())

    def _folder(self) -> int | None:
        """The file's folder, opened at the first write and kept open (closed with the storage,
        or when it is collected): each save fsyncs it after the rename, and opening it for
        every save cost two system calls more before every alert (the team bench)."""
        if self._folder_fd is None and sys.platform != "win32":
            self._folder_fd = fd = os.open(self.path.parent, os.O_RDONLY)
            self._close_folder = weakref.finalize(self, os.close, fd)
        return self._folder_fd

    def close(self) -> None:
        if self._close_folder is not None:
            self._close_folder()
        self._folder_fd = self._close_folder = None


class MemoryTables(Storage):
    """The queue's TinyDB storage: every table lives in memory and the file is written only by
    :meth:`save`, once per snapshot (TinyDB rewrites its whole file at every change: at 10,000
    tickets that was minutes per poll).

    TinyDB's tables go through :meth:`read` and :meth:`write`, TinyDB's public storage API. The
    queue also reads rows with :meth:`rows` (without TinyDB's copy of every row, which made a
    status at 10,000 tickets slow) and adds many rows at once with :meth:`add_rows`: the two
    documented ways past TinyDB's tables, instead of their private methods.
    """

    def __init__(self, file: AtomicJSONStorage) -> None:
        self.file = file
        self._tables: dict[str, dict[str, dict[str, Any]]] | None = None
        #: written since the last save
        self.changed = False

    def read(self) -> dict[str, dict[str, dict[str, Any]]]:
        if self._tables is None:
            self._tables = self.file.read() or {}
        return self._tables

    def write(self, data: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._tables = data
        self.changed = True

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        """The rows of ``table`` by document id, as stored: read them, never change them."""
        return self.read().get(table, {})

    def add_rows(self, table: str, rows: list[dict[str, Any]]) -> list[int]:
        """Add ``rows`` to ``table`` in one step; returns their document ids. Only for a table
        whose rows are never added through TinyDB (its own id counter would not know them)."""
        stored = self.read().setdefault(table, {})
        first = max(map(int, stored), default=0) + 1
        ids = list(range(first, first + len(rows)))
        for doc_id, row in zip(ids, rows, strict=True):
            stored[str(doc_id)] = row
        self.changed = True
        return ids

    def save(self) -> None:
        """Write every table to the file (atomically); an OSError leaves it to do again."""
        if self._tables is not None:
            self.file.write(self._tables)
        self.changed = False

    def forget(self) -> None:
        """Drop what was read (a file that was not ours): the tables are empty from now on."""
        self._tables = {}
        self.changed = False


class ProcessLock:
    """An exclusive lock on ``queue.lock`` for as long as this process uses the data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: Any = None

    def acquire(self) -> bool:
        # held open for the lock's lifetime; never through a planted link
        self.fh = os.fdopen(open_private(self.path, os.O_RDWR | os.O_CREAT), "a+b")
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(self.fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            self.fh = None
            return False
        with contextlib.suppress(OSError):  # who holds it, for the other one's message
            self.fh.truncate(0)
            self.fh.write(str(os.getpid()).encode())
            self.fh.flush()
        return True

    def holder(self) -> str:
        """The process that holds the lock, as far as its file says ("process 1234")."""
        try:
            pid = self.path.read_bytes()[:20].decode("ascii", "replace").strip()
        except OSError:
            return "another process"
        return f"process {pid}" if pid.isdigit() else "another process"

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_record(ticket: Ticket) -> dict[str, Any]:
    record = {
        "source": ticket.source,
        "id": ticket.id,
        "subject": ticket.subject,
        "requester": ticket.requester,
        "category": ticket.category,
        "priority": ticket.priority,
        "status": ticket.status,
        "created_at": ticket.created_at.isoformat(),
        "waiting_since": ticket.cycle,
        "due_at": iso(ticket.due_at),
        "url": ticket.url,
        "assignee": ticket.assignee,
    }
    # who the customer is ([[vip]]), only where the helpdesk says: a record without them is
    # the same as before these keys existed, so an upgrade rewrites no ticket
    for key in ("requester_email", "organization"):
        if getattr(ticket, key):
            record[key] = getattr(ticket, key)
    return record


def ticket_from_record(doc: dict[str, Any]) -> Ticket:
    return Ticket(
        source=doc["source"],
        id=doc["id"],
        subject=doc.get("subject", ""),
        requester=doc.get("requester", ""),
        category=doc.get("category", ""),
        priority=doc.get("priority", ""),
        status=doc.get("status", ""),
        created_at=parse_time(doc["created_at"]) or datetime.fromtimestamp(0, UTC),
        waiting_since=parse_time(doc["waiting_since"]) or datetime.fromtimestamp(0, UTC),
        due_at=parse_time(doc.get("due_at")),
        url=doc.get("url", ""),
        assignee=doc.get("assignee", ""),
        requester_email=doc.get("requester_email", ""),
        organization=doc.get("organization", ""),
    )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One row of the alert ledger: an alert recorded (its key says which alert; the rest
    serves the digest and the retention), or a waiting cycle that ended (kind ``answered``).
    :meth:`row` and :meth:`of` are the one place its stored form is written and read."""

    key: str  # an :class:`AlertKey`'s stored form
    kind: str
    source: str
    ticket: str
    at: datetime
    subject: str = ""
    category: str = ""
    assignee: str = ""  # answered only
    cycle: str = ""  # answered only: the ticket's waiting_since, as stored
    level: int = 0  # alerts only
    #: a source's alert: its subject as a Text, for the digest in the owner's language
    text: Text | None = None

    def row(self) -> dict[str, Any]:
        common = {"key": self.key, "kind": self.kind, "source": self.source, "ticket": self.ticket}
        if self.kind == "answered":
            return {
                **common,
                "cycle": self.cycle,
                "category": self.category,
                "assignee": self.assignee,
                "subject": self.subject,
                "at": self.at.isoformat(),
            }
        said = {"text": self.text.data()} if self.text is not None else {}
        return {
            **common,
            "subject": self.subject,
            "category": self.category,
            "level": self.level,
            "at": self.at.isoformat(),
            **said,
        }

    @classmethod
    def of(cls, row: dict[str, Any]) -> LedgerEntry:
        return cls(
            key=str(row.get("key", "")),
            kind=str(row.get("kind", "")),
            source=str(row.get("source", "")),
            ticket=str(row.get("ticket", "")),
            at=parse_time(row.get("at")) or datetime.fromtimestamp(0, UTC),
            subject=str(row.get("subject") or ""),
            category=str(row.get("category") or ""),
            assignee=str(row.get("assignee") or ""),
            cycle=str(row.get("cycle") or ""),
            level=int(row.get("level") or 0),
            text=text_of(row.get("text")),
        )


def ledger_row(alert: Alert) -> dict[str, Any]:
    """The ledger's row for an alert recorded."""
    return LedgerEntry(
        alert.key,
        alert.kind,
        alert.source,
        alert.ticket,
        alert.at,
        subject=alert.subject,
        category=alert.category,
        level=alert.level,
        text=alert.text,
    ).row()


def answered_row(key: str, ticket_row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The ledger's row for a waiting cycle that ended (``ticket_row``: the ticket's row)."""
    return LedgerEntry(
        key,
        "answered",
        ticket_row["source"],
        ticket_row["id"],
        now,
        subject=ticket_row.get("subject", ""),
        category=ticket_row.get("category", ""),
        assignee=ticket_row.get("assignee", ""),
        cycle=ticket_row["waiting_since"],
    ).row()


def outbox_row(key: str, message: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A new outbox message: ``message`` (kind, target, title, body...) and its delivery state."""
    return {
        "key": key,
        "created_at": now.isoformat(),
        "attempts": 0,
        "next_attempt": now.isoformat(),
        "sending_since": None,
        "delivered_at": None,
        "failed_at": None,
        "cancelled_at": None,
        "last_error": "",
        **message,
    }


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox message and where its delivery stands, as read from its row."""

    key: str  # an :class:`OutboxKey`'s stored form
    kind: str  # escalation, blind, follow_up, digest
    target: str
    title: str
    body: str
    created_at: datetime
    source: str = ""
    ticket: str = ""
    attempts: int = 0
    next_attempt: datetime | None = None
    sending_since: datetime | None = None  # an attempt recorded, its outcome not yet back
    delivered_at: datetime | None = None
    failed_at: datetime | None = None  # given up (or in doubt: never sent again)
    cancelled_at: datetime | None = None
    in_doubt: bool = False
    last_error: str = ""
    #: the weekly scorecard's HTML and its inline images (name, base64 PNG): e-mail only
    html: str = ""
    images: tuple[tuple[str, str], ...] = ()

    @property
    def open(self) -> bool:
        """Neither delivered, given up nor cancelled."""
        return not (self.delivered_at or self.failed_at or self.cancelled_at)

    @classmethod
    def of(cls, row: dict[str, Any]) -> OutboxEntry:
        created = parse_time(row.get("created_at")) or datetime.fromtimestamp(0, UTC)
        return cls(
            key=row["key"],
            kind=row.get("kind", ""),
            target=row.get("target", ""),
            title=row.get("title", ""),
            body=row.get("body", ""),
            created_at=created,
            source=row.get("source", ""),
            ticket=row.get("ticket", ""),
            attempts=int(row.get("attempts") or 0),
            next_attempt=parse_time(row.get("next_attempt")),
            sending_since=parse_time(row.get("sending_since")),
            delivered_at=parse_time(row.get("delivered_at")),
            failed_at=parse_time(row.get("failed_at")),
            cancelled_at=parse_time(row.get("cancelled_at")),
            in_doubt=bool(row.get("in_doubt")),
            last_error=row.get("last_error") or "",
            html=str(row.get("html") or ""),
            images=tuple((str(n), str(d)) for n, d in row.get("images") or ()),
        )


KEY_SEP = "\x1f"  # between the parts of a stored key: never in a name, an id or a time


@dataclass(frozen=True, slots=True)
class AlertKey:
    """Which alert, as the ledger keys it: owed once per (source, ticket, waiting cycle, kind,
    level). ``ticket`` is "*" for a source's own alerts (down, up, blind); ``source`` and
    ``ticket`` are both "*" for the agent's (reminder, digest). ``level`` is "" or an escalation
    level, with "rN" for its Nth repeat ("1r2"). This class is the one place that writes and
    reads the stored form (the parts joined by ``KEY_SEP``)."""

    source: str
    ticket: str
    cycle: str
    kind: str
    level: str = ""

    def encode(self) -> str:
        parts = (self.source, self.ticket, self.cycle, self.kind)
        return KEY_SEP.join((*parts, self.level) if self.level else parts)

    @classmethod
    def decode(cls, text: str) -> AlertKey:
        parts = text.split(KEY_SEP)
        if len(parts) < 4:
            raise ValueError(f"not an alert key: {text!r}")
        return cls(parts[0], parts[1], parts[2], parts[3], KEY_SEP.join(parts[4:]))

    @property
    def repeat(self) -> int:
        """Which repeat of its escalation level this alert is (0: the first)."""
        return int(self.level.split("r", 1)[1]) if "r" in self.level else 0


@dataclass(frozen=True, slots=True)
class OutboxKey:
    """Which outbox message: the one an alert owes one channel target. Its stored form is the
    alert's key and the target, joined by ``KEY_SEP``."""

    alert: AlertKey
    target: str

    def encode(self) -> str:
        return f"{self.alert.encode()}{KEY_SEP}{self.target}"

    @classmethod
    def decode(cls, text: str) -> OutboxKey:
        head, _, target = text.rpartition(KEY_SEP)
        return cls(AlertKey.decode(head), target)


def alert_key(
    source: str, ticket: str, cycle: str, kind: str, level: int | str | None = None
) -> str:
    """The stored key of one alert (:class:`AlertKey`)."""
    if level is None:  # AlertKey.encode() without the object: a first sync makes 10,000 of them
        return KEY_SEP.join((source, ticket, cycle, kind))
    return AlertKey(source, ticket, cycle, kind, str(level)).encode()


def new_alert_key(ticket: Ticket) -> str:
    """``alert_key(ticket.source, ticket.id, ticket.cycle, "new")`` from the ticket's key (its
    source and id, joined the same way) and cycle, both made once: a first sync asks 20,000."""
    return f"{ticket.key}{KEY_SEP}{ticket.cycle}{KEY_SEP}new"


def cycle_prefix(source: str, ticket: str, cycle: str) -> str:
    """What every stored key of one waiting cycle (its alerts, their messages) starts with."""
    return AlertKey(source, ticket, cycle, "").encode()


def cycle_of(key: str) -> str:
    """The waiting cycle a stored alert key names ("" for a key of another shape)."""
    try:
        return AlertKey.decode(key).cycle
    except ValueError:
        return ""
