import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.model import Alert, Snapshot, Ticket
from agent.queue import LocalQueue, alert_key, atomic_write

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def t(i: int, source: str = "S", since: datetime = NOW, **kw) -> Ticket:
    return Ticket(
        source=source, id=str(i), subject=f"Ticket {i}", created_at=since, waiting_since=since, **kw
    )


def snap(tickets, source: str = "S", complete: bool = True) -> Snapshot:
    return Snapshot(source, tuple(tickets), NOW, complete)


def mtime(q: LocalQueue) -> int:
    return q.path.stat().st_mtime_ns


def test_apply_reports_new_updated_unchanged_and_answered(tmp_path, open_queue):
    q = open_queue(tmp_path)
    ch = q.apply(snap([t(1), t(2)]), NOW)
    assert [x.id for x in ch.new] == ["1", "2"]
    q.commit()
    ch = q.apply(snap([t(2), t(3)]), NOW)
    assert [x.id for x in ch.new] == ["3"]
    assert [x.id for x in ch.unchanged] == ["2"]
    assert [x.id for x in ch.answered] == ["1"]
    changed = Ticket("S", "2", "Ticket 2 (edited)", NOW, NOW)
    ch = q.apply(snap([changed, t(3)]), NOW)
    assert [x.subject for x in ch.updated] == ["Ticket 2 (edited)"]
    assert {x.ticket.id for x in q.waiting()} == {"2", "3"}


def test_the_same_tickets_again_with_one_more_and_one_edited(tmp_path, open_queue):
    """A team member gets the very Ticket objects of the last snapshot for the tickets the hub
    did not change: those stay as they were, the others are compared and saved."""
    q = open_queue(tmp_path)
    one, two = t(1), t(2)
    q.apply(snap([one, two]), NOW)
    q.commit()
    edited = Ticket("S", "2", "Ticket 2 (edited)", NOW, NOW)
    ch = q.apply(snap([one, edited, t(3)]), NOW)
    assert ([x.id for x in ch.unchanged], [x.subject for x in ch.updated]) == (
        ["1"],
        [edited.subject],
    )
    assert [x.id for x in ch.new] == ["3"]
    q.commit()
    q.close()
    again = open_queue(tmp_path)
    assert {w.ticket.id: w.ticket.subject for w in again.waiting()} == {
        "1": "Ticket 1",
        "2": "Ticket 2 (edited)",
        "3": "Ticket 3",
    }


def test_one_write_per_snapshot_and_none_when_nothing_changed(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(i) for i in range(500)]), NOW)
    assert not q.path.exists()  # nothing written before commit
    q.commit()
    first = mtime(q)
    time.sleep(0.01)
    ch = q.apply(snap([t(i) for i in range(500)]), NOW + timedelta(minutes=1))
    assert not ch.changed
    q.commit()
    assert mtime(q) == first


def test_sources_do_not_touch_each_others_tickets(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(1, "A")], "A"), NOW)
    q.apply(snap([t(1, "B")], "B"), NOW)
    ch = q.apply(snap([], "A"), NOW)
    assert [x.source for x in ch.answered] == ["A"]
    assert [w.ticket.source for w in q.waiting()] == ["B"]


def test_incomplete_snapshot_does_not_answer_missing_tickets(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(1), t(2)]), NOW)
    ch = q.apply(snap([t(1)], complete=False), NOW)
    assert ch.answered == ()
    assert len(q.waiting()) == 2


def test_a_new_customer_message_after_a_reply_starts_a_new_cycle(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(1)]), NOW)
    q.set_ticket_state("S", "1", acknowledged=True)
    later = NOW + timedelta(hours=1)
    ch = q.apply(snap([t(1, since=later)]), later)
    assert [x.id for x in ch.new] == ["1"]
    (w,) = q.waiting()
    assert not w.acknowledged
    assert w.first_seen == later


