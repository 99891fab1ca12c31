"""The tray's tooltip and ticket menu, drawn from a given Status, and what its entries do."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from PySide6.QtCore import QSettings, QUrl
from PySide6.QtWidgets import QMenu

from agent.config import demo_config, from_dict
from agent.model import DueState, Health, SourceHealth, Status, Ticket, WaitingTicket
from ui.badge import BadgeState, badge_state
from ui.sound import SoundPlayer
from ui.tray import Tray, plain, safe_ticket_url

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SOURCE = "Demo helpdesk"


def waiting(
    tid: str,
    due_in: float,
    *,
    category: str = "Billing",
    subject: str = "",
    state: str = "fine",
    age: float = 30,
    assignee: str = "",
    source: str = SOURCE,
    url: str | None = None,
) -> WaitingTicket:
    t = Ticket(
        source=source,
        id=tid,
        subject=subject or f"Ticket {tid}",
        created_at=NOW - timedelta(minutes=age),
        waiting_since=NOW - timedelta(minutes=age),
        category=category,
        url=url if url is not None else f"https://example.com/ticketbell-demo/tickets/{tid}",
        assignee=assignee,
    )
    return WaitingTicket(t, NOW + timedelta(minutes=due_in), DueState(state), NOW)


def status_of(
    tickets: list[WaitingTicket], role: str = "assistant", failing: str = "", notices=()
) -> Status:
    health = Health.FAILING if failing else Health.OK
    src = SourceHealth(SOURCE, "demo", health, failing, waiting=len(tickets))
    return Status(NOW, tuple(tickets), (src,), role, tuple(notices))


class Commands:
    """Records the commands the tray sends to the agent."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def check_now(self, source: str | None = None) -> None:
        self.calls.append(("check_now",))

    def acknowledge(self, source: str, ticket: str, release: bool = False) -> None:
        self.calls.append(("ack", source, ticket))

    def snooze(self, source: str, ticket: str, minutes: float) -> None:
        self.calls.append(("snooze", source, ticket, minutes))

    def mute(self, until: Any) -> None:
        self.calls.append(("mute", until))


@pytest.fixture
def qsettings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_tray(qapp, qsettings):
    made: list[Tray] = []

    def make(role: str = "assistant", tray_available: bool = True, **kw) -> Tray:
        config = demo_config()
        if role == "owner":
            config = from_dict({**config.raw, "role": "owner"})
        opened: list[QUrl] = []
        sound = SoundPlayer(qsettings, config.alerts)
        tray = Tray(
            Commands(),
            config,
            sound,
            tray_available=tray_available,
            opener=lambda url: opened.append(url) or True,
            notify_fallback=lambda title, body: opened.append(QUrl(f"notify:{title}")),
            clock=lambda: NOW,
            screen_height=kw.pop("screen_height", lambda: 2000),
            **kw,
        )
        tray.opened = opened  # type: ignore[attr-defined]
        made.append(tray)
        return tray

    yield make
    for tray in made:
        tray.hide()


def entries(menu: QMenu) -> list[str]:
    return [a.text() for a in menu.actions() if a.text()]


def ticket_actions(menu: QMenu) -> list[Any]:
    """The ticket rows: each a submenu whose action carries the ticket's key."""
    return [a for a in menu.actions() if a.data()]


def row_entry(row: Any, text: str) -> Any:
    """The entry ``text`` of a ticket row's submenu."""
    return next(a for a in row.menu().actions() if a.text() == text)


def menu_entry(menu: QMenu, *path: str) -> Any:
    """The entry at ``path`` (submenu titles, then the entry), matching each text's start."""
    action = None
    for part in path:
        action = next(a for a in menu.actions() if a.text().startswith(part))
        menu = action.menu() if action.menu() else menu
    return action


