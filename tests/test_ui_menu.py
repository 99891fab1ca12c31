"""The tray menu shows what matters: the soonest due, who handles each ticket, undoable
actions, errors in full, and no more rows than the screen holds; the ticket list window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from PySide6.QtCore import QPoint, Qt

from agent.model import Health, SourceHealth, Status
from tests.test_ui_tray import (  # noqa: F401 - fixtures
    NOW,
    SOURCE,
    entries,
    make_tray,
    menu_entry,
    qsettings,
    status_of,
    ticket_actions,
    waiting,
)
from ui.menu import clock_time, column_height, human, tooltip
from ui.tray import HOST_ROWS

LONG_ERROR = (
    "answered HTTP 503 Service Unavailable: the server is down for maintenance until 09:00 UTC, "
    "see https://status.partner.example.com for details"
)


def many(n: int = 33) -> list[Any]:
    cats = ("Billing", "Downloads", "Sales", "Technical")
    return [
        waiting(
            str(4700 + i), -30 + 3 * i, category=cats[i % 4], state="overdue" if i < 3 else "fine"
        )
        for i in range(n)
    ]


def blind_status(tickets: list[Any]) -> Status:
    ok = SourceHealth(SOURCE, "demo", Health.OK, waiting=len(tickets))
    down = SourceHealth("Partner desk", "json", Health.FAILING, LONG_ERROR)
    return Status(NOW, tuple(tickets), (ok, down), "assistant")


def test_who_handles_a_ticket_shows_and_each_can_be_undone(make_tray) -> None:  # noqa: F811
    mine = replace(waiting("1", 5), acknowledged=True)
    snoozed = replace(waiting("2", 6), snoozed_until=NOW + timedelta(minutes=25))
    claimed = replace(waiting("3", 7), claimed_by="Anna", claimed_at=NOW - timedelta(minutes=4))
    tray = make_tray()
    tray.show_status(status_of([mine, snoozed, claimed]))
    rows = ticket_actions(tray.menu)
    assert rows[0].text().endswith("·  ✓ on it")
    assert rows[1].text().endswith(f"·  snoozed until {clock_time(snoozed.snoozed_until)}")
    assert rows[2].text().endswith("·  Anna · 4 min")
    undo = next(a for a in rows[0].menu().actions() if a.text() == "Undo “I'm on it”")
    undo.trigger()
    end = next(a for a in rows[1].menu().actions() if a.text().startswith("End snooze"))
    end.trigger()
    assert tray.agent.calls == [("ack", SOURCE, "1"), ("snooze", SOURCE, "2", 0)]


def test_two_tickets_with_the_same_subject_differ_by_number(make_tray) -> None:  # noqa: F811
    tray = make_tray()
    tray.show_status(
        status_of([waiting("11", 5, subject="Help"), waiting("12", 6, subject="Help")])
    )
    labels = [a.text() for a in ticket_actions(tray.menu)]
    assert labels[0].startswith("#11  Help") and labels[1].startswith("#12  Help")


def test_the_twenty_soonest_are_shown_whatever_their_group(make_tray) -> None:  # noqa: F811
    """The menu showed the first group's tickets first and cut the rest: the soonest due in a
    later group were missing. Now the 20 soonest are chosen, then grouped."""
    late = [waiting(f"a{i}", 100 + i, category="Alpha") for i in range(25)]
    soon = [waiting(f"z{i}", 10 + i, category="Zulu") for i in range(5)]
    tray = make_tray()
    tray.show_status(status_of(late + soon))
    keys = {a.data().split("\x1f")[1] for a in ticket_actions(tray.menu)}
    assert {f"z{i}" for i in range(5)} <= keys and len(keys) == 20
    assert "10 more…" in entries(tray.menu)
    texts = entries(tray.menu)
    assert texts.index("Alpha") < texts.index("Zulu")  # groups keep a fixed order


def test_the_menu_fits_a_720_px_screen_in_one_column(make_tray, qtbot) -> None:  # noqa: F811
    available = 720 - 33  # a 720 px screen less its panel
    tray = make_tray(screen_height=lambda: available)
    tray.show_status(blind_status(many()))
    menu = tray.menu
    # room for a tray host's taller rows (a StatusNotifierItem's menu is drawn by the panel)
    assert column_height(menu) * HOST_ROWS <= available
    shown = len(ticket_actions(menu))
    assert 5 <= shown < 20
    assert f"{33 - shown} more…" in entries(menu)
    menu.popup(QPoint(0, 0))
    qtbot.waitExposed(menu)
    xs = {menu.actionGeometry(a).x() for a in menu.actions() if a.isVisible()}
    assert len(xs) == 1  # one column
    menu.hide()
    roomy = make_tray(screen_height=lambda: 2000)
    roomy.show_status(blind_status(many()))
    assert len(ticket_actions(roomy.menu)) == 20


def test_an_error_is_shown_in_full_and_opens_that_helpdesks_settings(
    make_tray,  # noqa: F811
) -> None:
    tray = make_tray()
    tray.show_status(blind_status(many(3)))
    asked: list[str] = []
    tray.source_settings_requested.connect(asked.append)
    lines = [
        a for a in tray.menu.actions() if "Partner desk" in a.text() or a.text().startswith("  ")
    ]
    shown = " ".join(a.text().strip() for a in lines)
    assert "⚠ Cannot read Partner desk:" in shown
    assert "status.partner.example.com for details" in shown  # nothing cut off
    assert all(len(a.text()) <= 70 for a in lines)
    lines[-1].trigger()
    assert asked == ["Partner desk"]
    head = entries(tray.menu)[len(lines)]
    assert head == "3 known waiting, 3 overdue (not every helpdesk could be read)"


def test_the_headline_never_says_0_when_a_helpdesk_cannot_be_read(
    make_tray,  # noqa: F811
) -> None:
    """It said "0 known waiting" (the badge "?", the tooltip "nothing known")."""
    tray = make_tray()
    tray.show_status(blind_status([]))
    heads = [text for text in entries(tray.menu) if "not every helpdesk" in text]
    assert heads == ["Nothing known (not every helpdesk could be read)"]


def test_mute_is_one_submenu(make_tray) -> None:  # noqa: F811
    tray = make_tray()
    tray.show_status(status_of([waiting("1", 5)]))
    texts = entries(tray.menu)
    assert not any(t.startswith(("Mute for", "Mute until", "Unmute")) for t in texts)
    sub = menu_entry(tray.menu, "Mute").menu()
    assert [a.text() for a in sub.actions() if a.text()] == [
        "For 15 min",
        "For 1 hour",
        "Until tomorrow",
        "Unmute",
    ]
    menu_entry(tray.menu, "Mute", "For 1 hour").trigger()
    assert tray.agent.calls[-1] == ("mute", NOW + timedelta(hours=1))
    assert tray.sound.muted(NOW)


def test_the_tooltip_keeps_overdue_and_reads_under_a_minute() -> None:
    status = blind_status([waiting("1", -5, state="overdue"), waiting("2", 0.5)])
    tip = tooltip(status, NOW)
    assert "2 known waiting, 1 overdue" in tip
    assert "Partner desk ?" in tip
    assert "next due in under 1 min" in tip and "‹" not in tip
    assert human(timedelta(seconds=20)) == "under 1 min"


def test_the_tooltips_categories_keep_their_place_as_tickets_come_and_go() -> None:
    """The categories' line followed the tickets' due order, so in the no-tray window it
    reshuffled at every poll ("Sales 4 · Technical 2 · …", then "Technical 2 · … · Sales 3");
    it is in the menu's order now: alphabetical, "Other" last."""
    tickets = [
        waiting("1", 5, category="Technical"),
        waiting("2", 10, category=""),
        waiting("3", 20, category="Sales"),
        waiting("4", 30, category="billing"),
        waiting("5", 40, category="Sales"),
    ]
    assert tooltip(status_of(tickets), NOW).splitlines()[1] == (
        "billing 1 · Sales 2 · Technical 1 · Other 1"
    )
    sooner = [replace(tickets[2], due_at=NOW), *tickets[:2], *tickets[3:]]
    assert tooltip(status_of(sooner), NOW).splitlines()[1] == (
        "billing 1 · Sales 2 · Technical 1 · Other 1"
    )