def test_restart_keeps_tickets_and_the_ledger(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(1)]), NOW)
    key = alert_key("S", "1", NOW.isoformat(), "new")
    assert [a.key for a in q.record([Alert("new", NOW, key, "S", "1")])] == [key]
    q.set_ticket_state("S", "1", snoozed_until=NOW + timedelta(minutes=30))
    q.close()
    q2 = open_queue(tmp_path)
    assert q2.already(key)
    assert q2.record([Alert("new", NOW, key, "S", "1")]) == []  # not owed twice
    (w,) = q2.waiting()
    assert w.snoozed_until == NOW + timedelta(minutes=30)
    ch = q2.apply(snap([t(1)]), NOW)
    assert ch.new == ()


def test_a_corrupt_file_is_moved_aside_and_the_queue_starts_clean(tmp_path, caplog, open_queue):
    (tmp_path / "queue.json").write_bytes(b'{"tickets": {"1": {"key": ')
    q = open_queue(tmp_path)
    assert q.waiting() == []
    assert q.recovered_from is not None and q.recovered_from.exists()
    assert "moved it aside" in caplog.text
    q.apply(snap([t(1)]), NOW)
    q.close()
    assert [w.ticket.id for w in open_queue(tmp_path).waiting()] == ["1"]


def test_a_file_of_the_wrong_shape_is_treated_as_corrupt(tmp_path, open_queue):
    (tmp_path / "queue.json").write_bytes(b'{"tickets": {"1": {"no": "key"}}}')
    q = open_queue(tmp_path)
    assert q.waiting() == []
    assert q.recovered_from is not None


def test_retention_forgets_old_history_but_not_waiting_tickets(tmp_path, open_queue):
    q = open_queue(tmp_path, retention=timedelta(days=7))
    q.apply(snap([t(1), t(2)]), NOW)
    q.record([Alert("new", NOW, alert_key("S", i, NOW.isoformat(), "new"), "S", i) for i in "12"])
    q.apply(snap([t(2)]), NOW + timedelta(hours=1))  # 1 answered
    q.commit()
    assert q.prune(NOW + timedelta(days=6)) == 0
    removed = q.prune(NOW + timedelta(days=8))
    assert removed == 1  # ticket 1's "answered" entry, which also recorded its "new" alert
    assert q.already(alert_key("S", "2", NOW.isoformat(), "new"))
    assert not q.already(alert_key("S", "1", NOW.isoformat(), "new"))


def test_a_full_disk_keeps_working_from_memory_and_writes_again_later(
    tmp_path, monkeypatch, open_queue
):
    q = open_queue(tmp_path)
    q.apply(snap([t(1)]), NOW)
    q.commit()

    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(q.storage, "write", lambda data: disk_full(None, data))
    q.apply(snap([t(1), t(2)]), NOW)
    assert q.commit() is False
    assert "No space left" in q.write_error
    assert len(q.waiting()) == 2
    monkeypatch.undo()
    assert q.commit() is True
    q.close()
    assert len(open_queue(tmp_path).waiting()) == 2


def test_a_second_process_cannot_write_the_same_queue(tmp_path, open_queue):
    q = open_queue(tmp_path)
    assert q.writable
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            from pathlib import Path
            from agent.queue import LocalQueue
            print(LocalQueue(Path({str(tmp_path)!r})).writable)
        """),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert other.stdout.strip() == "False"
    q.close()


KILL_CHILD = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from agent.model import Snapshot, Ticket
    from agent.queue import LocalQueue

    NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    q = LocalQueue(Path(sys.argv[1]))
    n = int(q.get_meta("n", 0))
    print("ready", flush=True)
    while True:
        n += 1
        size = 2000 + (n * 7919) % 3000
        tickets = [Ticket("S", f"{n}-{i}", "x" * 40, NOW, NOW) for i in range(size)]
        q.apply(Snapshot("S", tuple(tickets), NOW), NOW)
        q.set_meta("n", n)
        q.commit()
        print(n, flush=True)
""")