def test_menu_sorted_by_due_time_grouped_by_category(make_tray) -> None:
    tray = make_tray()
    tray.show_status(
        status_of(
            [
                waiting("1", 50, category="Sales"),
                waiting("2", 10, category="Billing"),
                waiting("3", 5, category="Sales", state="due_soon"),
                waiting("4", 40, category="Billing"),
            ]
        )
    )
    tray.rebuild_menu()
    texts = entries(tray.menu)
    assert texts[0] == "4 waiting"
    # groups in a fixed (alphabetical) order, so they keep their place; tickets by due time
    assert texts.index("Billing") < texts.index("Sales")
    keys = [a.data().split("\x1f")[1] for a in ticket_actions(tray.menu)]
    assert keys == ["2", "4", "3", "1"]
    assert "#3  Ticket 3  ·  5 min left" in texts  # its number tells equal subjects apart
    for item in ("Check now", "Mute", "Group tickets by", "Settings…", "Open log folder", "Quit"):
        assert item in texts


def test_group_by_source(make_tray) -> None:
    tray = make_tray()
    tray.show_status(
        status_of(
            [
                waiting("1", 50, category="Sales"),
                waiting("2", 10, category="Billing", source="Other desk"),
            ]
        )
    )
    tray.set_group_by("source")
    texts = entries(tray.menu)
    assert texts.index(SOURCE) < texts.index("Other desk")
    assert "Sales" not in texts


def test_at_most_twenty_then_n_more(make_tray) -> None:
    tray = make_tray()
    tray.show_status(status_of([waiting(str(i), i + 1) for i in range(27)]))
    tray.rebuild_menu()
    assert len(ticket_actions(tray.menu)) == 20
    more = [a for a in tray.menu.actions() if a.text() == "7 more…"]
    assert more
    more[0].trigger()  # opens the window of every waiting ticket
    assert tray.ticket_list is not None and tray.ticket_list.isVisible()
    assert len(tray.ticket_list.visible_tickets()) == 27


def test_owner_sees_overdue_first_with_assignee(make_tray) -> None:
    tray = make_tray(role="owner")
    tray.show_status(
        status_of(
            [
                waiting("1", 3, category="Billing"),
                waiting("2", -20, category="Sales", state="overdue", assignee="Anna"),
                waiting("3", -5, category="Billing", state="overdue"),
            ],
            role="owner",
        )
    )
    tray.rebuild_menu()
    texts = entries(tray.menu)
    assert texts[0] == "3 waiting, 2 overdue"
    assert texts[1] == "Overdue"
    keys = [a.data().split("\x1f")[1] for a in ticket_actions(tray.menu)]
    assert keys == ["2", "3", "1"]
    assert texts[2].endswith("overdue by 20 min  ·  Anna")
    assert texts[3].endswith("overdue by 5 min  ·  unassigned")


def test_escalated_ticket_goes_on_top_with_a_notification(make_tray) -> None:
    from agent.model import Alert

    tray = make_tray(role="owner")
    tickets = [waiting("1", -60, state="overdue"), waiting("2", -90, state="overdue")]
    tray.show_status(status_of(tickets, role="owner"))
    w = tickets[0]
    alert = Alert(
        "escalated", NOW, "k", SOURCE, "1", w.ticket.subject, "Billing", w.ticket.url, "", 1, (w,)
    )
    tray.show_alerts((alert,))
    texts = entries(tray.menu)
    assert texts[1] == "Escalated"
    assert ticket_actions(tray.menu)[0].data().endswith("\x1f1")
    assert tray.sound.requested == ["urgent"]


def test_clicking_an_entry_opens_its_url(make_tray) -> None:
    tray = make_tray()
    tray.show_status(status_of([waiting("7", 5)]))
    tray.rebuild_menu()
    row_entry(ticket_actions(tray.menu)[0], "Open").trigger()
    assert [u.toString() for u in tray.opened] == ["https://example.com/ticketbell-demo/tickets/7"]


