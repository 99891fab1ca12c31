"""The tray speaks the system's language: tooltip, menu, a ticket's actions and the buttons of
its notifications in German and French, with each language's plural forms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent import i18n
from agent.model import Status
from tests.test_ui_tray import (  # noqa: F401 - fixtures
    NOW,
    entries,
    make_tray,
    menu_entry,
    qsettings,
    status_of,
    ticket_actions,
    waiting,
)
from ui.menu import tooltip
from ui.notifications import Notice, TicketRef, confirmation
from ui.notifications import ticket_actions as buttons


@pytest.fixture
def speak(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``speak("de")``: the system asks for that language (LANGUAGE), as a person's would."""

    def use(code: str) -> None:
        monkeypatch.setenv("LANGUAGE", code)
        i18n.use("")

    yield use
    monkeypatch.undo()
    i18n.use("")  # the suite's English again


def three_waiting_one_overdue() -> Status:
    return status_of(
        [waiting("4711", -30, state="overdue"), waiting("4712", 20), waiting("4713", 90)]
    )


def test_german_tooltip_counts_with_german_plurals(speak) -> None:
    speak("de")
    tip = tooltip(three_waiting_one_overdue(), NOW).splitlines()
    assert tip[0] == "Ticketbell — 3 Tickets warten (1 überfällig)"
    assert "nächste Frist in 20 Min., Billing" in tip
    one = tooltip(status_of([waiting("4711", 20)]), NOW).splitlines()
    assert one[0] == "Ticketbell — 1 Ticket wartet"
    assert tooltip(status_of([]), NOW).splitlines()[0] == "Ticketbell — 0 Tickets warten"


def test_german_menu_and_ticket_actions(speak, make_tray) -> None:  # noqa: F811
    speak("de")
    tray = make_tray()
    tray.show_status(three_waiting_one_overdue())
    shown = entries(tray.menu)
    assert "3 Tickets warten, 1 überfällig" in shown
    assert "Überfällig" in shown  # the overdue tickets' section
    for word in ("Jetzt prüfen", "Stumm", "Tickets gruppieren nach", "Einstellungen…", "Beenden"):
        assert word in shown
    late = ticket_actions(tray.menu)[0]
    assert "seit 30 Min. überfällig" in late.text()
    actions = entries(late.menu())
    assert actions[1:] == [
        "Öffnen",
        "Ich kümmere mich",
        "15 Min. zurückstellen",
        "30 Min. zurückstellen",
        "60 Min. zurückstellen",
    ]
    assert "wartet seit 30 Min." in actions[0]
    mute = menu_entry(tray.menu, "Stumm").menu()
    assert entries(mute) == ["Für 15 Min.", "Für 1 Stunde", "Bis morgen", "Ton wieder an"]


def test_german_more_rows_and_a_single_ticket(speak, make_tray) -> None:  # noqa: F811
    speak("de")
    tray = make_tray()
    tray.show_status(status_of([waiting(str(4700 + i), 10 + i) for i in range(21)]))
    assert "1 weiteres…" in entries(tray.menu)
    tray.show_status(status_of([waiting(str(4700 + i), 10 + i) for i in range(23)]))
    assert "3 weitere…" in entries(tray.menu)
    tray.show_status(status_of([waiting("4711", 20)]))
    assert "1 Ticket wartet" in entries(tray.menu)
    tray.show_status(status_of([]))
    assert "Nichts wartet" in entries(tray.menu)


def test_german_notification_buttons_and_confirmation(speak) -> None:
    speak("de")
    labels = dict(buttons())
    assert (labels["open"], labels["ack"], labels["snooze"]) == (
        "Öffnen",
        "Ich kümmere mich",
        "15 Min. zurückstellen",
    )
    refs = tuple(TicketRef("Demo", str(n), subject=f"Frage {n}") for n in range(5))
    done = confirmation(Notice("x", "y", tickets=refs), "ack")
    assert done.title == "Du kümmerst dich darum"
    assert done.body == "Frage 0, Frage 1 und 3 weitere"
    assert dict(done.actions)["undo"] == "Rückgängig"
    one_more = confirmation(Notice("x", "y", tickets=refs[:3]), "snooze", "10:15")
    assert (one_more.title, one_more.body) == (
        "Zurückgestellt bis 10:15",
        "Frage 0, Frage 1 und 1 weiteres",
    )


def test_french_tooltip_and_menu(speak, make_tray) -> None:  # noqa: F811
    speak("fr_FR.UTF-8")
    tip = tooltip(three_waiting_one_overdue(), NOW).splitlines()
    assert tip[0] == "Ticketbell — 3 tickets en attente (1 en retard)"
    tray = make_tray()
    tray.show_status(three_waiting_one_overdue())
    shown = entries(tray.menu)
    assert "3 tickets en attente, 1 en retard" in shown
    assert "En retard" in shown
    for word in ("Vérifier maintenant", "Muet", "Réglages…", "Quitter"):
        assert word in shown
    late = ticket_actions(tray.menu)[0]
    assert "en retard de 30\u00a0min" in late.text()  # CLDR: a no-break space before "min"
    assert entries(late.menu())[1:3] == ["Ouvrir", "Je m’en occupe"]
    tray.show_status(status_of([waiting("4711", 20)]))
    assert "1 ticket en attente" in entries(tray.menu)