def test_a_kill_at_any_moment_leaves_the_old_or_the_new_state(tmp_path, open_queue):
    rng = random.Random(20261123)
    script = tmp_path / "child.py"
    script.write_text(KILL_CHILD, encoding="utf-8")
    data = tmp_path / "data"
    committed = 0
    for _ in range(15):
        with subprocess.Popen(
            [sys.executable, str(script), str(data)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        ) as child:  # closes its pipe
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 0.5))
            child.send_signal(signal.SIGKILL)
            child.wait()
            printed = child.stdout.read().split()
        committed = int(printed[-1]) if printed else committed
        q = open_queue(data)
        assert q.recovered_from is None, "the queue file was damaged by a kill"
        n = int(q.get_meta("n", 0))
        # the last state reported as committed, or the one being written when killed
        assert n in (committed, committed + 1), (n, committed)
        committed = n
        size = 2000 + (n * 7919) % 3000
        assert {w.ticket.id for w in q.waiting()} == {f"{n}-{i}" for i in range(size)}
        q.close()
    open_queue(data).close()
    assert [p.name for p in data.iterdir() if p.name.endswith(".tmp")] == []


def test_the_in_memory_view_matches_what_a_restart_reads(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.waiting()  # build the in-memory view first, then change things under it
    q.apply(snap([t(1), t(2), t(3)]), NOW)
    q.set_ticket_state("S", "2", acknowledged=True)
    q.waiting()
    later = NOW + timedelta(minutes=5)
    q.apply(snap([t(2), t(3, since=later), Ticket("S", "4", "Four", NOW, NOW)]), later)
    q.apply(snap([t(9, "B")], "B"), later)
    q.close()

    def view(queue):
        return sorted(
            (w.ticket.key, repr(w.ticket), w.first_seen, w.acknowledged, str(w.snoozed_until))
            for w in queue.waiting()
        )

    assert view(q) == view(open_queue(tmp_path))


def test_a_repeated_snapshot_reports_the_same_waiting_tickets_once_each(tmp_path, open_queue):
    q = open_queue(tmp_path)
    listing = [t(1), t(2), t(1)]  # a helpdesk listing ticket 1 on two pages
    assert [x.id for x in q.apply(snap(listing), NOW).new] == ["1", "2"]
    again = q.apply(snap(listing), NOW + timedelta(minutes=1))
    assert not again.changed
    assert [x.id for x in again.waiting] == ["1", "2"]


def test_a_forgotten_source_s_same_snapshot_is_new_again(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(1)]), NOW)
    q.forget_source("S")
    assert [x.id for x in q.apply(snap([t(1)]), NOW).new] == ["1"]
    assert [x.ticket.id for x in q.waiting()] == ["1"]


def test_new_alerts_are_recorded_by_the_ticket_rows_not_a_ledger_entry_each(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(i) for i in range(3)]), NOW)
    keys = [alert_key("S", str(i), NOW.isoformat(), "new") for i in range(3)]
    assert len(q.record([Alert("new", NOW, k, "S", k.split("\x1f")[1]) for k in keys])) == 3
    q.close()
    q2 = open_queue(tmp_path)
    assert q2.ledger_entries() == []  # 10,000 new tickets do not double the file
    assert all(q2.already(k) for k in keys)


def test_a_ticket_leaving_and_returning_in_the_same_cycle_is_not_new_again(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(1)]), NOW)
    key = alert_key("S", "1", NOW.isoformat(), "new")
    q.record([Alert("new", NOW, key, "S", "1")])
    q.apply(snap([]), NOW + timedelta(hours=1))  # moved to pending, say
    q.close()
    q2 = open_queue(tmp_path)
    assert q2.record([Alert("new", NOW, key, "S", "1")]) == []
    assert q2.apply(snap([t(1)]), NOW + timedelta(hours=2)).new  # back in the queue, no alert


