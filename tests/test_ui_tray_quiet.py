"""The tray honours the agent's quiet decision (no chime, no notification for a held alert; the
summary when back is shown, silently) and shows a helpdesk's accent beside its tickets."""

from __future__ import annotations

from PySide6.QtCore import QUrl

from agent.config import from_dict
from agent.model import Alert
from tests.test_ui_tray import (  # noqa: F401 - fixtures
    NOW,
    SOURCE,
    make_tray,
    qsettings,
    status_of,
    ticket_actions,
    waiting,
)


def alert(kind: str, tid: str = "1", hold: str = "") -> Alert:
    return Alert(kind, NOW, f"{kind}{tid}", SOURCE, tid, f"Subject {tid}", "Billing", hold=hold)


def test_held_alerts_neither_chime_nor_pop_up(make_tray) -> None:  # noqa: F811
    tray = make_tray(tray_available=False)
    tray.show_alerts((alert("new", "1", "do not disturb"), alert("due_soon", "2", "away")))
    assert tray.sound.requested == []
    assert tray.opened == []
    # what broke through rings as before
    tray.show_alerts((alert("overdue", "3"), alert("new", "4", "do not disturb")))
    assert tray.sound.requested == ["urgent"]
    assert tray.opened == [QUrl("notify:1 overdue ticket: Billing")]


def test_the_summary_when_back_is_shown_without_a_sound(make_tray) -> None:  # noqa: F811
    tray = make_tray(tray_available=False)
    back = Alert(
        "while_away",
        NOW,
        "back",
        subject="While you were away: 3 new, 1 overdue, 2 answered",
        message="Open Ticketbell to see what is waiting",
    )
    tray.show_alerts((back,))
    assert tray.sound.requested == []
    assert tray.opened == [QUrl("notify:While you were away: 3 new, 1 overdue, 2 answered")]


def test_a_helpdesks_accent_shows_beside_its_tickets(make_tray) -> None:  # noqa: F811
    tray = make_tray()
    tray.show_status(status_of([waiting("1", 5), waiting("2", 50)]))
    assert all(row.icon().isNull() for row in ticket_actions(tray.menu))
    source = {"name": SOURCE, "kind": "demo", "accent": "#e5533d"}
    tray.config = from_dict({**tray.config.raw, "sources": [source]})
    tray.rebuild_menu()
    rows = ticket_actions(tray.menu)
    assert len(rows) == 2 and not any(row.icon().isNull() for row in rows)
    image = rows[0].icon().pixmap(16, 16).toImage()
    assert image.pixelColor(8, 8).name() == "#e5533d"
    assert image.pixelColor(0, 0).alpha() == 0  # a dot, not a square