def test_the_tooltip_says_while_notifications_and_sounds_are_held() -> None:
    status = status_of([waiting("1", 30)])
    assert len(tooltip(status, NOW).splitlines()) == 3  # nothing held: nothing said
    held = tooltip(replace(status, held="do not disturb"), NOW).splitlines()
    assert held[1] == "Do not disturb is on: notifications and sounds wait until it ends"
    away = tooltip(replace(status, held="away"), NOW).splitlines()
    assert away[1] == "You are away: notifications and sounds wait until you are back"


def test_n_more_opens_a_list_of_every_ticket_sortable_and_filterable(
    make_tray,  # noqa: F811
    qtbot,
) -> None:
    tickets = many(27)
    tickets[5] = waiting("4705", 30, subject="Printer on fire", category="Technical")
    tray = make_tray()
    tray.show_status(status_of(tickets))
    next(a for a in tray.menu.actions() if a.text() == "7 more…").trigger()
    window = tray.ticket_list
    qtbot.waitExposed(window)
    assert len(window.visible_tickets()) == 27
    assert window.visible_tickets()[0].ticket.id == "4700"  # soonest due first
    window.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert window.visible_tickets()[0].ticket.id == "4726"
    window.filter.setText("printer")
    assert [w.ticket.id for w in window.visible_tickets()] == ["4705"]
    assert window.count.text() == "1 of 27 waiting"
    [row] = [r for r in range(window.table.rowCount()) if not window.table.isRowHidden(r)]
    menu = window._context_menu(window.table.visualItemRect(window.table.item(row, 2)).center())
    next(a for a in menu.actions() if a.text() == "I'm on it").trigger()
    assert tray.agent.calls[-1] == ("ack", SOURCE, "4705")
    menu.hide()