#: a queue file as the version before issue 14 wrote it (TinyDB's CachingMiddleware; written by
#: that version's LocalQueue: two tickets, an escalation delivered, ticket 2 answered)
PREVIOUS_VERSION_FILE = (
    '{"tickets":{"1":{"source":"Desk","id":"1","subject":"Refund please","requester":"",'
    '"category":"Billing","priority":"","status":"","created_at":"2026-11-20T06:00:00+00:00",'
    '"waiting_since":"2026-11-20T06:00:00+00:00","due_at":null,'
    '"url":"https://desk.example.com/tickets/1","assignee":"","key":"Desk\\u001f1",'
    '"first_seen":"2026-11-20T09:00:00+00:00","acknowledged":true,"snoozed_until":null}},'
    '"ledger":{"1":{"key":"Desk\\u001f1\\u001f2026-11-20T06:00:00+00:00\\u001fescalated\\u001f0",'
    '"kind":"escalated","source":"Desk","ticket":"1","subject":"Refund please","category":"",'
    '"level":0,"at":"2026-11-20T09:00:00+00:00"},"2":{"key":"Desk\\u001f2\\u001f'
    '2026-11-20T08:00:00+00:00\\u001fanswered","kind":"answered","source":"Desk","ticket":"2",'
    '"cycle":"2026-11-20T08:00:00+00:00","category":"","assignee":"","subject":"Cannot log in",'
    '"at":"2026-11-20T09:30:00+00:00"}},"outbox":{"1":{"key":"Desk\\u001f1\\u001f'
    '2026-11-20T06:00:00+00:00\\u001fescalated\\u001f0\\u001fmailto://owner@example.com",'
    '"created_at":"2026-11-20T09:00:00+00:00","attempts":1,'
    '"next_attempt":"2026-11-20T09:00:00+00:00","sending_since":null,'
    '"delivered_at":"2026-11-20T09:00:00+00:00","failed_at":null,"cancelled_at":null,'
    '"last_error":"","kind":"escalation","target":"mailto://owner@example.com","source":"Desk",'
    '"ticket":"1","cycle":"2026-11-20T06:00:00+00:00","level":0,"title":"Overdue","body":"text"}},'
    '"meta":{"1":{"name":"last_reminder_at","value":"2026-11-20T09:00:00+00:00"}}}'
)


def test_a_queue_file_of_the_previous_version_loads_whole(tmp_path, open_queue):
    (tmp_path / "queue.json").write_text(PREVIOUS_VERSION_FILE, encoding="utf-8")
    q = open_queue(tmp_path)
    assert q.recovered_from is None
    (waiting,) = q.waiting()
    assert (waiting.ticket.id, waiting.ticket.category, waiting.acknowledged) == (
        "1",
        "Billing",
        True,
    )
    cycle1, cycle2 = "2026-11-20T06:00:00+00:00", "2026-11-20T08:00:00+00:00"
    for key in (
        alert_key("Desk", "1", cycle1, "new"),  # implied by the ticket's row
        alert_key("Desk", "1", cycle1, "escalated", 0),
        alert_key("Desk", "2", cycle2, "answered"),
        alert_key("Desk", "2", cycle2, "new"),  # implied by the answered entry
    ):
        assert q.already(key), key
    (entry,) = q.outbox_entries()
    assert entry.delivered_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC) and not q.pending()
    assert q.get_meta("last_reminder_at") == "2026-11-20T09:00:00+00:00"
    # and it goes on: a new ticket is added next to the old rows, and all of it is saved
    second = Ticket(source="Desk", id="3", subject="New", created_at=NOW, waiting_since=NOW)
    first = q.waiting()[0].ticket
    changes = q.apply(Snapshot("Desk", (first, second), NOW), NOW)
    assert [x.id for x in changes.new] == ["3"]
    q.close()
    again = open_queue(tmp_path)
    assert sorted(w.ticket.id for w in again.waiting()) == ["1", "3"]
    assert again.waiting()[0].acknowledged or again.waiting()[1].acknowledged
    again.close()