def test_a_ticket_a_team_member_is_on_asks_before_it_opens(make_tray) -> None:
    tray = make_tray()
    asked: list[str] = []
    answer = [False]
    tray.ask = lambda question: asked.append(question) or answer[0]
    claimed = replace(waiting("7", 5), claimed_by="Anna", claimed_at=NOW)
    tray.show_status(status_of([claimed]))
    tray.rebuild_menu()
    row_entry(ticket_actions(tray.menu)[0], "Open").trigger()
    assert asked == ["Anna is on it — open anyway?"]
    assert tray.opened == []
    answer[0] = True
    row_entry(ticket_actions(tray.menu)[0], "Open").trigger()
    assert [u.toString() for u in tray.opened] == ["https://example.com/ticketbell-demo/tickets/7"]


def test_the_owner_sees_who_is_watching_which_categories(make_tray) -> None:
    tray = make_tray("owner")
    watching = (("Anna", ("Billing",)), ("Ben", ()))
    tray.show_status(replace(status_of([waiting("7", 5)], role="owner"), watching=watching))
    tray.rebuild_menu()
    assert "Watching: Anna (Billing), Ben (all)" in entries(tray.menu)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://evil.example.net/tickets/1",
        "https://example.com.evil.net/x",
        "ftp://example.com/x",
        "https://user:pw@example.com/x",
        "https://example.com/\u202etxt.exe",
        "",
    ],
)
def test_clicking_refuses_unsafe_urls(make_tray, url: str) -> None:
    tray = make_tray()
    tray.show_status(status_of([waiting("7", 5, url=url)]))
    tray.rebuild_menu()
    row_entry(ticket_actions(tray.menu)[0], "Open").trigger()
    assert tray.opened == []


def test_url_check_uses_the_sources_own_site() -> None:
    config = from_dict(
        {
            "sources": [
                {"name": "gh", "kind": "github", "repository": "acme/tool"},
                {"name": "fs", "kind": "freescout", "url": "https://help.acme.co.uk/api"},
            ]
        }
    )
    gh, fs = config.sources
    assert safe_ticket_url("https://github.com/acme/tool/issues/3", gh) is not None
    assert safe_ticket_url("https://gitlab.com/acme/tool/issues/3", gh) is None
    assert safe_ticket_url("https://help.acme.co.uk/conversation/5", fs) is not None
    assert safe_ticket_url("https://other.co.uk/conversation/5", fs) is None
    assert safe_ticket_url("https://github.com/x", None) is None


def test_hostile_subjects_are_plain_text(make_tray) -> None:
    nasty = "<b>Bold</b> & <img src=x>\x00\u202eevil\u200f" + "x" * 10_000
    tray = make_tray()
    tray.show_status(status_of([waiting("1", 5, subject=nasty)]))
    tray.rebuild_menu()
    label = ticket_actions(tray.menu)[0].text()
    assert "\x00" not in label and "\u202e" not in label and "\u200f" not in label
    assert "<b>Bold</b> && <img" in label  # shown as typed; "&" is not a mnemonic
    assert len(label) < 150
    assert plain("שלום  world") == "שלום world"  # right-to-left text itself stays
    tip = tray.tray.toolTip()
    assert "<" not in tip


def test_tooltip_counts_next_due_and_failures(make_tray) -> None:
    tray = make_tray()
    tray.show_status(
        status_of(
            [waiting("1", 7, category="Billing"), waiting("2", 30, category="Sales")],
            notices=["the queue cannot be saved: disk full"],
        )
    )
    tip = tray.tray.toolTip()
    assert "2 waiting" in tip
    assert "Billing 1 · Sales 1" in tip
    assert "next due in 7 min, Billing" in tip
    assert "the queue cannot be saved: disk full" in tip
    assert "⚠ the queue cannot be saved: disk full" in entries(tray.menu)


