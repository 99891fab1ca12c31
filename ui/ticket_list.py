"""The windows that list tickets: every waiting ticket (the menu's "N more…"), and the window
Ticketbell lives in when the desktop has no tray. A right-click on a ticket offers the tray
menu's actions for it (:func:`ui.menu.fill_ticket_menu`); a double-click or Enter opens it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent.i18n import N_, _, ngettext
from agent.model import Status, WaitingTicket
from ui.access import escape_closes, show_focus
from ui.menu import (
    AgentCommands,
    due_order,
    due_text,
    fill_ticket_menu,
    handling,
    human,
    known_waiting,
    plain,
    ticket_label,
    ticket_name,
    ticket_sections,
)


class TrayLike(Protocol):
    agent: AgentCommands
    group_by: str
    pinned: list[str]
    menu: QMenu
    quit_requested: Any  # a Signal's instance

    def open_ticket(self, w: WaitingTicket) -> bool: ...

    def show_all_tickets(self) -> None: ...


def ticket_menu(parent: QWidget, w: WaitingTicket, now: datetime, tray: TrayLike) -> QMenu:
    menu = QMenu(parent)
    menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one per right-click
    fill_ticket_menu(menu, w, now, tray)
    return menu


class SortItem(QTableWidgetItem):
    """A cell that sorts by a key of its own (the due time, not the words "5 min left")."""

    def __init__(self, text: str, key: Any) -> None:
        super().__init__(text)
        self.key = key
        self.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, SortItem):
            return bool(self.key < other.key)
        return super().__lt__(other)


COLUMNS = (
    N_("Due"),
    N_("Ticket"),
    N_("Subject"),
    N_("Customer"),
    N_("Category"),
    N_("Helpdesk"),
    N_("Waiting"),
    N_("Who"),
)
MORE_ROW = -1  # the no-tray window's "N more…" row (its UserRole data)


def ticket_key(w: WaitingTicket | None) -> str | None:
    """What a selection follows across refreshes: the ticket's queue key, not its row."""
    return w.ticket.key if w is not None else None