def test_mute_and_pins_are_kept_across_a_restart(tmp_path, open_queue):
    q = open_queue(tmp_path)
    q.apply(snap([t(1), t(2)]), NOW)
    q.set_muted_until(NOW + timedelta(hours=1))
    q.set_pinned(t(1).key, True)
    q.set_pinned(t(2).key, True)
    q.set_pinned("S\x1fgone", True)  # a ticket not in the queue is not pinned
    q.close()
    q = open_queue(tmp_path)
    assert q.muted_until(NOW) == NOW + timedelta(hours=1)
    assert q.muted_until(NOW + timedelta(hours=2)) is None  # over by itself
    assert q.pinned() == (t(2).key, t(1).key)  # newest first
    q.apply(snap([t(1)]), NOW)  # ticket 2 answered: no longer pinned
    assert q.pinned() == (t(1).key,)
    q.set_pinned(t(1).key, False)
    q.set_muted_until(None)
    assert q.pinned() == () and q.muted_until(NOW) is None
    q.close()


def test_alert_and_outbox_keys_keep_their_stored_form():
    from agent.storage import AlertKey, OutboxKey

    stored = "Desk\x1f1\x1f2026-11-20T06:00:00+00:00\x1fescalated\x1f1r2"
    key = AlertKey.decode(stored)
    assert (key.source, key.ticket, key.kind, key.level, key.repeat) == (
        "Desk",
        "1",
        "escalated",
        "1r2",
        2,
    )
    assert key.encode() == stored
    message = OutboxKey.decode(stored + "\x1fmailto://owner@example.com")
    assert message.alert == key and message.target == "mailto://owner@example.com"
    digest = OutboxKey.decode("*\x1f*\x1f2026-11-20\x1fdigest\x1fntfy://topic")
    assert (digest.alert.kind, digest.alert.level, digest.target) == ("digest", "", "ntfy://topic")
    assert alert_key("S", "1", "c", "new") == "S\x1f1\x1fc\x1fnew"
    with pytest.raises(ValueError, match="not an alert key"):
        AlertKey.decode("S\x1f1")


def test_a_source_is_held_from_its_first_snapshot_on_across_restarts(tmp_path, open_queue):
    q = open_queue(tmp_path)
    assert not q.has_held("S")  # its next snapshot is its first sync
    q.apply(snap([]), NOW)  # a first sync that finds nothing still is the first sync
    assert q.has_held("S") and not q.has_held("T")
    q.close()
    q = open_queue(tmp_path)
    assert q.has_held("S")
    q.forget_source("S")  # removed from the config: added again, it syncs for the first time
    assert not q.has_held("S")


def test_a_queue_saved_before_sources_were_marked_holds_the_sources_of_its_rows(
    tmp_path, open_queue
):
    q = open_queue(tmp_path)
    q.apply(snap([t(1)]), NOW)
    q.apply(snap([t(1, source="T")], source="T"), NOW)
    q.apply(snap([], source="T"), NOW)  # T's ticket answered: only the ledger remembers it
    q.set_meta("held", [])  # as a queue saved by an older Ticketbell
    # a source that was down before it was ever read has still to make its first sync
    q.record([Alert("source_down", NOW, alert_key("U", "*", NOW.isoformat(), "source_down"), "U")])
    q.close()
    q = open_queue(tmp_path)
    assert q.has_held("S") and q.has_held("T") and not q.has_held("U")


def test_a_write_replaces_a_leftover_temporary_file_and_never_writes_through_a_link(
    tmp_path: Path,
) -> None:
    target = tmp_path / "queue.json"
    temp = tmp_path / f".queue.json.{os.getpid()}.tmp"  # the name atomic_write writes first
    temp.write_bytes(b"left by a crash")
    atomic_write(target, b"first")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not Ticketbell's")
    temp.symlink_to(elsewhere)  # planted under the temporary name
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert elsewhere.read_bytes() == b"not Ticketbell's"
    assert not temp.exists() and not temp.is_symlink()
    assert target.stat().st_mode & 0o777 == 0o600
