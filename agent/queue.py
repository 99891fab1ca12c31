"""The local queue: every waiting ticket, its alert ledger and the escalation outbox, in TinyDB.

Why it is built this way:
- *One write per snapshot, atomic.* Changes stay in memory and :meth:`LocalQueue.commit` replaces
  the file once (:mod:`agent.storage`); a snapshot that changes nothing writes nothing.
- *Alerts once.* An alert is recorded in the ledger (keyed by source, ticket, waiting cycle and
  kind/level) in the same write as the snapshot that made it owed, before anyone is told.
- *Proportional to open work.* Answered tickets leave the table; their ledger entries stay for
  the retention period (7 days by default) for the digest and against re-alerting.
- *One writer.* The engine's scheduler thread is the only caller; a lock file keeps out others.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from agent.insight.aggregates import AggregateTable
from agent.model import UTC, Alert, Snapshot, Ticket, parse_time, ticket_key
from agent.storage import (
    AtomicJSONStorage,
    LedgerEntry,
    MemoryTables,
    OutboxEntry,
    ProcessLock,
    alert_key,
    answered_row,
    cycle_of,
    iso,
    ledger_row,
    new_alert_key,
    outbox_row,
    ticket_from_record,
    ticket_record,
)
from agent.storage import atomic_write as atomic_write  # imported from here by config
from agent.storage import open_private as open_private  # and by cli
from agent.storage import private_dir as private_dir

log = logging.getLogger(__name__)

QUEUE_FILE = "queue.json"


@dataclass(frozen=True)
class Changes:
    """What one snapshot changed in the queue."""

    source: str
    new: tuple[Ticket, ...] = ()
    updated: tuple[Ticket, ...] = ()
    unchanged: tuple[Ticket, ...] = ()
    answered: tuple[Ticket, ...] = ()
    #: every waiting cycle this snapshot ended (answered, or replied to and written again),
    #: as its row last was: what the daily aggregates count (agent.insight)
    ended: tuple[Ticket, ...] = ()

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


@dataclass
class _Diff:
    """What one snapshot changes in its source's rows, gathered before anything is written."""

    seen: set[str] = field(default_factory=set)
    new: list[Ticket] = field(default_factory=list)
    updated: list[Ticket] = field(default_factory=list)
    unchanged: list[Ticket] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    replacements: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: list[dict[str, Any]] = field(default_factory=list)  # rows whose cycle ended
    fresh: dict[str, QueuedTicket] = field(default_factory=dict)


def _compare(
    ticket: Ticket, record: dict[str, Any], old: dict[str, Any], diff: _Diff, now: datetime
) -> None:
    """Sort a ticket already in the queue: a new waiting cycle, updated (a field of its
    ``record``, :func:`~agent.storage.ticket_record`, differs from the stored row), or unchanged."""
    key = ticket.key
    if old["waiting_since"] != record["waiting_since"]:
        # The team replied and the customer wrote again: a new waiting cycle.
        diff.closed.append(old)
        record.update(key=key, first_seen=now.isoformat(), acknowledged=False, snoozed_until=None)
        diff.replacements[key] = record
        diff.new.append(ticket)
        diff.fresh[key] = QueuedTicket(ticket, now)
    elif any(old.get(f) != value for f, value in record.items()):
        record.update(
            key=key,
            first_seen=old["first_seen"],
            acknowledged=old.get("acknowledged", False),
            snoozed_until=old.get("snoozed_until"),
        )
        diff.replacements[key] = record
        diff.updated.append(ticket)
        diff.fresh[key] = QueuedTicket(
            ticket,
            parse_time(old["first_seen"]) or now,
            bool(record["acknowledged"]),
            parse_time(record["snoozed_until"]),
        )
    else:
        diff.unchanged.append(ticket)


