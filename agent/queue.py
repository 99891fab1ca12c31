"""The local queue: every waiting ticket, its alert ledger and the escalation outbox, in TinyDB.

Why it is built this way:
- *One write per snapshot.* TinyDB rewrites its whole file on every change; at 10,000 tickets
  that is minutes per poll. Changes go to TinyDB's in-memory cache and :meth:`LocalQueue.commit`
  writes once; a snapshot that changes nothing writes nothing.
- *Atomic writes.* :class:`AtomicJSONStorage` serialises with orjson to a temporary file,
  flushes, fsyncs and renames it over the old one: a kill at any moment leaves the previous or
  the new state, never half a file.
- *Alerts once.* An alert is recorded in the ledger (keyed by source, ticket, waiting cycle and
  kind/level) in the same write as the snapshot that made it owed, before anyone is told.
- *Proportional to open work.* Answered tickets leave the table; their ledger entries stay for
  the retention period (7 days by default) for the digest and against re-alerting.
- *One writer.* The engine's scheduler thread is the only caller; a lock file keeps a second
  process (say ``ticketbell check`` while the tray app runs) from writing the same file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB
from tinydb.storages import Storage

from agent.model import UTC, Alert, Snapshot, Ticket, parse_time, ticket_key

log = logging.getLogger(__name__)

QUEUE_FILE = "queue.json"
TABLES = ("tickets", "ledger", "outbox", "meta")
TICKET_FIELDS = (
    "source",
    "id",
    "subject",
    "requester",
    "category",
    "priority",
    "status",
    "created_at",
    "waiting_since",
    "due_at",
    "url",
    "assignee",
)


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
    return open_private(Path(path), flags | os.O_EXCL)


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


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    The file is written readable by this user only, through a temporary file created anew
    (O_EXCL, O_NOFOLLOW: a link planted under its name is removed, never written through)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)  # a link is removed itself, not its target
        with open(tmp, "wb", opener=_new_private_file) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sys.platform != "win32":
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicJSONStorage(Storage):
    """A TinyDB storage: orjson, atomic replace, and a damaged file moved aside, not fatal."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.recovered_from: Path | None = None

    def read(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            return None
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
                raise ValueError("not a table of tables")
            for table in data.values():
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
        atomic_write(self.path, orjson.dumps(data))

    def close(self) -> None:
        pass


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


class _ProcessLock:
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


@dataclass(frozen=True)
class Changes:
    """What one snapshot changed in the queue."""

    source: str
    new: tuple[Ticket, ...] = ()
    updated: tuple[Ticket, ...] = ()
    unchanged: tuple[Ticket, ...] = ()
    answered: tuple[Ticket, ...] = ()

    @property
    def waiting(self) -> tuple[Ticket, ...]:
        return self.new + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated or self.answered)


@dataclass(slots=True)
class QueuedTicket:
    """A ticket in the queue with its local state (first seen, acknowledged, snoozed)."""

    ticket: Ticket
    first_seen: datetime
    acknowledged: bool = False
    snoozed_until: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_record(ticket: Ticket) -> dict[str, Any]:
    return {
        "source": ticket.source,
        "id": ticket.id,
        "subject": ticket.subject,
        "requester": ticket.requester,
        "category": ticket.category,
        "priority": ticket.priority,
        "status": ticket.status,
        "created_at": ticket.created_at.isoformat(),
        "waiting_since": ticket.cycle,
        "due_at": _iso(ticket.due_at),
        "url": ticket.url,
        "assignee": ticket.assignee,
    }


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
    )