def test_polish_counts_with_its_three_plural_forms(speak) -> None:
    speak("pl_PL.UTF-8")
    first = [
        tooltip(status_of([waiting(str(4700 + i), 20 + i) for i in range(n)]), NOW).splitlines()[0]
        for n in (1, 3, 5, 22)
    ]
    assert first == [
        "Ticketbell — 1 zgłoszenie czeka",
        "Ticketbell — 3 zgłoszenia czekają",
        "Ticketbell — 5 zgłoszeń czeka",
        "Ticketbell — 22 zgłoszenia czekają",
    ]


def test_german_ticket_list_and_window_without_a_tray(speak, make_tray, qtbot) -> None:  # noqa: F811
    speak("de")
    tray = make_tray(tray_available=False)
    tray.show()
    qtbot.waitExposed(tray.window)
    tray.show_status(status_of([waiting(str(4700 + i), 10 + i) for i in range(23)]))
    lst = tray.window.list
    texts = [lst.item(i).text() for i in range(lst.count())]
    assert texts[-1] == "3 weitere… (Doppelklick: alle Tickets)"
    tray.window._activated(lst.item(lst.count() - 1))  # the "more" row opens the full list
    window = tray.ticket_list
    qtbot.waitExposed(window)
    heads = [window.table.horizontalHeaderItem(c).text() for c in range(window.table.columnCount())]
    assert heads[:4] == ["Fällig", "Ticket", "Betreff", "Kunde"]
    assert window.count.text() == "23 Tickets warten"
    window.filter.setText("4711")
    assert window.count.text() == "1 von 23 wartenden Tickets"


def menu_texts(menu) -> set[str]:
    """Every entry of ``menu`` and of its submenus."""
    texts = set()
    for action in menu.actions():
        texts.add(action.text().replace("&", ""))
        if action.menu() is not None:
            texts |= menu_texts(action.menu())
    return texts - {""}


def test_no_english_text_is_left_in_the_german_menu_list_or_dashboard(
    speak,
    make_tray,  # noqa: F811
) -> None:
    """A ``_()`` forgotten anywhere in the owner's tray: its menus, the list of every waiting
    ticket and the dashboard (tests/test_ui_settings_i18n.py does Settings and the wizard)."""
    from tests.test_ui_settings_i18n import german_catalogue, shown_texts, untranslated
    from ui.dashboard import Dashboard

    speak("de")
    tray = make_tray(role="owner")
    tray.show_status(three_waiting_one_overdue())
    tray.rebuild_menu()
    german = german_catalogue()
    assert "Jetzt prüfen" in menu_texts(tray.menu)  # the walk reaches the entries
    left = {t: "menu" for t in menu_texts(tray.menu) if german.get(t, t) != t}
    tray.show_all_tickets()
    left |= {t: "ticket list" for t in untranslated(tray.ticket_list)}
    dashboard = Dashboard(tray.status, tray.config, clock=lambda: NOW)
    left |= {t: "dashboard" for t in untranslated(dashboard)}
    assert "Als PNG speichern…" in shown_texts(dashboard)
    dashboard.deleteLater()
    assert not left


def test_tickets_without_a_category_are_other_in_the_tooltip_in_each_language(speak) -> None:
    """The tooltip counted tickets with no category (an IMAP inbox, a JSON feed) as "(none) 2",
    in English whatever the language, while the menu titles them "Other" in the person's
    language; it says the menu's word now."""
    tickets = [waiting("1", 20, category=""), waiting("2", 30, category=""), waiting("3", 40)]
    assert tooltip(status_of(tickets), NOW).splitlines()[1] == "Billing 1 · Other 2"
    speak("de")
    assert tooltip(status_of(tickets), NOW).splitlines()[1] == "Billing 1 · Sonstige 2"
    speak("pl")
    assert tooltip(status_of(tickets), NOW).splitlines()[1] == "Billing 1 · Inne 2"


def test_polish_counts_new_tickets_with_the_genitive_plural(speak) -> None:
    """After a sleep the first read's notification said "Zendesk: 5 nowe, …" and "While
    do-not-disturb was on: 5 nowe, …" in Polish, the form for 2-4; five and more take
    "nowych", as the tray's other counts do ("5 zgłoszeń")."""
    from agent.model import Alert
    from ui.notifications import notice_for

    speak("pl")

    def summary(new: int) -> str:
        counts = (("waiting", 312), ("new", new))
        notice = notice_for([Alert("summary", NOW, "s", "Zendesk", counts=counts)])
        assert notice is not None
        return notice.title

    assert summary(1) == "Zendesk: 1 nowe, 312 zgłoszeń czeka"
    assert summary(3) == "Zendesk: 3 nowe, 312 zgłoszeń czeka"
    assert summary(5) == "Zendesk: 5 nowych, 312 zgłoszeń czeka"
    assert summary(22) == "Zendesk: 22 nowe, 312 zgłoszeń czeka"
