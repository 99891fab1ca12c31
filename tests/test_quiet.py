"""agent.quiet: do-not-disturb and away, the summary when back, the noise budget, VIP customers
and sounds — with a fake clock and fake presence facts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agent import config as cfg
from agent.config import ConfigError
from agent.model import Alert, DueState, Ticket, WaitingTicket, notification_text
from agent.presence import Presence
from agent.quiet import (
    GATHERED,
    INTERRUPTING,
    WHILE_AWAY,
    Quiet,
    hold_reason,
    sound_for,
    vip_escalations,
    vip_rule,
)
from agent.storage import alert_key

UTC = timezone.utc
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def conf(**sections) -> cfg.Config:
    data = {"sources": [{"name": "S", "kind": "demo"}], **sections}
    return cfg.from_dict(data)


def waiting(tid: str = "1", priority: str = "", **kw) -> WaitingTicket:
    t = Ticket("S", tid, f"Subject {tid}", T0, T0, priority=priority, **kw)
    return WaitingTicket(t, T0 + timedelta(hours=2), DueState.FINE, T0)


def alert(kind: str, tid: str = "1", priority: str = "", at: datetime = T0, **kw) -> Alert:
    w = waiting(tid, priority, **kw)
    key = alert_key("S", tid, w.ticket.cycle, kind)
    return Alert(kind, at, key, "S", tid, w.ticket.subject, tickets=(w,))


class Desk:
    """Fake presence facts, changed by the test; each look is "seen now"."""

    def __init__(self) -> None:
        self.now = T0
        self.dnd: bool | None = None
        self.idle: float | None = 0.0
        self.locked: bool | None = False

    def __call__(self) -> Presence:
        return Presence(self.now, self.dnd, self.locked, self.idle)


@pytest.fixture
def desk() -> Desk:
    return Desk()


def shown(alerts: list[Alert]) -> list[str]:
    """The kinds that pop up or sound ("answered" does neither, held or not)."""
    return [a.kind for a in alerts if not a.hold and a.kind in INTERRUPTING]


def test_do_not_disturb_holds_banners_and_sound_but_overdue_breaks_through(desk: Desk) -> None:
    quiet, c = Quiet(desk), conf()
    desk.dnd = True
    out = quiet.decide([alert("new", "1"), alert("overdue", "2"), alert("due_soon", "3")], c, T0)
    assert {a.kind: a.hold for a in out} == {
        "new": "do not disturb",
        "overdue": "",
        "due_soon": "do not disturb",
    }
    # what the tray and the headless notifier show: only the overdue one
    title, _ = notification_text(out)
    assert title.startswith("1 overdue ticket")
    assert notification_text([a for a in out if a.kind != "overdue"]) is None


def test_away_after_idle_and_locked_screen(desk: Desk) -> None:
    rules = conf(quiet={"away_after": "15m"}).quiet
    desk.idle = 14 * 60
    assert hold_reason(desk(), rules, T0) == ""
    desk.idle = 15 * 60
    assert hold_reason(desk(), rules, T0) == "away"
    desk.idle, desk.locked = 0, True
    assert hold_reason(desk(), rules, T0) == "away"
    # facts nobody has refreshed for minutes are not believed: ring rather than stay silent
    assert hold_reason(desk(), rules, T0 + timedelta(minutes=5)) == ""
    assert hold_reason(None, rules, T0) == ""
    assert hold_reason(desk(), conf(quiet={"follow_desktop": False}).quiet, T0) == ""


def test_back_gives_one_summary_never_the_flood(desk: Desk) -> None:
    quiet, c = Quiet(desk), conf()
    desk.idle = 11 * 60
    held = quiet.decide([alert("new", str(i)) for i in range(3)], c, T0)
    desk.now = T0 + timedelta(minutes=20)
    held += quiet.decide(
        [alert("overdue", "9"), alert("answered", "4"), alert("answered", "5")], c, desk.now
    )
    assert shown(held) == ["overdue"]  # breaks through; the rest waits in the badge
    desk.idle = 2
    desk.now = T0 + timedelta(minutes=40)
    back = quiet.decide([], c, desk.now)
    assert [(a.kind, a.subject) for a in back] == [
        (WHILE_AWAY, "While you were away: 3 new, 1 overdue, 2 answered")
    ]
    assert notification_text(back)[0] == "While you were away: 3 new, 1 overdue, 2 answered"
    assert quiet.decide([], c, desk.now + timedelta(seconds=30)) == []  # once


def test_nothing_happened_while_away_means_no_summary(desk: Desk) -> None:
    quiet, c = Quiet(desk), conf()
    desk.dnd = True
    assert quiet.decide([], c, T0) == []
    desk.dnd, desk.now = False, T0 + timedelta(hours=1)
    assert quiet.decide([], c, desk.now) == []


def test_do_not_disturb_summary_says_so(desk: Desk) -> None:
    quiet, c = Quiet(desk), conf()
    desk.dnd = True
    quiet.decide([alert("new")], c, T0)
    desk.dnd = False
    (summary,) = quiet.decide([], c, T0 + timedelta(minutes=1))
    assert summary.subject == "While do-not-disturb was on: 1 new"


def test_break_through_is_configurable(desk: Desk) -> None:
    c = conf(quiet={"break_through": ["urgent", "vip"]}, vip=[{"domain": "acme.com"}])
    quiet = Quiet(desk)
    desk.dnd = True
    out = quiet.decide(
        [
            alert("overdue", "1"),
            alert("new", "2", "urgent"),
            alert("new", "3", requester_email="boss@acme.com"),
        ],
        c,
        T0,
    )
    assert [(a.ticket, a.hold) for a in out] == [("1", "do not disturb"), ("2", ""), ("3", "")]


def test_unknown_break_through_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"quiet\.break_through\[0\]: 'lunch' is not"):
        conf(quiet={"break_through": ["lunch"]})


def test_noise_budget_gathers_low_and_normal_arrivals(desk: Desk) -> None:
    c = conf(quiet={"max_interruptions": 3, "gather_every": "5m"})
    quiet = Quiet(desk)
    now = T0
    for i in range(3):  # three notifications this hour: the budget
        assert shown(quiet.decide([alert("new", f"n{i}")], c, now)) == ["new"]
        now += timedelta(minutes=1)
    gathered = quiet.decide([alert("new", "low", "low"), alert("new", "n", "normal")], c, now)
    assert [a.hold for a in gathered] == ["gathered", "gathered"]
    # urgent, overdue and VIP come at once, budget or not
    at_once = quiet.decide([alert("new", "u", "urgent"), alert("overdue", "o")], c, now)
    assert shown(at_once) == ["new", "overdue"]
    # a few minutes later: one notification for what was gathered
    assert shown(quiet.decide([], c, now + timedelta(minutes=4))) == []
    (flush,) = quiet.decide([], c, now + timedelta(minutes=5))
    assert flush.kind == GATHERED and not flush.hold
    assert flush.subject.startswith("2 new tickets")
    assert flush.message == "Subject low\nSubject n"
    assert notification_text([flush])[0].startswith("2 new tickets")


def test_budget_frees_up_after_an_hour(desk: Desk) -> None:
    c = conf(quiet={"max_interruptions": 1})
    quiet = Quiet(desk)
    quiet.decide([alert("new", "1")], c, T0)
    assert [a.hold for a in quiet.decide([alert("new", "2")], c, T0 + timedelta(minutes=59))] == [
        "gathered"
    ]
    later = quiet.decide([alert("new", "3")], c, T0 + timedelta(minutes=61))
    assert "new" in shown(later)


def test_no_limit_with_zero(desk: Desk) -> None:
    c = conf(quiet={"max_interruptions": 0})
    quiet = Quiet(desk)
    for i in range(50):
        assert shown(quiet.decide([alert("new", str(i))], c, T0 + timedelta(seconds=i))) == ["new"]


# --------------------------------------------------------------------------- VIP and sounds


VIPS = [
    {"email": "ceo@bigco.com", "sound": "bell"},
    {"domain": "acme.com", "window": "30m"},
    {"organization": "Globex", "escalate": False},
]


@pytest.mark.parametrize(
    ("who", "matched"),
    [
        ({"requester_email": "CEO@BigCo.com"}, 0),
        ({"requester_email": "intern@bigco.com"}, None),
        ({"requester_email": "ann@acme.com"}, 1),
        ({"requester_email": "ann@eu.acme.com"}, 1),  # a subdomain
        ({"requester_email": "ann@notacme.com"}, None),
        ({"requester": "ann@acme.com"}, 1),  # a requester that is an address
        ({"organization": "globex"}, 2),
        ({"requester": "Globex"}, None),  # a name is not an organisation
    ],
)
def test_vip_rules_match_email_domain_organisation(who, matched) -> None:
    c = conf(vip=VIPS)
    rule = vip_rule(waiting(**who).ticket, c.vips)
    assert rule == (None if matched is None else c.vips[matched])


def test_vip_rule_needs_someone_to_match() -> None:
    with pytest.raises(ConfigError, match=r"vip\[0\]: matches nobody"):
        conf(vip=[{"window": "10m"}])
    with pytest.raises(ConfigError, match=r"vip\[0\]\.email: 'acme.com' is not an email"):
        conf(vip=[{"email": "acme.com"}])


def test_vip_goes_straight_to_the_first_escalation_level() -> None:
    c = conf(vip=VIPS, escalation={"levels": [{"after": "30m", "notify": ["owner-desktop"]}]})
    tickets = [
        waiting("1", requester_email="ann@acme.com"),
        waiting("2", requester_email="bob@else.com"),
        waiting("3", organization="Globex"),  # escalate = false
    ]
    (owed,) = vip_escalations(tickets, c, T0, done=set())
    assert (owed.kind, owed.ticket, owed.level) == ("escalated", "1", 0)
    assert vip_escalations(tickets, c, T0, done={owed.key}) == []
    assert vip_escalations(tickets, conf(vip=VIPS), T0, set()) == []  # no levels: nobody to tell


def test_vip_window_is_their_own() -> None:
    from agent.policy import deadline, evaluate
    from agent.queue import QueuedTicket

    c = conf(vip=VIPS, windows={"default": "2h"})
    vip = waiting("1", requester_email="ann@acme.com").ticket
    other = waiting("2", requester_email="bob@else.com").ticket
    assert deadline(vip, c).due_at == T0 + timedelta(minutes=30)
    assert deadline(other, c).due_at == T0 + timedelta(hours=2)
    got = evaluate([QueuedTicket(vip, T0), QueuedTicket(other, T0)], c, T0)
    assert [(w.ticket.id, w.due_at - T0) for w in got] == [
        ("1", timedelta(minutes=30)),
        ("2", timedelta(hours=2)),
    ]


def test_sound_per_vip_priority_and_source(desk: Desk) -> None:
    c = conf(
        vip=VIPS,
        alerts={"priority_sounds": {"urgent": "urgent", "high": "knock"}},
        sources=[{"name": "S", "kind": "demo", "sound": "bell", "accent": "#e5533d"}],
    )
    assert sound_for(alert("new", "1", requester_email="ceo@bigco.com"), c) == "bell"
    assert sound_for(alert("new", "2", "high"), c) == "knock"
    assert sound_for(alert("new", "3", "low"), c) == "bell"  # the helpdesk's own
    assert sound_for(alert("new", "4", requester_email="x@acme.com"), c) == "urgent"  # VIP default
    assert sound_for(alert("new", "5"), conf()) == ""  # by its kind, as [alerts] says
    assert [a.sound for a in Quiet(desk).decide([alert("new", "2", "high")], c, T0)] == ["knock"]
    assert c.sources[0].accent == "#e5533d"


def test_bad_sound_and_colour_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.accent: 'red' is not a colour"):
        conf(sources=[{"name": "S", "kind": "demo", "accent": "red"}])
    with pytest.raises(ConfigError, match=r"sources\[0\]\.sound: must be \"chime\""):
        conf(sources=[{"name": "S", "kind": "demo", "sound": "trumpet"}])
    with pytest.raises(ConfigError, match=r"alerts\.priority_sounds\.asap: 'asap' is not"):
        conf(alerts={"priority_sounds": {"asap": "bell"}})
    wav = tmp_path / "ding.wav"
    wav.write_bytes(b"RIFF")
    assert conf(sources=[{"name": "S", "kind": "demo", "sound": str(wav)}]).sources[0].sound == (
        str(wav)
    )


def test_following_the_desktop_looks_before_the_agent_starts_and_wakes_it_on_change() -> None:
    from agent.quiet import follow_desktop

    facts = {"dnd": True}
    woken: list[int] = []
    quiet = Quiet()
    watcher = follow_desktop(
        quiet, lambda: woken.append(1), probe=lambda now: Presence(now, dnd=facts["dnd"])
    )
    try:
        # the first look is done when follow_desktop returns: the first poll is held
        assert quiet.presence() is not None and quiet.presence().dnd is True
        assert woken == [1]
        watcher.every = 0.01
        facts["dnd"] = False
        watcher.look_now()
        assert quiet.presence().dnd is False
        assert woken == [1, 1]  # back: the agent reads the helpdesks at once
    finally:
        watcher.stop()


def test_the_tray_starts_its_agent_after_the_first_look_without_waiting_for_it() -> None:
    """The tray's event loop runs while the desktop is looked at (a desktop service can take
    up to FIRST_LOOK_WAIT); its agent starts once the look is done, and goes by it."""
    import threading

    from agent.quiet import follow_desktop

    answer = threading.Event()
    started: list[Presence | None] = []
    quiet = Quiet()

    def slow_desktop(now: datetime) -> Presence:
        answer.wait(5)
        return Presence(now, dnd=True)

    looked = threading.Event()
    watcher = follow_desktop(
        quiet,
        lambda: None,
        probe=slow_desktop,
        first_look=lambda: (started.append(quiet.presence()), looked.set()),
    )
    try:
        assert started == []  # returned before the desktop answered
        answer.set()
        assert looked.wait(5)
        assert started[0] is not None and started[0].dnd is True
    finally:
        watcher.stop()


def test_a_tray_that_quits_before_the_first_look_is_not_called_back() -> None:
    """Ticketbell told to stop while the desktop is still being looked at: the start that
    waited for the look is not made after the stop (it came after the app had torn down what
    it uses, and crashed it)."""
    import threading

    from agent.quiet import follow_desktop

    answer = threading.Event()
    called: list[int] = []

    def hanging_desktop(now: datetime) -> Presence:
        answer.wait(10)
        return Presence(now)

    watcher = follow_desktop(
        Quiet(), lambda: None, probe=hanging_desktop, first_look=lambda: called.append(1)
    )
    try:
        watcher.stop(timeout=0.2)  # the look still hangs
        # the thread that would start the agent has ended, without calling it (it waited
        # FIRST_LOOK_WAIT, then called it whatever had happened meanwhile)
        assert not [t for t in threading.enumerate() if t.name == "ticketbell-first-look"]
        assert called == []
    finally:
        answer.set()


def test_who_the_customer_is_survives_a_restart(tmp_path) -> None:
    from agent.model import Snapshot
    from agent.queue import LocalQueue

    vip = Ticket("S", "1", "Help", T0, T0, requester_email="ann@acme.com", organization="Acme")
    plain = Ticket("S", "2", "Help", T0, T0)
    q = LocalQueue(tmp_path)
    q.apply(Snapshot("S", (vip, plain), T0), T0)
    q.close()
    q = LocalQueue(tmp_path)
    try:
        kept = {w.ticket.id: w.ticket for w in q.waiting()}
        assert (kept["1"].requester_email, kept["1"].organization) == ("ann@acme.com", "Acme")
        assert vip_rule(kept["1"], conf(vip=VIPS).vips) == conf(vip=VIPS).vips[1]
        # the same snapshot again changes nothing (no rewrite of every ticket)
        assert not q.apply(Snapshot("S", (vip, plain), T0), T0).changed
    finally:
        q.close()


def test_headless_json_says_what_was_held(caplog) -> None:
    import io
    import json
    import logging

    from agent.commands.headless import EventPrinter

    out = io.StringIO()
    held = Alert("new", T0, "k1", "S", "1", "Printer", hold="do not disturb")
    shown_now = Alert("overdue", T0, "k2", "S", "2", "Refund")
    with caplog.at_level(logging.INFO, logger="ticketbell"):
        EventPrinter(out)((held, shown_now))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["event"], e.get("held")) for e in lines] == [
        ("new", "do not disturb"),
        ("overdue", None),
    ]
    assert "new: S #1 Printer (held: do not disturb)" in caplog.text


def test_headless_log_names_a_source_once(caplog) -> None:
    """`run --headless` logged "summary: Demo helpdesk Demo helpdesk: 10 waiting" and
    "source_down: Desk the team hub is offline since 17:35"."""
    import io
    import logging

    from agent.commands.headless import EventPrinter

    summary = Alert("summary", T0, "s", "Demo helpdesk", message="Demo helpdesk: 10 waiting")
    down = Alert("source_down", T0, "d", "Desk", message="the team hub is offline since 17:35")
    with caplog.at_level(logging.INFO, logger="ticketbell"):
        EventPrinter(io.StringIO())((summary, down))
    assert "summary: Demo helpdesk: 10 waiting\n" in caplog.text
    assert "source_down: Desk: the team hub is offline since 17:35\n" in caplog.text


def test_a_first_syncs_summary_is_held_too(desk: Desk) -> None:
    desk.dnd = True
    (out,) = Quiet(desk).decide(
        [Alert("summary", T0, "s", "S", subject="S: 300 waiting")], conf(), T0
    )
    assert out.hold == "do not disturb"


def test_a_first_sync_while_away_counts_its_new_tickets_in_the_summary(desk: Desk) -> None:
    quiet, c = Quiet(desk), conf()
    desk.dnd = True
    first = Alert("summary", T0, "s", "S", subject="S: 300 waiting", counts=(("new", 300),))
    quiet.decide([first, alert("overdue", "9")], c, T0)
    desk.dnd = False
    (back,) = quiet.decide([], c, T0 + timedelta(minutes=5))
    assert back.subject == "While do-not-disturb was on: 300 new, 1 overdue"


def test_the_summary_when_back_speaks_the_persons_language_and_logs_english() -> None:
    from agent import i18n
    from agent.quiet import Absence, while_away

    away = Absence(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc), "away", new=3, overdue=1)
    with i18n.speaking("de"):
        alert = while_away(away, datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))
    assert alert is not None
    assert alert.subject == "Während Sie weg waren: 3 neu, 1 überfällig"
    assert alert.to_json()["subject"] == "While you were away: 3 new, 1 overdue"
