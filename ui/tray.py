"""The tray icon, its tooltip and ticket menu, notifications, and the window used without a tray.

Everything here renders a :class:`~agent.model.Status` the agent published, on the main thread;
actions go back to the agent as commands (``check_now``, ``acknowledge``, ``snooze``).
Ticket subjects come from strangers: plain text only (no rich text or mnemonics, controls and
direction overrides removed, clipped); a ticket's URL opens only if safe_ticket_url allows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QCursor, QDesktopServices, QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from agent.config import Config, SourceConfig
from agent.model import (
    Alert,
    DueState,
    Health,
    Status,
    WaitingTicket,
    notification_text,
    one_line,
    utcnow,
)
from agent.policy import ticket_url
from ui import badge

log = logging.getLogger(__name__)

MENU_LIMIT = 20
SUBJECT_CHARS = 60
URGENT_KINDS = ("due_soon", "overdue", "escalated")


class AgentCommands(Protocol):
    def check_now(self, source: str | None = None) -> None: ...

    def acknowledge(self, source: str, ticket: str, release: bool = False) -> None: ...

    def snooze(self, source: str, ticket: str, minutes: float) -> None: ...

    def mute(self, until: datetime | None) -> None: ...


def plain(text: str, limit: int = SUBJECT_CHARS) -> str:
    """One line of plain text, at most ``limit`` characters (elided with "…")."""
    return one_line(text, limit)


def add_action(menu: QMenu, text: str) -> QAction:
    """A new action in ``menu``, made here: ``QMenu.addAction(text)``'s result can be a stale
    wrapper of a deleted object whose address the action reused (PySide's wrapper map)."""
    action = QAction(text, menu)
    menu.addAction(action)
    return action


def menu_text(text: str) -> str:
    """Text for a QAction: "&" would otherwise turn the next letter into a shortcut."""
    return text.replace("&", "&&")


def tip_text(text: str) -> str:
    """Text for a tooltip or notification, which Qt, tray hosts and notification servers render
    as rich text: look-alikes for < > & so no tag (``<img src=…>``) or entity is interpreted."""
    return text.replace("<", "‹").replace(">", "›").replace("&", "＆")


def human(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d"


def due_text(w: WaitingTicket, now: datetime) -> str:
    if w.due_at <= now:
        return f"overdue by {human(now - w.due_at)}"
    return f"{human(w.due_at - now)} left"


def ticket_label(w: WaitingTicket, now: datetime, show_assignee: bool = False) -> str:
    t = w.ticket
    parts = [plain(t.subject), f"{human(now - t.waiting_since)} old", due_text(w, now)]
    if show_assignee and w.state is DueState.OVERDUE:
        parts.append(plain(t.assignee, 30) if t.assignee else "unassigned")
    if w.stale:
        parts.append("not current")
    return "  ·  ".join(parts)


# --------------------------------------------------------------------------- URLs


def safe_ticket_url(url: str, source: SourceConfig | None) -> QUrl | None:
    """The URL to open for a ticket, or None when it must not be opened: the rule is
    :func:`agent.policy.ticket_url` (shared with escalation messages and `check --json`)."""
    allowed = ticket_url(url, source)
    if allowed is None:
        return None
    qurl = QUrl(allowed, QUrl.ParsingMode.StrictMode)
    return qurl if qurl.isValid() and qurl.scheme() in ("http", "https") else None


# --------------------------------------------------------------------------- menu model


def ticket_sections(
    status: Status,
    group_by: str = "category",
    pinned: Sequence[str] = (),
    limit: int = MENU_LIMIT,
) -> tuple[list[tuple[str, list[WaitingTicket]]], int]:
    """The menu's sections (title, tickets) and how many tickets did not fit.

    Escalated tickets (``pinned`` keys) come first; for the owner every overdue ticket comes
    next; the rest are grouped by category or source, each group and each ticket in due order.
    """
    tickets = sorted(status.tickets, key=lambda w: (w.due_at, w.ticket.waiting_since))
    sections: list[tuple[str, list[WaitingTicket]]] = []
    top = [w for w in tickets if w.ticket.key in pinned]
    if top:
        sections.append(("Escalated", top))
    rest = [w for w in tickets if w.ticket.key not in pinned]
    if status.role == "owner":
        overdue = [w for w in rest if w.state is DueState.OVERDUE]
        if overdue:
            sections.append(("Overdue", overdue))
        rest = [w for w in rest if w.state is not DueState.OVERDUE]
    groups: dict[str, list[WaitingTicket]] = {}
    for w in rest:
        name = w.ticket.source if group_by == "source" else (w.ticket.category or "Other")
        groups.setdefault(name, []).append(w)
    sections += list(groups.items())
    shown: list[tuple[str, list[WaitingTicket]]] = []
    room = limit
    for title, items in sections:
        if room <= 0:
            break
        shown.append((title, items[:room]))
        room -= len(items[:room])
    return shown, max(0, len(tickets) - (limit - room))


def tooltip(status: Status, now: datetime, sound_note: str = "") -> str:
    lines = []
    if status.blind:
        known = f"{status.waiting} known waiting" if status.waiting else "nothing known"
        known += f", {status.overdue} overdue" if status.overdue else ""  # never hidden
        lines.append(f"Ticketbell cannot see every helpdesk — {known}")
    else:
        extra = [f"{status.overdue} overdue"] if status.overdue else []
        extra += [f"{status.due_soon} due soon"] if status.due_soon else []
        lines.append(
            f"Ticketbell — {status.waiting} waiting" + (f" ({', '.join(extra)})" if extra else "")
        )
    cats = status.by_category()
    if cats:
        lines.append(" · ".join(f"{plain(c, 30)} {n}" for c, n in cats.items()))
    if len(status.sources) > 1:
        counts = status.by_source()  # "?" for a helpdesk not read that holds no known ticket
        unknown = {s.name for s in status.sources if s.stale and not counts.get(s.name)}
        tally = (f"{plain(n, 30)} {'?' if n in unknown else c}" for n, c in counts.items())
        lines.append(" · ".join(tally))
    upcoming = [w for w in status.tickets if w.due_at > now]
    if upcoming:
        w = min(upcoming, key=lambda x: x.due_at)
        lines.append(
            f"next due in {human(w.due_at - now)}, {plain(w.ticket.category or w.ticket.source)}"
        )
    for s in status.sources:
        if s.health == Health.SLOWED:
            lines.append(f"{plain(s.name, 40)}: {plain(s.message, 120)}")
        elif s.stale:
            why = s.message or ("not read yet" if s.health == Health.UNKNOWN else "failing")
            lines.append(f"cannot read {plain(s.name, 40)}: {plain(why, 120)}")
    lines += [plain(n, 160) for n in status.notices]
    if sound_note:
        lines.append(sound_note)
    return tip_text("\n".join(lines))


# --------------------------------------------------------------------------- the controller


def open_in_browser(url: QUrl) -> bool:
    return QDesktopServices.openUrl(url)


class Tray(QObject):
    """The tray icon (or, without a tray, the status window) and everything it shows.

    ``sound`` is a :class:`ui.sound.SoundPlayer`-like object (``play_for``, ``mute_for``,
    ``mute_until_tomorrow``, ``unmute``, ``note``); ``opener`` opens a checked URL.
    """

    settings_requested = Signal()
    quit_requested = Signal()
    log_folder_requested = Signal()

    def __init__(
        self,
        agent: AgentCommands,
        config: Config,
        sound: Any,
        *,
        tray_available: bool | None = None,
        opener: Callable[[QUrl], bool] = open_in_browser,
        notify_fallback: Callable[[str, str], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        group_by: str = "category",
        status: Status | None = None,
    ) -> None:
        super().__init__()
        self.agent = agent
        self.config = config
        self.sound = sound
        self.opener = opener
        self.clock = clock
        self.group_by = group_by
        self.status = status or Status(clock(), role=config.role)
        self.pinned: list[str] = []  # escalated tickets, shown first
        self.last_burst: tuple[Alert, ...] = ()
        self.notify_fallback = notify_fallback or plyer_notify
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        if tray_available is None:
            tray_available = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray: QSystemTrayIcon | None = None
        self.window: StatusWindow | None = None
        if tray_available:
            self.tray = QSystemTrayIcon()
            self.tray.setContextMenu(self.menu)
            self.tray.activated.connect(self._activated)
            self.tray.messageClicked.connect(self.message_clicked)
        else:
            self.window = StatusWindow(self)
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(30_000)  # ages, time left and the mute countdown
        self.refresh_timer.timeout.connect(self.refresh)
        self.refresh_timer.start()
        self.show_status(self.status)

    def show(self) -> None:
        if self.tray is not None:
            self.tray.show()
        elif self.window is not None:
            self.window.show()

    def hide(self) -> None:
        self.refresh_timer.stop()
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.quitting = True
            self.window.close()

    # -- slots for the bridge

    def show_status(self, status: Status) -> None:
        """Render what the agent keeps: its tickets, its pins (escalated tickets first) and
        its mute, which the sound player follows."""
        self.status = status
        self.pinned = list(status.pinned)
        now = self.clock()
        if status.muted_until is None and self.sound.muted(now):
            self.sound.unmute()
        elif status.muted_until is not None and self.sound.muted_until() != status.muted_until:
            self.sound.mute_for(status.muted_until - now, now)
        self.refresh()

    def show_alerts(self, alerts: tuple[Alert, ...]) -> None:
        for a in alerts:  # shown first at once; the agent's next status keeps the pin
            if a.kind == "escalated" and a.tickets and a.tickets[0].ticket.key not in self.pinned:
                self.pinned.insert(0, a.tickets[0].ticket.key)
        self.sound.play_for(alerts)
        text = notification_text(alerts)
        if text is None:
            self.refresh()
            return
        self.last_burst = tuple(a for a in alerts if a.url)
        title, body = tip_text(text[0]), tip_text(text[1])
        urgent = any(a.kind in ("overdue", "escalated") for a in alerts)
        if self.tray is not None and self.tray.supportsMessages():
            kind = QSystemTrayIcon.MessageIcon
            self.tray.showMessage(title, body, kind.Critical if urgent else kind.Information, 5000)
        else:
            self.notify_fallback(title, body)
        self.refresh()

    def refresh(self) -> None:
        now = self.clock()
        icon = badge.status_icon(self.status)
        tip = tooltip(self.status, now, self.sound.note(now))
        if self.tray is not None:
            self.tray.setIcon(icon)
            self.tray.setToolTip(tip)
        if self.window is not None:
            self.window.update_view(self.status, icon, tip, now)
        if not self.menu.isVisible():
            self.rebuild_menu()

    # -- actions

    def open_ticket(self, w: WaitingTicket) -> bool:
        return self.open_url(w.ticket.url, w.ticket.source)

    def open_url(self, url: str, source_name: str) -> bool:
        try:
            source = self.config.source(source_name)
        except KeyError:
            source = None
        qurl = safe_ticket_url(url, source)
        if qurl is None:
            log.warning(
                "not opening %r for %s: not an http(s) link on the helpdesk's own site",
                plain(url, 200),
                source_name,
            )
            return False
        return bool(self.opener(qurl))

    def message_clicked(self) -> None:
        """A click on the last notification: its ticket, or the menu when there were several."""
        if len(self.last_burst) == 1:
            a = self.last_burst[0]
            self.open_url(a.url, a.source)
        else:
            self.popup()

    def popup(self) -> None:
        if self.window is not None:
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()
        else:
            self.rebuild_menu()
            self.menu.popup(QCursor.pos())

    def set_group_by(self, value: str) -> None:
        self.group_by = value
        self.rebuild_menu()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.MiddleClick,
        ):
            self.popup()

    # -- the menu

    def rebuild_menu(self) -> None:
        menu = self.menu
        for sub in menu.findChildren(QMenu):  # addMenu()'s menus outlive clear(): one per ticket
            sub.deleteLater()  # each rebuild, the idle tray grew by about 70 KB a second
        menu.clear()
        now = self.clock()
        self._add_status_lines(menu, self.status)
        shown = self._add_ticket_sections(menu, self.status, now)
        if shown:
            self._add_ticket_actions(menu, shown)
        menu.addSeparator()
        add_action(menu, "Check now").triggered.connect(lambda: self.agent.check_now())
        self._add_mute_actions(menu, now)
        self._add_group_by(menu)
        menu.addSeparator()
        add_action(menu, "Settings…").triggered.connect(self.settings_requested.emit)
        add_action(menu, "Open log folder").triggered.connect(self.log_folder_requested.emit)
        add_action(menu, "About").triggered.connect(self._about)
        add_action(menu, "Quit").triggered.connect(self.quit_requested.emit)

    def _add_status_lines(self, menu: QMenu, status: Status) -> None:
        """Notices, each source that cannot be read or is slowed down, and the count."""
        for note in status.notices:
            self._info(menu, "⚠ " + plain(note, 90))
        for s in status.sources:
            if s.health == Health.SLOWED:
                self._info(menu, f"{plain(s.name, 30)}: {plain(s.message, 70)}")
            elif s.stale:
                why = s.message or "not read yet"
                self._info(menu, f"Cannot read {plain(s.name, 30)}: {plain(why, 70)}")
            if s.sign_in:  # Settings has the Sign in… button of the source
                action = add_action(menu, menu_text(f"Sign in to {plain(s.name, 30)}…"))
                action.triggered.connect(self.settings_requested.emit)
        if status.blind:
            head = f"{status.waiting} known waiting (not every helpdesk could be read)"
        elif status.waiting:
            head = f"{status.waiting} waiting"
        else:
            head = "Nothing waiting"
        self._info(menu, head)

    def _add_ticket_sections(
        self, menu: QMenu, status: Status, now: datetime
    ) -> list[WaitingTicket]:
        """The waiting tickets by section; returns those shown."""
        sections, more = ticket_sections(status, self.group_by, self.pinned)
        owner = status.role == "owner"
        shown: list[WaitingTicket] = []
        for title, items in sections:
            menu.addSection(menu_text(plain(title, 40)))
            for w in items:
                action = add_action(menu, menu_text(ticket_label(w, now, owner)))
                action.setData(w.ticket.key)
                action.triggered.connect(lambda _=False, w=w: self.open_ticket(w))
                shown.append(w)
        if more:
            rest = sorted(status.tickets, key=lambda w: w.due_at)[-1]
            action = add_action(menu, f"{more} more…")
            action.triggered.connect(lambda _=False, w=rest: self._open_helpdesk(w))
        return shown

    def _add_ticket_actions(self, menu: QMenu, shown: list[WaitingTicket]) -> None:
        acts = menu.addMenu("I'm on it / snooze")
        for w in shown:
            sub = acts.addMenu(menu_text(plain(w.ticket.subject, 40)))
            add_action(sub, "I'm on it").triggered.connect(
                lambda _=False, w=w: self.agent.acknowledge(w.ticket.source, w.ticket.id)
            )
            for minutes in (15, 30, 60):
                add_action(sub, f"Snooze {minutes} min").triggered.connect(
                    lambda _=False, w=w, m=minutes: self.agent.snooze(
                        w.ticket.source, w.ticket.id, m
                    )
                )

    def _add_mute_actions(self, menu: QMenu, now: datetime) -> None:
        note = self.sound.note(now)
        add_action(menu, "Mute for 15 min").triggered.connect(
            lambda: self._mute(timedelta(minutes=15))
        )
        add_action(menu, "Mute for 1 h").triggered.connect(lambda: self._mute(timedelta(hours=1)))
        add_action(menu, "Mute until tomorrow").triggered.connect(self._mute_tomorrow)
        unmute = add_action(menu, f"Unmute ({note})" if note else "Unmute")
        unmute.setEnabled(bool(self.sound.muted(now)))
        unmute.triggered.connect(self._unmute)

    def _add_group_by(self, menu: QMenu) -> None:
        group = menu.addMenu("Group tickets by")
        choice = QActionGroup(group)
        for value, label in (("category", "Category"), ("source", "Helpdesk")):
            act = QAction(label, group, checkable=True)
            act.setChecked(self.group_by == value)
            act.triggered.connect(lambda _=False, v=value: self.set_group_by(v))
            choice.addAction(act)
            group.addAction(act)

    @staticmethod
    def _info(menu: QMenu, text: str) -> None:
        action = add_action(menu, menu_text(text))
        action.setEnabled(False)

    def _open_helpdesk(self, w: WaitingTicket) -> None:
        parts = urlsplit(w.ticket.url)
        if parts.scheme and parts.netloc:
            self.open_url(f"{parts.scheme}://{parts.netloc}/", w.ticket.source)

    def _mute(self, span: timedelta) -> None:
        self.sound.mute_for(span, self.clock())
        self.agent.mute(self.sound.muted_until())  # the agent keeps it (across restarts)
        self.refresh()

    def _mute_tomorrow(self) -> None:
        self.sound.mute_until_tomorrow(self.clock())
        self.agent.mute(self.sound.muted_until())
        self.refresh()

    def _unmute(self) -> None:
        self.sound.unmute()
        self.agent.mute(None)
        self.refresh()

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from agent import __version__

        QMessageBox.about(
            None,
            "About Ticketbell",
            f"Ticketbell {__version__}\nRings when helpdesk tickets wait for a reply.\n"
            "Open source (MIT).",
        )


def plyer_notify(title: str, body: str) -> None:
    """A desktop notification without a tray icon (plyer), off the main thread."""

    def send() -> None:
        try:
            from plyer import notification

            notification.notify(title=title, message=body, app_name="Ticketbell", timeout=10)
        except Exception as exc:  # noqa: BLE001 - plyer raises anything without a desktop
            log.warning("desktop notification failed: %s", exc)

    threading.Thread(target=send, name="ticketbell-notify", daemon=True).start()


class StatusWindow(QWidget):
    """Shown when the desktop has no system tray: the same badge, list and actions."""

    def __init__(self, tray: Tray) -> None:
        super().__init__()
        self.tray = tray
        self.setWindowTitle("Ticketbell")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, False)
        layout = QVBoxLayout(self)
        note = QLabel(
            "This desktop has no system tray, so Ticketbell lives in this window. "
            "Closing it minimises it; use Quit to stop Ticketbell."
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
        self.list.setWordWrap(True)  # a long subject wraps instead of hiding its time left
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setToolTip("Double-click a ticket (or press Enter) to open it in the browser.")
        self.list.itemActivated.connect(self._activated)
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        check = QPushButton("Check now")
        check.clicked.connect(lambda: tray.agent.check_now())
        more = QPushButton("Menu")
        more.setMenu(tray.menu)
        quit_ = QPushButton("Quit")
        quit_.clicked.connect(tray.quit_requested.emit)
        for b in (check, more, quit_):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.resize(560, 420)
        self.tickets: list[WaitingTicket] = []
        self.quitting = False

    def update_view(self, status: Status, icon: QIcon, tip: str, now: datetime) -> None:
        self.setWindowIcon(icon)
        self.badge.setPixmap(icon.pixmap(48, 48))
        self.summary.setText(tip)
        self.list.clear()
        self.tickets = []
        sections, more = ticket_sections(status, self.tray.group_by, self.tray.pinned)
        for title, items in sections:
            header = QListWidgetItem(plain(title, 40))
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)  # not greyed out: a heading to read
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            self.list.addItem(header)
            for w in items:
                item = QListWidgetItem(ticket_label(w, now, status.role == "owner"))
                item.setData(Qt.ItemDataRole.UserRole, len(self.tickets))
                self.tickets.append(w)
                self.list.addItem(item)
        if more:
            self.list.addItem(QListWidgetItem(f"{more} more…"))

    def _activated(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(index, int) and 0 <= index < len(self.tickets):
            self.tray.open_ticket(self.tickets[index])

    def closeEvent(self, event: Any) -> None:
        if self.tray.tray is None and self.isVisible() and not self.quitting:
            event.ignore()
            self.showMinimized()
        else:
            event.accept()