class LocalQueue:
    """The durable state of one agent. Use from one thread only (the engine's scheduler)."""

    def __init__(self, data_dir: Path, retention: timedelta = timedelta(days=7)) -> None:
        self.data_dir = private_dir(Path(data_dir))
        self.path = self.data_dir / QUEUE_FILE
        self.retention = retention
        self._lock = _ProcessLock(self.data_dir / "queue.lock")
        #: False when another process holds the data dir: we then work in memory only, send
        #: nothing, and try the lock again (:meth:`take_over`) until that process stops
        self.writable = self._lock.acquire()
        #: who holds the data dir when this queue does not ("process 1234"), else ""
        self.held_by = "" if self.writable else self._lock.holder()
        if not self.writable:
            log.warning(
                "another Ticketbell (%s) uses the data folder %s: this one shows the tickets "
                "but saves nothing and sends no escalation; it takes over when that one stops",
                self.held_by,
                self.data_dir,
            )
        self._open()

    def _open(self) -> None:
        if self.writable:
            for stale in self.data_dir.glob(f".{QUEUE_FILE}.*.tmp"):
                stale.unlink(missing_ok=True)  # left by a write that was killed
        self.storage = AtomicJSONStorage(self.path)
        self.store = MemoryTables(self.storage)
        self.db = TinyDB(storage=lambda: self.store)
        self.tickets = self.db.table("tickets", cache_size=0)
        self.ledger = self.db.table("ledger", cache_size=0)
        self.outbox = self.db.table("outbox", cache_size=0)
        self.meta = self.db.table("meta", cache_size=0)
        #: the last write failure (disk full, read-only), or None when the file is current
        self.write_error: str | None = None
        self._index: dict[str, int] = {}
        self._ledger_keys: set[str] = set()
        self._outbox_keys: dict[str, int] = {}
        #: parsed tickets, kept in step with the table so a status costs no re-parsing
        self._queued: dict[str, QueuedTicket] | None = None
        #: per source, the tickets of the last snapshot applied and the ones it left waiting
        self._applied: dict[str, tuple[tuple[Ticket, ...], tuple[Ticket, ...]]] = {}
        self._load_indexes()

    def take_over(self) -> bool:
        """Try the lock again; once the other Ticketbell has stopped, take the data folder
        over: read what it saved (its tickets, ledger and outbox) and save from now on."""
        if self.writable:
            return True
        if not self._lock.acquire():
            return False
        self.writable = True
        self.held_by = ""
        self._open()
        log.warning(
            "the other Ticketbell stopped: this one now saves the queue in %s and sends the "
            "escalations",
            self.data_dir,
        )
        return True

    @property
    def recovered_from(self) -> Path | None:
        """Where a damaged queue file was moved at start, if it was."""
        return self.storage.recovered_from

    def _load_indexes(self) -> None:
        try:
            self._index = {doc["key"]: doc.doc_id for doc in self.tickets.all()}
            self._ledger_keys = self._all_ledger_keys()
            self._outbox_keys = {doc["key"]: doc.doc_id for doc in self.outbox.all()}
            for key in self._index:
                ticket_from_record(self.tickets.get(doc_id=self._index[key]))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            # Parsed as JSON but not ours (hand-edited, another version): same as corrupt.
            self.store.forget()
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            if self.path.exists():
                os.replace(self.path, aside)
                self.storage.recovered_from = aside
            log.error(
                "the queue file had unexpected records (%s); moved aside to %s", exc, aside.name
            )
            self.db.drop_tables()
            self._index, self._ledger_keys, self._outbox_keys = {}, set(), {}
            self._queued = None
            self._applied = {}

    # ------------------------------------------------------------------ writing

    def commit(self) -> bool:
        """Write everything changed since the last commit, in one atomic write.

        Returns False (and sets ``write_error``) when the disk refuses; the state stays in
        memory and the next commit tries again.
        """
        if not self.store.changed:
            return True
        if not self.writable:
            self.store.changed = False
            return True
        try:
            self.store.save()
        except OSError as exc:
            message = f"cannot save the queue in {self.data_dir}: {exc.strerror or exc}"
            if message != self.write_error:
                log.error("%s; working from memory until it can", message)
            self.write_error = message
            return False
        if self.write_error:
            log.info("the queue is saved again")
        self.write_error = None
        return True

    def close(self) -> None:
        self.commit()
        self._lock.release()

    # ------------------------------------------------------------------ tickets

    def apply(self, snapshot: Snapshot, now: datetime) -> Changes:
        """Bring the source's tickets in line with ``snapshot``; return what changed.

        Changes stay in memory until :meth:`commit` (the engine records the alerts they make
        owed first, so both land in the same write).
        """
        source = snapshot.source
        last = self._applied.get(source)
        if last is not None and last[0] == snapshot.tickets:
            # The very tickets applied last time (often the same objects: a connector reusing
            # an unmodified page): nothing to compare ticket by ticket, nothing to write.
            return Changes(source, unchanged=last[1])
        now_iso = now.isoformat()
        queued = self._queued_tickets()  # parsed before the rows change, kept in step below
        prefix = ticket_key(source, "")
        known = {k: i for k, i in self._index.items() if k.startswith(prefix)}
        docs = self.store.rows(self.tickets.name)
        new: list[Ticket] = []
        updated: list[Ticket] = []
        unchanged: list[Ticket] = []
        inserts: list[dict[str, Any]] = []
        replacements: dict[str, dict[str, Any]] = {}
        closed: list[dict[str, Any]] = []
        fresh: dict[str, QueuedTicket] = {}
        seen: set[str] = set()
        for ticket in snapshot.tickets:
            key = ticket.key
            if key in seen:
                continue  # a helpdesk listing one ticket twice across pages
            seen.add(key)
            record = ticket_record(ticket)
            doc_id = known.get(key)
            if doc_id is None:
                record["key"] = key
                record["first_seen"] = now_iso
                record["acknowledged"] = False
                record["snoozed_until"] = None
                inserts.append(record)
                new.append(ticket)
                fresh[key] = QueuedTicket(ticket, now)
                continue
            old = docs[str(doc_id)]
            if old["waiting_since"] != record["waiting_since"]:
                # The team replied and the customer wrote again: a new waiting cycle.
                closed.append(old)
                record.update(key=key, first_seen=now_iso, acknowledged=False, snoozed_until=None)
                replacements[key] = record
                new.append(ticket)
                fresh[key] = QueuedTicket(ticket, now)
            elif any(old.get(f) != record[f] for f in TICKET_FIELDS):
                record.update(
                    key=key,
                    first_seen=old["first_seen"],
                    acknowledged=old.get("acknowledged", False),
                    snoozed_until=old.get("snoozed_until"),
                )
                replacements[key] = record
                updated.append(ticket)
                fresh[key] = QueuedTicket(
                    ticket,
                    parse_time(old["first_seen"]) or now,
                    bool(record["acknowledged"]),
                    parse_time(record["snoozed_until"]),
                )
            else:
                unchanged.append(ticket)
        gone = [] if not snapshot.complete else [k for k in known if k not in seen]
        answered = [ticket_from_record(docs[str(known[k])]) for k in gone]
        closed.extend(docs[str(known[k])] for k in gone)
        self._close_cycles(closed, now)

        if replacements:
            self.tickets.update(
                lambda doc: doc.update(replacements[doc["key"]]),
                doc_ids=[known[k] for k in replacements],
            )
        if gone:
            self.tickets.remove(doc_ids=[known[k] for k in gone])
            for key in gone:
                del self._index[key]
        if inserts:
            self._insert_tickets(inserts)
        for key in gone:
            queued.pop(key, None)
        queued.update(fresh)
        changes = Changes(source, tuple(new), tuple(updated), tuple(unchanged), tuple(answered))
        self._applied[source] = (snapshot.tickets, changes.waiting)
        return changes

    def _insert_tickets(self, records: list[dict[str, Any]]) -> None:
        """Add new rows to the tickets table in one step.

        TinyDB's ``insert_multiple`` copies each row and converts the whole table's ids twice
        per call; a first sync of 10,000 tickets spent more time there than in parsing them.
        The rows go straight into the cached table (saved by the next :meth:`commit`).
        """
        ids = self.store.add_rows(self.tickets.name, records)
        for record, doc_id in zip(records, ids, strict=True):
            self._index[record["key"]] = doc_id

    def _close_cycles(self, records: list[dict[str, Any]], now: datetime) -> None:
        """Note in the ledger that waiting cycles ended (for the digest and retention)."""
        docs = []
        for record in records:
            key = alert_key(record["source"], record["id"], record["waiting_since"], "answered")
            if key in self._ledger_keys:
                continue
            self._ledger_keys.add(key)
            docs.append(
                {
                    "key": key,
                    "kind": "answered",
                    "source": record["source"],
                    "ticket": record["id"],
                    "cycle": record["waiting_since"],
                    "category": record.get("category", ""),
                    "assignee": record.get("assignee", ""),
                    "subject": record.get("subject", ""),
                    "at": now.isoformat(),
                }
            )
        if docs:
            self.ledger.insert_multiple(docs)

    def waiting(self, source: str | None = None) -> list[QueuedTicket]:
        """Every ticket in the queue (of one source, or all), with its local state."""
        queued = self._queued_tickets().values()
        return [q for q in queued if source is None or q.ticket.source == source]

    def _queued_tickets(self) -> dict[str, QueuedTicket]:
        if self._queued is None:
            self._queued = {
                doc["key"]: QueuedTicket(
                    ticket=ticket_from_record(doc),
                    first_seen=parse_time(doc.get("first_seen")) or datetime.now(UTC),
                    acknowledged=bool(doc.get("acknowledged")),
                    snoozed_until=parse_time(doc.get("snoozed_until")),
                )
                for doc in self.store.rows(self.tickets.name).values()
            }
        return self._queued

    def set_ticket_state(
        self,
        source: str,
        ticket_id: str,
        *,
        acknowledged: bool | None = None,
        snoozed_until: datetime | bool | None = False,
    ) -> bool:
        """Acknowledge or snooze a ticket (``snoozed_until=None`` clears a snooze)."""
        doc_id = self._index.get(ticket_key(source, ticket_id))
        if doc_id is None:
            return False
        fields: dict[str, Any] = {}
        if acknowledged is not None:
            fields["acknowledged"] = acknowledged
        if snoozed_until is not False:
            fields["snoozed_until"] = _iso(snoozed_until)  # type: ignore[arg-type]
        self.tickets.update(fields, doc_ids=[doc_id])
        key = ticket_key(source, ticket_id)
        if self._queued is not None and key in self._queued:
            q = self._queued[key]
            self._queued[key] = QueuedTicket(
                q.ticket,
                q.first_seen,
                q.acknowledged if acknowledged is None else acknowledged,
                q.snoozed_until if snoozed_until is False else snoozed_until,  # type: ignore[arg-type]
            )
        return True

    def forget_source(self, source: str) -> None:
        """Drop the tickets of a source that was removed from the config."""
        prefix = ticket_key(source, "")
        self._applied.pop(source, None)
        ids = [i for k, i in self._index.items() if k.startswith(prefix)]
        if ids:
            self.tickets.remove(doc_ids=ids)
            self._index = {k: i for k, i in self._index.items() if not k.startswith(prefix)}
            self._queued = None

    # ------------------------------------------------------------------ alert ledger

    def already(self, key: str) -> bool:
        return key in self._ledger_keys

    @property
    def ledger_keys(self) -> AbstractSet[str]:
        """The keys of every alert recorded (a live, read-only view: do not keep it)."""
        return self._ledger_keys

    def _all_ledger_keys(self) -> set[str]:
        """The keys of every alert recorded: the ledger's, and the ``new`` alerts implied.

        A ticket's row, written in the same save as its ``new`` alert, is the record of that
        alert (a ledger entry per new ticket would make the file half as big again at 10,000
        tickets); when the cycle ends, its ``answered`` entry keeps the record for the retention.
        """
        keys = set()
        for doc in self.ledger.all():
            keys.add(doc["key"])
            if doc.get("kind") == "answered":
                keys.add(alert_key(doc["source"], doc["ticket"], doc["cycle"], "new"))
        for doc in self.store.rows(self.tickets.name).values():
            keys.add(alert_key(doc["source"], doc["id"], doc["waiting_since"], "new"))
        return keys

    def record(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Record alerts in the ledger; returns those not recorded before (the ones to show)."""
        fresh = []
        docs = []
        rows = self.store.rows(self.tickets.name)
        for alert in alerts:
            if alert.key in self._ledger_keys:
                continue
            self._ledger_keys.add(alert.key)
            fresh.append(alert)
            if alert.kind == "new":
                # the alert's own ticket knows its key and cycle without taking the key apart
                ticket = alert.tickets[0].ticket if alert.tickets else None
                key = ticket.key if ticket else ticket_key(alert.source, alert.ticket)
                doc_id = self._index.get(key)
                row = rows.get(str(doc_id)) if doc_id is not None else None
                cycle = ticket.cycle if ticket else _cycle_of(alert.key)
                if row is not None and row["waiting_since"] == cycle:
                    continue  # implied by the ticket's row (see _all_ledger_keys)
            docs.append(
                {
                    "key": alert.key,
                    "kind": alert.kind,
                    "source": alert.source,
                    "ticket": alert.ticket,
                    "subject": alert.subject,
                    "category": alert.category,
                    "level": alert.level,
                    "at": alert.at.isoformat(),
                }
            )
        if docs:
            self.ledger.insert_multiple(docs)
        return fresh

    def ledger_entries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        entries = list(self.store.rows(self.ledger.name).values())
        if since is not None:
            cutoff = since.isoformat()
            entries = [e for e in entries if e.get("at", "") >= cutoff]
        return sorted(entries, key=lambda e: e.get("at", ""))

    def prune(self, now: datetime) -> int:
        """Forget ledger entries older than the retention whose ticket no longer waits, and
        outbox messages older than the retention that are delivered, given up or cancelled."""
        cutoff = (now - self.retention).isoformat()
        waiting = {
            (d["source"], d["id"], d["waiting_since"])
            for d in self.store.rows(self.tickets.name).values()
        }
        old = [
            doc.doc_id
            for doc in self.ledger.all()
            if doc.get("at", "") < cutoff
            and (doc.get("source"), doc.get("ticket"), _cycle_of(doc["key"])) not in waiting
        ]
        finished = [
            int(doc_id)
            for doc_id, doc in self.store.rows(self.outbox.name).items()
            if doc.get("created_at", "") < cutoff
            and (doc.get("delivered_at") or doc.get("failed_at") or doc.get("cancelled_at"))
        ]
        if finished:
            self.outbox.remove(doc_ids=finished)
            self._outbox_keys = {doc["key"]: doc.doc_id for doc in self.outbox.all()}
        if old:
            removed = self.ledger.remove(doc_ids=old)
            self._ledger_keys = self._all_ledger_keys()
            return len(removed)
        return 0

    # ------------------------------------------------------------------ outbox

    def enqueue(self, key: str, message: dict[str, Any], now: datetime) -> bool:
        """Put a message in the durable outbox once per ``key``; False if already there."""
        if key in self._outbox_keys:
            return False
        record = {
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
        (doc_id,) = self.outbox.insert_multiple([record])
        self._outbox_keys[key] = doc_id
        return True

    def pending(self) -> list[dict[str, Any]]:
        """Outbox messages neither delivered, given up nor cancelled, oldest first."""
        return sorted(
            (
                {**doc, "doc_id": int(doc_id)}
                for doc_id, doc in self.store.rows(self.outbox.name).items()
                if not doc.get("delivered_at")
                and not doc.get("failed_at")
                and not doc.get("cancelled_at")
            ),
            key=lambda d: d["created_at"],
        )

    def outbox_entries(self, prefix: str = "") -> list[dict[str, Any]]:
        """Every outbox message whose key starts with ``prefix``, oldest first."""
        return sorted(
            (
                dict(doc)
                for doc in self.store.rows(self.outbox.name).values()
                if doc["key"].startswith(prefix)
            ),
            key=lambda d: d["created_at"],
        )

    def outbox_entry(self, key: str) -> dict[str, Any] | None:
        doc_id = self._outbox_keys.get(key)
        if doc_id is None:
            return None
        doc = self.outbox.get(doc_id=doc_id)
        return dict(doc) if doc else None

    def update_outbox(self, key: str, **fields: Any) -> None:
        doc_id = self._outbox_keys[key]
        self.outbox.update(
            {k: _iso(v) if isinstance(v, datetime) else v for k, v in fields.items()},
            doc_ids=[doc_id],
        )

    # ------------------------------------------------------------------ meta

    def get_meta(self, name: str, default: Any = None) -> Any:
        for doc in self.store.rows(self.meta.name).values():
            if doc.get("name") == name:
                return doc.get("value", default)
        return default

    # ------------------------------------------------------------------ the person's state

    def muted_until(self, now: datetime) -> datetime | None:
        """Until when the sound is muted, or None (also once that time has passed)."""
        until = parse_time(self.get_meta("muted_until"))
        return until if until is not None and until > now else None

    def set_muted_until(self, until: datetime | None) -> None:
        self.set_meta("muted_until", _iso(until))

    def pinned(self) -> tuple[str, ...]:
        """Keys of the tickets shown first, newest first; only tickets still waiting."""
        return tuple(k for k in self.get_meta("pinned", []) if k in self._index)

    def set_pinned(self, key: str, pinned: bool) -> None:
        keys = [k for k in self.get_meta("pinned", []) if k != key and k in self._index]
        if pinned and key in self._index:
            keys.insert(0, key)
        self.set_meta("pinned", keys)

    def set_meta(self, name: str, value: Any) -> None:
        for doc_id, doc in self.store.rows(self.meta.name).items():
            if doc.get("name") == name:
                if doc.get("value") != value:
                    self.meta.update({"value": value}, doc_ids=[int(doc_id)])
                return
        self.meta.insert({"name": name, "value": value})


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
    return AlertKey(source, ticket, cycle, kind, "" if level is None else str(level)).encode()


def cycle_prefix(source: str, ticket: str, cycle: str) -> str:
    """What every stored key of one waiting cycle (its alerts, their messages) starts with."""
    return AlertKey(source, ticket, cycle, "").encode()


def _cycle_of(key: str) -> str:
    """The waiting cycle a stored alert key names ("" for a key of another shape)."""
    try:
        return AlertKey.decode(key).cycle
    except ValueError:
        return ""
