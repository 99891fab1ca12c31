"""The ticket list windows across refreshes: the keyboard's place follows its ticket, and the
count never says a false "0 waiting" while a helpdesk cannot be read."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QTextLayout, QTextOption
from PySide6.QtTest import QTest

from agent.model import Health, SourceHealth, Status
from tests.test_ui_tray import (  # noqa: F401 - fixtures
    NOW,
    SOURCE,
    make_tray,
    qsettings,
    status_of,
    waiting,
)


def test_enter_opens_the_selected_ticket_after_a_new_one_sorts_above_it(
    make_tray,  # noqa: F811
    qtbot,
) -> None:
    tray = make_tray()
    tray.show_status(status_of([waiting("A", 10), waiting("B", 20), waiting("C", 30)]))
    tray.show_all_tickets()
    window = tray.ticket_list
    qtbot.waitExposed(window)
    window.table.setFocus()
    window.table.selectRow(1)
    assert window.ticket_at(window.table.currentRow()).ticket.id == "B"
    tray.show_status(
        status_of([waiting("N", 5), waiting("A", 10), waiting("B", 20), waiting("C", 30)])
    )
    assert window.ticket_at(window.table.currentRow()).ticket.id == "B"
    assert [i.row() for i in window.table.selectionModel().selectedRows()] == [2]
    QTest.keyClick(window.table, Qt.Key.Key_Return)
    assert [u.toString() for u in tray.opened] == ["https://example.com/ticketbell-demo/tickets/B"]


def test_a_selected_ticket_that_is_gone_leaves_nothing_for_enter_to_open(
    make_tray,  # noqa: F811
    qtbot,
) -> None:
    tray = make_tray()
    tickets = [
        waiting("A", 10, subject="printer"),
        waiting("B", 20, subject="refund"),
        waiting("C", 30, subject="refund too"),
    ]
    tray.show_status(status_of(tickets))
    tray.show_all_tickets()
    window = tray.ticket_list
    qtbot.waitExposed(window)
    window.filter.setText("refund")
    window.table.setFocus()
    window.table.selectRow(1)
    assert window.ticket_at(window.table.currentRow()).ticket.id == "B"
    tray.show_status(status_of([tickets[0], waiting("D", 40, subject="printer 2")]))  # B answered
    assert window.visible_tickets() == []
    assert window.table.currentRow() == -1
    assert not window.table.selectionModel().hasSelection()
    QTest.keyClick(window.table, Qt.Key.Key_Return)
    window._open(0)  # a row the filter hides is not opened either
    assert tray.opened == []


def test_the_no_tray_window_keeps_the_keyboard_place_on_a_refresh(
    make_tray,  # noqa: F811
    qtbot,
) -> None:
    tray = make_tray(tray_available=False)
    tray.show()
    qtbot.waitExposed(tray.window)
    tray.show_status(status_of([waiting(str(i), 10 + i) for i in range(18)]))
    lst = tray.window.list
    lst.setFocus()
    tray.window.resize(560, 300)  # too short for every ticket: the list scrolls
    qtbot.waitUntil(lambda: lst.verticalScrollBar().maximum() > 2)
    lst.setCurrentRow(15)
    chosen = tray.window.ticket_of(lst.currentItem()).ticket.id
    scrolled = lst.verticalScrollBar().maximum() - 1  # not where the current row scrolls to
    lst.verticalScrollBar().setValue(scrolled)
    tray.refresh()  # what the 30 s timer does
    assert tray.window.ticket_of(lst.currentItem()).ticket.id == chosen
    assert lst.verticalScrollBar().value() == scrolled
    tray.show_status(status_of([waiting("new", 1), *[waiting(str(i), 10 + i) for i in range(18)]]))
    assert tray.window.ticket_of(lst.currentItem()).ticket.id == chosen  # by ticket, not row
    QTest.keyClick(lst, Qt.Key.Key_Return)
    assert [u.toString() for u in tray.opened] == [
        f"https://example.com/ticketbell-demo/tickets/{chosen}"
    ]


def test_the_ticket_list_count_says_what_is_known_while_a_helpdesk_fails(
    make_tray,  # noqa: F811
) -> None:
    tray = make_tray()
    ok = SourceHealth(SOURCE, "demo", Health.OK, waiting=2)
    down = SourceHealth("Partner desk", "json", Health.FAILING, "answered HTTP 503")
    tickets = (waiting("1", 5, subject="printer"), waiting("2", 9))
    tray.show_status(Status(NOW, tickets, (ok, down), "assistant"))
    tray.show_all_tickets()
    window = tray.ticket_list
    note = " (not every helpdesk could be read)"
    assert window.count.text() == "2 known waiting" + note
    window.filter.setText("printer")
    assert window.count.text() == "1 of 2 waiting" + note
    window.filter.clear()
    tray.show_status(Status(NOW, (), (ok, down), "assistant"))
    assert window.count.text() == "Nothing known" + note
    assert "0" not in window.count.text()
    tray.show_status(status_of(list(tickets)))
    assert window.count.text() == "2 waiting"


def test_esc_closes_the_ticket_list_from_its_filter_and_its_table(
    make_tray,  # noqa: F811
    qtbot,
) -> None:
    """Esc did nothing in the window of every waiting ticket (a keyboard user had to find the
    window manager's close); it closes it now, as a dialog, wherever the focus is in it."""
    tray = make_tray()
    tray.show_status(status_of([waiting("A", 10), waiting("B", 20)]))
    for focus in ("filter", "table"):
        tray.show_all_tickets()
        window = tray.ticket_list
        qtbot.waitExposed(window)
        QTest.keyClick(getattr(window, focus), Qt.Key.Key_Escape)
        assert not window.isVisible(), focus
    tray.show_all_tickets()  # and it opens again
    assert tray.ticket_list.isVisible()


def lines_at(text: str, font: QFont, width: int) -> list[str]:
    """``text`` as Qt breaks it into lines ``width`` pixels wide, at word boundaries as a
    word-wrapping list does."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    lines = []
    layout.beginLayout()
    while (line := layout.createLine()).isValid():
        line.setLineWidth(width)
        lines.append(text[line.textStart() : line.textStart() + line.textLength()])
    layout.endLayout()
    return lines


def test_a_wrapped_row_of_the_no_tray_window_keeps_its_time_phrase_on_one_line(
    make_tray,  # noqa: F811
    qtbot,
) -> None:
    """Seen in GNOME (no tray, 560 px window): "overdue by 5" ended one line, "min" began the
    next. However narrow the window, the time phrase moves down whole."""
    tray = make_tray(tray_available=False)
    tray.show()
    qtbot.waitExposed(tray.window)
    subject = "Password reset email never arrives after three tries"
    tray.show_status(status_of([waiting("1", -5, subject=subject, state="overdue")]))
    lst = tray.window.list
    text = lst.item(1).text()
    assert text.replace("\u00a0", " ").endswith("overdue by 5 min")
    metrics = QFontMetrics(lst.font())
    phrase = metrics.horizontalAdvance("overdue by 5 min") + 4
    for width in range(phrase, metrics.horizontalAdvance(text) + 8, 3):
        lines = [line.replace("\u00a0", " ").strip() for line in lines_at(text, lst.font(), width)]
        assert any("overdue by 5 min" in line for line in lines), (width, lines)