def test_a_failing_source_shows_cannot_see_and_never_zero(make_tray) -> None:
    tray = make_tray()
    tray.show_status(status_of([], failing="Zendesk answered HTTP 503"))
    assert badge_state(tray.status) is BadgeState.BLIND
    tip = tray.tray.toolTip()
    assert "cannot see" in tip and "Zendesk answered HTTP 503" in tip
    assert "0 waiting" not in tip
    texts = entries(tray.menu)
    assert "Nothing waiting" not in texts
    assert any("Cannot read Demo helpdesk: Zendesk answered HTTP 503" in t for t in texts)


def test_an_unreadable_helpdesk_is_a_question_mark_and_overdue_stays_said(make_tray) -> None:
    """One helpdesk unreadable, tickets overdue at another: the tooltip listed the unreadable
    one as "Partner desk 0" and dropped the overdue count."""
    tray = make_tray()
    overdue = [waiting(str(n), -30, state="overdue") for n in range(3)]
    ok = SourceHealth(SOURCE, "demo", Health.OK, waiting=3)
    down = SourceHealth("Partner desk", "json", Health.FAILING, "answered HTTP 503")
    tray.show_status(Status(NOW, tuple(overdue), (ok, down), "assistant"))
    tip = tray.tray.toolTip()
    assert "cannot see every helpdesk — 3 known waiting, 3 overdue" in tip
    assert f"{SOURCE} 3 · Partner desk ?" in tip
    assert "Partner desk 0" not in tip


def test_ticket_actions_are_agent_commands(make_tray) -> None:
    tray = make_tray()
    tray.show_status(status_of([waiting("9", 5)]))
    tray.rebuild_menu()
    ticket = ticket_actions(tray.menu)[0].menu()
    assert [a.text() for a in ticket.actions()][1:] == [
        "Open",
        "I'm on it",
        "Snooze 15 min",
        "Snooze 30 min",
        "Snooze 60 min",
    ]
    for action in ticket.actions()[2:]:
        action.trigger()
    next(a for a in tray.menu.actions() if a.text() == "Check now").trigger()
    assert tray.agent.calls == [
        ("ack", SOURCE, "9"),
        ("snooze", SOURCE, "9", 15),
        ("snooze", SOURCE, "9", 30),
        ("snooze", SOURCE, "9", 60),
        ("check_now",),
    ]


def test_mute_from_the_menu_counts_down_in_the_tooltip(make_tray) -> None:
    tray = make_tray()
    tray.show_status(status_of([waiting("1", 5)]))
    menu_entry(tray.menu, "Mute", "For 15 min").trigger()
    assert "Sound muted for 15 min" in tray.tray.toolTip()
    assert "Mute (Sound muted for 15 min)" in entries(tray.menu)
    unmute = menu_entry(tray.menu, "Mute", "Unmute")
    assert unmute.isEnabled()
    unmute.trigger()
    assert "muted" not in tray.tray.toolTip()


def test_one_notification_per_burst_and_click_opens_the_ticket(make_tray, monkeypatch) -> None:
    from agent.model import Alert

    tray = make_tray()
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(tray.tray, "showMessage", lambda t, b, *a: shown.append((t, b)))
    w = waiting("5", 20, subject="Refund please")
    new = Alert("new", NOW, "k5", SOURCE, "5", "Refund please", "Billing", w.ticket.url)
    tray.show_alerts((new,))
    assert shown == [("1 new ticket: Billing", "Refund please")]
    tray.message_clicked()
    assert [u.toString() for u in tray.opened] == [w.ticket.url]