def test_the_no_tray_window_offers_the_actions_on_right_click(
    make_tray,  # noqa: F811
    qtbot,
) -> None:
    tray = make_tray(tray_available=False)
    tray.show()
    qtbot.waitExposed(tray.window)
    tray.show_status(status_of([waiting("1", 5, subject="Printer on fire")]))
    lst = tray.window.list
    pos = lst.visualItemRect(lst.item(1)).center()
    menu = tray.window._context_menu(pos)
    texts = [a.text() for a in menu.actions()]
    assert texts[1:] == ["Open", "I'm on it", "Snooze 15 min", "Snooze 30 min", "Snooze 60 min"]
    next(a for a in menu.actions() if a.text() == "Snooze 30 min").trigger()
    assert tray.agent.calls[-1] == ("snooze", SOURCE, "1", 30)
    next(a for a in menu.actions() if a.text() == "Open").trigger()
    assert tray.opened[-1].toString().endswith("/tickets/1")
    menu.hide()


def test_settings_open_at_the_helpdesk_an_error_line_names(qapp, tmp_path) -> None:
    from ui.settings import SettingsDialog

    raw = {
        "sources": [
            {"name": "Support desk", "kind": "demo"},
            {"name": "Partner desk", "kind": "demo"},
        ]
    }
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", None, raw=raw)
    dialog.tabs.setCurrentIndex(2)
    assert dialog.show_source("Partner desk")
    assert dialog.tabs.currentWidget() is dialog.helpdesks
    assert dialog.source_form.name.text() == "Partner desk"
    assert not dialog.show_source("Nobody")
    dialog.close()


def test_the_app_opens_settings_at_the_helpdesk_clicked(qapp, tmp_path, qsettings) -> None:  # noqa: F811
    import argparse

    from agent.config import from_dict
    from ui.app import TicketbellApp

    config = from_dict(
        {
            "sources": [
                {"name": "Support desk", "kind": "demo"},
                {"name": "Partner desk", "kind": "demo"},
            ]
        }
    )
    args = argparse.Namespace(config=tmp_path / "ticketbell.toml", data_dir=None, demo=False)
    shell = TicketbellApp(args, qsettings)
    shell.config = config
    shell.open_source_settings("Partner desk")
    try:
        assert shell.dialog.tabs.currentWidget() is shell.dialog.helpdesks
        assert shell.dialog.source_form.name.text() == "Partner desk"
    finally:
        shell.dialog.close()


def test_rebuilding_the_menu_leaves_no_submenus_behind(make_tray, qapp) -> None:  # noqa: F811
    """The menu is rebuilt every 30 s and on every change; QMenu.clear() keeps submenus, so
    each rebuild would have added a submenu per ticket for good."""
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QMenu

    tray = make_tray(screen_height=lambda: 500)  # several builds per rebuild, to fit
    tray.show_status(status_of(many()))

    def submenus() -> int:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        return len(tray.menu.findChildren(QMenu))

    first = submenus()
    for _ in range(20):
        tray.refresh()
    assert submenus() == first
    assert first == len(ticket_actions(tray.menu)) + 2  # each ticket's, Mute, Group by


def test_the_no_tray_windows_more_line_opens_every_ticket(make_tray, qtbot) -> None:  # noqa: F811
    tray = make_tray(tray_available=False)
    tray.show()
    qtbot.waitExposed(tray.window)
    tray.show_status(status_of(many(27)))
    lst = tray.window.list
    more = lst.item(lst.count() - 1)
    assert more.text() == "7 more… (double-click: all tickets)"
    lst.itemActivated.emit(more)
    assert tray.ticket_list is not None and tray.ticket_list.isVisible()
    assert len(tray.ticket_list.visible_tickets()) == 27