class TicketListWindow(QWidget):
    """Every waiting ticket in a table: sorted by a click on a column's heading, filtered by
    the words typed above it, each row with the menu's actions on a right-click."""

    def __init__(self, tray: TrayLike) -> None:
        super().__init__()
        self.tray = tray
        self.setWindowTitle(_("Ticketbell — waiting tickets"))
        show_focus(self)
        layout = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText(_("Filter: subject, customer, category, helpdesk, number…"))
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName(_("Filter"))
        self.filter.textChanged.connect(self._apply_filter)
        layout.addWidget(self.filter)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([_(c) for c in COLUMNS])
        self.table.setAccessibleName(_("Waiting tickets"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # the arrows go through it; Tab leaves it
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # one line a ticket; a long subject is elided
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.cellActivated.connect(lambda row, _col: self._open(row))
        layout.addWidget(self.table, 1)
        self.count = QLabel()
        layout.addWidget(self.count)
        self.tickets: list[WaitingTicket] = []
        self.now: datetime | None = None
        self.blind = False  # a helpdesk could not be read: the count says what is known
        self.resize(1000, 520)

    def update_view(self, status: Status, now: datetime) -> None:
        chosen = ticket_key(self.ticket_at(self.table.currentRow()))  # followed, not its row
        column = max(self.table.currentColumn(), 0)
        self.now = now
        self.blind = status.blind
        self.tickets = sorted(status.tickets, key=due_order)
        table = self.table
        table.setSortingEnabled(False)
        table.setRowCount(len(self.tickets))
        for row, w in enumerate(self.tickets):
            t = w.ticket
            cells = (
                SortItem(due_text(w, now), (w.due_at, row)),
                SortItem(ticket_name(w), (t.source, t.id)),
                SortItem(plain(t.subject, 120), t.subject.casefold()),
                SortItem(plain(t.requester, 40), t.requester.casefold()),
                SortItem(plain(t.category, 40), t.category.casefold()),
                SortItem(plain(t.source, 40), t.source.casefold()),
                SortItem(human(now - t.waiting_since), t.waiting_since),
                SortItem(handling(w, now), handling(w, now)),
            )
            cells[0].setData(Qt.ItemDataRole.UserRole, row)  # index into self.tickets
            for col, cell in enumerate(cells):
                table.setItem(row, col, cell)
        table.setSortingEnabled(True)
        table.resizeColumnsToContents()
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._apply_filter(self.filter.text())
        self._select(chosen, column)

    def _select(self, key: str | None, column: int) -> None:
        """Make the ticket ``key`` current again; gone (or filtered out): nothing is current,
        so Enter opens nothing rather than whichever ticket took its row."""
        table = self.table
        for row in range(table.rowCount()):
            found = key is not None and ticket_key(self.ticket_at(row)) == key
            if found and not table.isRowHidden(row):
                table.setCurrentCell(row, column)
                return
        table.clearSelection()
        table.setCurrentIndex(QModelIndex())

    def ticket_at(self, row: int) -> WaitingTicket | None:
        item = self.table.item(row, 0)
        index = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return self.tickets[index] if isinstance(index, int) else None

    def visible_tickets(self) -> list[WaitingTicket]:
        rows = range(self.table.rowCount())
        found = [self.ticket_at(r) for r in rows if not self.table.isRowHidden(r)]
        return [w for w in found if w is not None]

    def _apply_filter(self, text: str) -> None:
        words = text.casefold().split()
        shown = 0
        for row in range(self.table.rowCount()):
            cells = (self.table.item(row, c) for c in range(len(COLUMNS)))
            line = " ".join(c.text() for c in cells if c is not None).casefold()
            hidden = not all(word in line for word in words)
            self.table.setRowHidden(row, hidden)
            shown += not hidden
        total = len(self.tickets)
        if words:
            of = ngettext("{shown} of {count} waiting", "{shown} of {count} waiting", total)
            text = of.format(shown=shown, count=total)
        elif self.blind:  # the tooltip's words: never a false "0 waiting"
            text = known_waiting(total, first=True)
        else:
            text = ngettext("{count} waiting", "{count} waiting", total).format(count=total)
        if self.blind:
            text = _("{counts} (not every helpdesk could be read)").format(counts=text)
        self.count.setText(text)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc closes the window, as it does a dialog (the filter and the table leave it)."""
        if not escape_closes(self, event):
            super().keyPressEvent(event)

    def _open(self, row: int) -> None:
        w = self.ticket_at(row)
        if w is not None and not self.table.isRowHidden(row):
            self.tray.open_ticket(w)

    def _context_menu(self, pos: QPoint) -> QMenu | None:
        w = self.ticket_at(self.table.rowAt(pos.y()))
        if w is None or self.now is None:
            return None
        menu = ticket_menu(self, w, self.now, self.tray)
        menu.popup(self.table.viewport().mapToGlobal(pos))
        return menu


class StatusWindow(QWidget):
    """Shown when the desktop has no system tray: the same badge, list and actions."""

    def __init__(self, tray: TrayLike) -> None:
        super().__init__()
        self.tray = tray
        self.setWindowTitle("Ticketbell")
        layout = QVBoxLayout(self)
        note = QLabel(
            _(
                "This desktop has no system tray, so Ticketbell lives in this window. "
                "Closing it minimises it; use Quit to stop Ticketbell."
            )
        )
        note.setWordWrap(True)
        note.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(note)
        row = QHBoxLayout()
        self.badge = QLabel()
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        row.addWidget(self.badge)
        row.addWidget(self.summary, 1)
        layout.addLayout(row)
        self.list = QListWidget()
        self.list.setAccessibleName(_("Waiting tickets"))
        self.list.setWordWrap(True)  # a long subject wraps instead of hiding its time left
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setToolTip(
            _("Double-click a ticket (or press Enter) to open it; right-click for its actions.")
        )
        self.list.itemActivated.connect(self._activated)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        check = QPushButton(_("Check now"))
        check.clicked.connect(lambda: tray.agent.check_now())
        more = QPushButton(_("Menu"))
        more.setMenu(tray.menu)
        quit_ = QPushButton(_("Quit"))
        quit_.clicked.connect(tray.quit_requested.emit)
        for b in (check, more, quit_):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.resize(640, 480)  # most rows on one line, several sections in view
        self.tickets: list[WaitingTicket] = []
        self.now: datetime | None = None
        self.quitting = False

    def update_view(self, status: Status, icon: QIcon, tip: str, now: datetime) -> None:
        self.setWindowIcon(icon)
        self.badge.setPixmap(icon.pixmap(48, 48))
        self.summary.setText(tip)
        current = self._key_of(self.list.currentItem())  # kept across the refill, by ticket
        scrolled = self.list.verticalScrollBar().value()
        self.list.clear()
        self.tickets = []
        self.now = now
        sections, more = ticket_sections(status, self.tray.group_by, self.tray.pinned)
        for title, items in sections:
            header = QListWidgetItem(plain(title, 40))
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)  # not greyed out: a heading to read
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            self.list.addItem(header)
            for w in items:
                label = ticket_label(w, now, status.role == "owner", unbroken=True)
                item = QListWidgetItem(label)
                item.setData(Qt.ItemDataRole.UserRole, len(self.tickets))
                self.tickets.append(w)
                self.list.addItem(item)
        if more:
            text = ngettext(
                "{count} more… (double-click: all tickets)",
                "{count} more… (double-click: all tickets)",
                more,
            )
            item = QListWidgetItem(text.format(count=more))
            item.setData(Qt.ItemDataRole.UserRole, MORE_ROW)
            self.list.addItem(item)
        self._restore(current, scrolled)

    def _key_of(self, item: QListWidgetItem | None) -> str | None:
        """A ticket row's key; "" for the "N more…" row; None for a heading."""
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == MORE_ROW:
            return ""
        return ticket_key(self.ticket_of(item))

    def _restore(self, key: str | None, scrolled: int) -> None:
        """The keyboard's place and the scroll position, as they were before a refill."""
        items = (self.list.item(i) for i in range(self.list.count()))
        found = next((i for i in items if key is not None and self._key_of(i) == key), None)
        if found is not None:
            self.list.setCurrentItem(found)
        self.list.verticalScrollBar().setValue(scrolled)

    def ticket_of(self, item: QListWidgetItem | None) -> WaitingTicket | None:
        index = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if isinstance(index, int) and 0 <= index < len(self.tickets):
            return self.tickets[index]
        return None

    def _activated(self, item: QListWidgetItem) -> None:
        w = self.ticket_of(item)
        if w is not None:
            self.tray.open_ticket(w)
        elif item.data(Qt.ItemDataRole.UserRole) == MORE_ROW:
            self.tray.show_all_tickets()

    def _context_menu(self, pos: QPoint) -> QMenu | None:
        w = self.ticket_of(self.list.itemAt(pos))
        if w is None or self.now is None:
            return None
        menu = ticket_menu(self, w, self.now, self.tray)
        menu.popup(self.list.viewport().mapToGlobal(pos))
        return menu

    def closeEvent(self, event: Any) -> None:
        if self.isVisible() and not self.quitting:
            event.ignore()
            self.showMinimized()
        else:
            event.accept()