def test_without_a_tray_a_window_has_the_badge_list_and_actions(make_tray, qtbot) -> None:
    tray = make_tray(tray_available=False)
    assert tray.tray is None and tray.window is not None
    tray.show()
    qtbot.waitExposed(tray.window)
    tray.show_status(status_of([waiting("1", 5, subject="Printer on fire"), waiting("2", 9)]))
    items = [tray.window.list.item(i).text() for i in range(tray.window.list.count())]
    assert items[0] == "Billing"
    assert items[1].startswith("#1  Printer on fire")
    assert "2 waiting" in tray.window.summary.text()
    assert not tray.window.badge.pixmap().isNull()
    tray.window.list.itemActivated.emit(tray.window.list.item(1))
    assert [u.toString() for u in tray.opened][-1].endswith("/tickets/1")
    # notifications go through the fallback (plyer) without a tray
    from agent.model import Alert

    tray.show_alerts((Alert("new", NOW, "k", SOURCE, "1", "Printer on fire", "Billing"),))
    assert tray.opened[-1].toString().startswith("notify:1 new ticket")
    tray.window.close()  # closing minimises, the app stays reachable
    assert tray.window.isVisible()


def test_a_source_slowed_down_by_its_helpdesk_says_until_when_and_keeps_its_count(
    make_tray,
) -> None:
    tray = make_tray()
    slowed = SourceHealth(
        SOURCE,
        "demo",
        Health.SLOWED,
        "slowed down by the helpdesk until 10:42",
        last_success=NOW - timedelta(minutes=3),
        waiting=1,
    )
    tray.show_status(Status(NOW, (waiting("1", 30),), (slowed,)))
    assert badge_state(tray.status) is not BadgeState.BLIND  # its tickets are still current
    tip = tray.tray.toolTip()
    assert "1 waiting" in tip and "cannot" not in tip
    assert f"{SOURCE}: slowed down by the helpdesk until 10:42" in tip
    assert f"{SOURCE}: slowed down by the helpdesk until 10:42" in entries(tray.menu)


def test_a_first_sync_is_one_notification_and_one_sound(make_tray, monkeypatch) -> None:
    from agent.config import from_dict as config_of
    from agent.policy import alerts_owed

    tray = make_tray()
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(tray.tray, "showMessage", lambda t, b, *a: shown.append((t, b)))
    tickets = [waiting(str(i), 60) for i in range(298)]
    tickets += [waiting(str(i), -5, state="overdue", subject=f"Late {i}") for i in (298, 299)]
    burst = alerts_owed(tickets, config_of({}), NOW, set(), None, summarise={SOURCE})
    assert [a.kind for a in burst] == ["summary", "overdue", "overdue"]
    tray.show_alerts(tuple(burst))
    assert shown == [("Demo helpdesk: 300 waiting, 2 overdue", "Late 298\nLate 299")]
    assert tray.sound.requested == ["urgent"]  # one sound for the burst


def test_rebuilding_the_menu_keeps_no_old_submenus(make_tray, qapp) -> None:
    from PySide6.QtCore import QCoreApplication, QEvent

    tray = make_tray()
    tray.show_status(status_of([waiting(str(i), 30 + i) for i in range(5)]))

    def submenus() -> int:
        tray.rebuild_menu()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        return len(tray.menu.findChildren(QMenu))

    first = submenus()
    assert first > 5  # "I'm on it / snooze" and one per ticket, at least
    assert [submenus() for _ in range(3)] == [first] * 3  # an idle tray does not grow


def test_a_menu_left_for_later_is_whole_when_opened(make_tray) -> None:
    """The app shows the icon and its tooltip before it builds the menu (the menu's measuring
    loads the fonts: bench/README.md); opening the menu first still shows all of it."""
    tray = make_tray(menu_later=True)
    tray.show_status(status_of([waiting("1", 7, category="Billing"), waiting("2", 30)]))
    assert "2 waiting" in tray.tray.toolTip()
    assert entries(tray.menu) == []  # nothing built yet: the icon did not wait for it
    tray.menu.aboutToShow.emit()  # what Qt emits as the menu opens
    assert len(ticket_actions(tray.menu)) == 2
    assert "2 waiting" in entries(tray.menu) and "Quit" in entries(tray.menu)
