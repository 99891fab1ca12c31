"""The agent attaches the quiet rules' decision to every alert it publishes (so the tray and the
headless notifier agree): held while the desktop says do-not-disturb, one summary when back,
VIP tickets straight to the first escalation level. A fake clock and fake presence facts."""

from __future__ import annotations

from agent.model import Ticket, notification_text
from agent.presence import Presence
from tests.test_engine import harness, make_config  # harness: the fixture (__all__)

__all__ = ["harness"]


def ticket(clock, tid: str, **kw) -> Ticket:
    now = clock.now()
    return Ticket("A", tid, f"Subject {tid}", now, now, **kw)


def test_held_in_do_not_disturb_then_one_summary(harness, clock) -> None:
    h = harness()
    desk = {"dnd": True}
    h.agent.quiet.presence = lambda: Presence(clock.now(), dnd=desk["dnd"])
    h.sources["A"].tickets = [ticket(clock, str(i)) for i in range(3)]
    h.start()
    h.settle()
    (first,) = [a for a in h.alerts if a.kind == "summary"]  # the first sync's one alert
    assert first.hold == "do not disturb"
    h.sources["A"].tickets.append(ticket(clock, "3"))
    h.advance(11)  # past the 10 s interval and its jitter (±5 %)
    h.settle()
    (new,) = [a for a in h.alerts if a.kind == "new"]
    assert new.hold == "do not disturb"
    assert notification_text(h.alerts) is None  # nothing pops up
    assert h.agent.status.waiting == 4  # the badge keeps counting
    desk["dnd"] = False
    h.advance(1)
    summary = [a for a in h.alerts if a.kind == "while_away"]
    assert [a.subject for a in summary] == ["While do-not-disturb was on: 4 new"]
    h.advance(1)
    assert len([a for a in h.alerts if a.kind == "while_away"]) == 1


def test_without_presence_everything_rings(harness, clock) -> None:
    h = harness()
    h.sources["A"].tickets = [ticket(clock, "1")]
    h.start()
    h.settle()
    assert [(a.kind, a.hold) for a in h.alerts] == [("new", "")]


def test_vip_ticket_escalates_at_once_with_its_sound(harness, clock) -> None:
    config = make_config(
        vip=[{"domain": "acme.com", "sound": "bell"}],
        escalation={"levels": [{"after": "1h", "notify": ["owner-desktop"]}]},
    )
    h = harness(config)
    h.sources["A"].tickets = [ticket(clock, "0")]  # the first sync
    h.start()
    h.settle()
    h.sources["A"].tickets += [
        ticket(clock, "1", requester_email="ann@acme.com"),
        ticket(clock, "2", requester_email="bob@else.com"),
    ]
    h.advance(11)  # past the 10 s interval and its jitter (±5 %)
    h.settle()
    escalated = [(a.ticket, a.level, a.sound) for a in h.alerts if a.kind == "escalated"]
    assert escalated == [("1", 0, "bell")]
    new = {a.ticket: a.sound for a in h.alerts if a.kind == "new" and a.ticket != "0"}
    assert new == {"1": "bell", "2": ""}
    assert h.agent.status.pinned  # escalated tickets are shown first


def test_the_status_says_while_notifications_and_sounds_are_held(harness, clock) -> None:
    """Nothing told a person that Ticketbell was holding its notifications and sounds in
    do-not-disturb: the badge counted on in silence. The status says why while it lasts (the
    tray's tooltip shows it), and its subscribers hear when it ends, with nothing else new."""
    h = harness()
    desk = {"dnd": True}
    h.agent.quiet.presence = lambda: Presence(clock.now(), dnd=desk["dnd"])
    h.sources["A"].tickets = [ticket(clock, "1")]
    h.start()
    h.settle()
    assert h.agent.status.held == "do not disturb"
    assert h.statuses[-1].held == "do not disturb"
    desk["dnd"] = False
    h.advance(1)
    assert h.agent.status.held == ""
    assert h.statuses[-1].held == ""