class LocalQueue:
    """The durable state of one agent. Use from one thread only (the engine's scheduler)."""

    def __init__(self, data_dir: Path, retention: timedelta = timedelta(days=7)) -> None:
        self.data_dir = private_dir(Path(data_dir))
        self.path = self.data_dir / QUEUE_FILE
        self.retention = retention
        self._lock = ProcessLock(self.data_dir / "queue.lock")
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
        #: the sources whose tickets this queue has taken at least once (see :meth:`has_held`)
        self._held: set[str] = set()
        self._load_indexes()
        #: the daily aggregates, saved with the ledger rows they come from (agent.insight)
        self.aggregates = AggregateTable(self.store, self.data_dir, self.writable)

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
            tickets = self.store.rows(self.tickets.name)
            self._index = {row["key"]: int(doc_id) for doc_id, row in tickets.items()}
            self._ledger_keys = self._all_ledger_keys()
            self._outbox_keys = self._outbox_index()
            self._held = self._held_sources(tickets)
            for doc_id in self._index.values():
                ticket_from_record(tickets[str(doc_id)])
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
            self._index, self._ledger_keys, self._outbox_keys, self._held = {}, set(), {}, set()
            self._queued = None
            self._applied = {}

    # ------------------------------------------------------------------ writing

    def commit(self) -> bool:
        """Write everything changed since the last commit, in one atomic write. Returns False
        (and sets ``write_error``) when the disk refuses: the state stays in memory and the
        next commit tries again."""
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
        self.storage.close()
        self._lock.release()

    # ------------------------------------------------------------------ tickets

    def apply(self, snapshot: Snapshot, now: datetime) -> Changes:
        """Bring the source's tickets in line with ``snapshot``; return what changed. Changes
        stay in memory until :meth:`commit` (the engine records the alerts they make owed
        first, so both land in the same write)."""
        source = snapshot.source
        first = source not in self._held
        if first:
            self._held.add(source)
            self.set_meta("held", sorted(self._held))
        last = self._applied.get(source)
        if last is not None and last[0] == snapshot.tickets:
            # The very tickets applied last time (often the same objects: a connector reusing
            # an unmodified page): nothing to compare ticket by ticket, nothing to write.
            return Changes(source, unchanged=last[1])
        queued = self._queued_tickets()  # parsed before the rows change, kept in step below
        prefix = ticket_key(source, "")
        known = {} if first else {k: i for k, i in self._index.items() if k.startswith(prefix)}
        diff = self._diff(snapshot, known, now, last[0] if last is not None else ())
        docs = self.store.rows(self.tickets.name)
        gone = [] if not snapshot.complete else [k for k in known if k not in diff.seen]
        answered = [ticket_from_record(docs[str(known[k])]) for k in gone]
        diff.closed.extend(docs[str(known[k])] for k in gone)
        ended = self._close_cycles(diff.closed, now)
        self._write(diff, known, gone)
        for key in gone:
            queued.pop(key, None)
        queued.update(diff.fresh)
        changes = Changes(
            source,
            tuple(diff.new),
            tuple(diff.updated),
            tuple(diff.unchanged),
            tuple(answered),
            tuple(map(ticket_from_record, ended)),
        )
        self._applied[source] = (snapshot.tickets, changes.waiting)
        return changes

    def _diff(
        self, snapshot: Snapshot, known: dict[str, int], now: datetime, last: Sequence[Ticket]
    ) -> _Diff:
        """Compare the snapshot's tickets with the rows of its source (writing nothing); a
        Ticket of the ``last`` snapshot applied (a team member's, unchanged) made its row."""
        docs, same = self.store.rows(self.tickets.name), {t.key: t for t in last}
        diff = _Diff()
        local = {"first_seen": now.isoformat(), "acknowledged": False, "snoozed_until": None}
        seen, fresh, inserts, new = diff.seen, diff.fresh, diff.inserts, diff.new  # per ticket
        for ticket in snapshot.tickets:
            key = ticket.key
            if key in seen:
                continue  # a helpdesk listing one ticket twice across pages
            seen.add(key)
            doc_id = known.get(key)
            if doc_id is None:
                record = ticket_record(ticket)
                record["key"] = key  # then a new row's local state
                record.update(local)
                inserts.append(record)
                new.append(ticket)
                fresh[key] = QueuedTicket(ticket, now)
            elif same.get(key) is ticket:
                diff.unchanged.append(ticket)
            else:
                _compare(ticket, ticket_record(ticket), docs[str(doc_id)], diff, now)
        return diff

    def _write(self, diff: _Diff, known: dict[str, int], gone: list[str]) -> None:
        """Change the rows as ``diff`` says (in memory, saved by the next :meth:`commit`)."""
        replacements = diff.replacements
        if replacements:
            self.tickets.update(
                lambda doc: doc.update(replacements[doc["key"]]),
                doc_ids=[known[k] for k in replacements],
            )
        if gone:
            self.tickets.remove(doc_ids=[known[k] for k in gone])
            for key in gone:
                del self._index[key]
        if diff.inserts:
            self._insert_tickets(diff.inserts)

    def _insert_tickets(self, records: list[dict[str, Any]]) -> None:
        """Add new rows to the tickets table in one step.

        TinyDB's ``insert_multiple`` copies each row and converts the whole table's ids twice
        per call; a first sync of 10,000 tickets spent more time there than in parsing them.
        The rows go straight into the cached table (saved by the next :meth:`commit`).
        """
        ids = self.store.add_rows(self.tickets.name, records)
        self._index.update(zip(map(itemgetter("key"), records), ids, strict=True))

    def _close_cycles(self, records: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Note in the ledger that waiting cycles ended (for the digest and retention); returns
        the rows of the cycles noted now (none is noted twice)."""
        docs, ended = [], []
        for record in records:
            key = alert_key(record["source"], record["id"], record["waiting_since"], "answered")
            if key in self._ledger_keys:
                continue
            self._ledger_keys.add(key)
            docs.append(answered_row(key, record, now))
            ended.append(record)
        if docs:
            self.ledger.insert_multiple(docs)
        return ended

    def waiting(self, source: str | None = None) -> list[QueuedTicket]:
        """Every ticket in the queue (of one source, or all), with its local state."""
        queued = self._queued_tickets().values()
        return list(queued) if source is None else [q for q in queued if q.ticket.source == source]

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
        key = ticket_key(source, ticket_id)
        doc_id = self._index.get(key)
        if doc_id is None:
            return False
        fields: dict[str, Any] = {}
        if acknowledged is not None:
            fields["acknowledged"] = acknowledged
        if snoozed_until is not False:
            fields["snoozed_until"] = iso(snoozed_until)  # type: ignore[arg-type]
        self.tickets.update(fields, doc_ids=[doc_id])
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
        if source in self._held:  # added again later, its first sync is a first sync again
            self._held.discard(source)
            self.set_meta("held", sorted(self._held))
        ids = [i for k, i in self._index.items() if k.startswith(prefix)]
        if ids:
            self.tickets.remove(doc_ids=ids)
            self._index = {k: i for k, i in self._index.items() if not k.startswith(prefix)}
            self._queued = None

    def has_held(self, source: str) -> bool:
        """Whether this queue ever took a snapshot of ``source``: if not, its next one is its
        first sync."""
        return source in self._held

    def _held_sources(self, tickets: dict[str, dict[str, Any]]) -> set[str]:
        """The sources taken before, as saved; a queue saved before they were kept names
        them in its ticket rows and the ledger's ticket entries."""
        held = set(self.get_meta("held", []))
        held.update(row["source"] for row in tickets.values())
        ledger = self.store.rows(self.ledger.name).values()
        held.update(row["source"] for row in ledger if row.get("ticket") not in ("", "*"))
        return held

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
        for entry in self.ledger_entries():
            keys.add(entry.key)
            if entry.kind == "answered":
                keys.add(alert_key(entry.source, entry.ticket, entry.cycle, "new"))
        for row in self.store.rows(self.tickets.name).values():
            keys.add(alert_key(row["source"], row["id"], row["waiting_since"], "new"))
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
            if alert.kind == "summary":
                # the tickets it announces owe no ``new`` alert: their rows record that
                # (see _all_ledger_keys), as a ``new`` alert's own ticket row does
                self._ledger_keys.update([new_alert_key(w.ticket) for w in alert.tickets])
            elif alert.kind == "new":
                # the alert's own ticket knows its key and cycle without taking the key apart
                ticket = alert.tickets[0].ticket if alert.tickets else None
                key = ticket.key if ticket else ticket_key(alert.source, alert.ticket)
                doc_id = self._index.get(key)
                row = rows.get(str(doc_id)) if doc_id is not None else None
                cycle = ticket.cycle if ticket else cycle_of(alert.key)
                if row is not None and row["waiting_since"] == cycle:
                    continue  # implied by the ticket's row (see _all_ledger_keys)
            docs.append(ledger_row(alert))
        if docs:
            self.ledger.insert_multiple(docs)
        return fresh

    def ledger_entries(self, since: datetime | None = None) -> list[LedgerEntry]:
        """The ledger's entries (recorded at ``since`` or later), oldest first."""
        entries = [LedgerEntry.of(row) for row in self.store.rows(self.ledger.name).values()]
        if since is not None:
            entries = [e for e in entries if e.at >= since]
        return sorted(entries, key=lambda e: e.at)

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
            and (doc.get("source"), doc.get("ticket"), cycle_of(doc["key"])) not in waiting
        ]
        finished = [
            int(doc_id)
            for doc_id, doc in self.store.rows(self.outbox.name).items()
            if doc.get("created_at", "") < cutoff
            and (doc.get("delivered_at") or doc.get("failed_at") or doc.get("cancelled_at"))
        ]
        if finished:
            self.outbox.remove(doc_ids=finished)
            self._outbox_keys = self._outbox_index()
        if old:
            removed = self.ledger.remove(doc_ids=old)
            self._ledger_keys = self._all_ledger_keys()
            return len(removed)
        return 0

    # ------------------------------------------------------------------ outbox

    def _outbox_index(self) -> dict[str, int]:
        return {
            row["key"]: int(doc_id) for doc_id, row in self.store.rows(self.outbox.name).items()
        }

    def enqueue(self, key: str, message: dict[str, Any], now: datetime) -> bool:
        """Put a message in the durable outbox once per ``key``; False if already there."""
        if key in self._outbox_keys:
            return False
        record = outbox_row(key, message, now)
        (doc_id,) = self.outbox.insert_multiple([record])
        self._outbox_keys[key] = doc_id
        return True

    def pending(self) -> list[OutboxEntry]:
        """Outbox messages neither delivered, given up nor cancelled, oldest first."""
        return [e for e in self.outbox_entries() if e.open]

    def outbox_entries(self, prefix: str = "") -> list[OutboxEntry]:
        """Every outbox message whose key starts with ``prefix``, oldest first."""
        rows = self.store.rows(self.outbox.name).values()
        found = [OutboxEntry.of(row) for row in rows if row["key"].startswith(prefix)]
        return sorted(found, key=lambda e: e.created_at)

    def outbox_entry(self, key: str) -> OutboxEntry | None:
        doc_id = self._outbox_keys.get(key)
        row = self.store.rows(self.outbox.name).get(str(doc_id)) if doc_id is not None else None
        return OutboxEntry.of(row) if row else None

    def update_outbox(self, key: str, **fields: Any) -> None:
        doc_id = self._outbox_keys[key]
        self.outbox.update(
            {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()},
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
        self.set_meta("muted_until", iso(until))

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
