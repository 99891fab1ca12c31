"""The tray icon with its badge, tooltip and menu, and what its notifications' buttons do.

Everything here renders a :class:`~agent.model.Status` the agent published, on the main thread;
actions go back to the agent as commands (``check_now``, ``acknowledge``, ``snooze``, ``mute``).
The menu and its words are :mod:`ui.menu`; the windows listing tickets are
:mod:`ui.ticket_list`; notifications go through :mod:`ui.notifications` (the desktop's
notification service, with buttons), else the tray's own messages, else plyer. A ticket's URL
opens only if :func:`safe_ticket_url` allows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore  # QtCore.Qt where used: its ~120 enums are made on first access
from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtGui import QCursor, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agent.config import Config, SourceConfig
from agent.i18n import _, ngettext
from agent.model import Alert, Status, WaitingTicket, claimed_question, utcnow, watching_text
from agent.policy import ticket_url
from ui import badge
from ui.menu import (
    MENU_LIMIT,
    AgentCommands,
    add_action,
    add_group_by,
    add_mute_menu,
    add_source_errors,
    add_ticket_rows,
    clock_time,
    column_height,
    info,
    known_waiting,
    plain,
    ticket_sections,
    tooltip,
)
from ui.notifications import SNOOZE_MINUTES, DesktopNotifier, Notice, confirmation, notice_for

if TYPE_CHECKING:  # the windows' module is imported when one is first shown
    from ui.ticket_list import StatusWindow, TicketListWindow

log = logging.getLogger(__name__)

#: a tray host that draws the menu itself (a StatusNotifierItem's dbusmenu) makes rows taller
#: than Qt's: 25 px against 22 in XFCE 4.18's panel (GNOME's and KDE's not measured)
HOST_ROWS = 1.15

__all__ = ["Tray", "plain", "safe_ticket_url"]


def safe_ticket_url(url: str, source: SourceConfig | None) -> QUrl | None:
    """The URL to open for a ticket, or None when it must not be opened: the rule is
    :func:`agent.policy.ticket_url` (shared with escalation messages and `check --json`)."""
    allowed = ticket_url(url, source)
    if allowed is None:
        return None
    qurl = QUrl(allowed, QUrl.ParsingMode.StrictMode)
    return qurl if qurl.isValid() and qurl.scheme() in ("http", "https") else None


def ask_yes_no(question: str) -> bool:
    from PySide6.QtWidgets import QMessageBox

    yes = QMessageBox.StandardButton.Yes
    return QMessageBox.question(None, "Ticketbell", question) == yes


def open_in_browser(url: QUrl) -> bool:
    return QDesktopServices.openUrl(url)


def available_height() -> int:
    """The height a menu may take: the screen under the pointer, less panels and docks."""
    screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
    return screen.availableGeometry().height() if screen is not None else 720


class Tray(QObject):
    """The tray icon (or, without a tray, the status window) and everything it shows.

    ``sound`` is a :class:`ui.sound.SoundPlayer`-like object (``play_for``, ``mute_for``,
    ``mute_until_tomorrow``, ``unmute``, ``note``); ``opener`` opens a checked URL;
    ``notifier`` sends notifications with buttons (None: the tray's messages, or plyer).
    ``menu_later``: the menu is first built by :meth:`rebuild_menu` (the app calls it once the
    icon is up; opening the menu builds it too), not by the constructor: measuring it makes Qt
    load its fonts, and it needs Qt's namespace of enums (``QtCore.Qt``), whose creation alone
    takes about 20 ms (bench/README.md, start to tray icon).
    """

    settings_requested = Signal()
    source_settings_requested = Signal(str)  # the settings, at this helpdesk
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
        notifier: DesktopNotifier | None = None,
        clock: Callable[[], datetime] = utcnow,
        screen_height: Callable[[], int] = available_height,
        group_by: str = "category",
        status: Status | None = None,
        menu_later: bool = False,
    ) -> None:
        super().__init__()
        self.agent = agent
        self.config = config
        self.sound = sound
        self.opener = opener
        self.ask: Callable[[str], bool] = ask_yes_no
        self.clock = clock
        self.screen_height = screen_height
        self.group_by = group_by
        self.status = status or Status(clock(), role=config.role)
        self.pinned: list[str] = []  # escalated tickets, shown first
        self.notices: dict[int, Notice] = {}  # notifications on screen, by the server's id
        self.last_notice: Notice | None = None  # the last shown by the tray itself
        self.notify_fallback = notify_fallback or plyer_notify
        self.notifier = notifier
        if notifier is not None:
            notifier.shown.connect(self._shown)
            notifier.closed.connect(self._closed)
            notifier.invoked.connect(self.notification_action)
            notifier.failed.connect(self._show_without_server)
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self._menu_later = menu_later  # no menu built until rebuild_menu() is called
        self._menu_readable = False  # readable_info_rows(self.menu) done (at the first build)
        self.ticket_list: TicketListWindow | None = None
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
            from ui.ticket_list import StatusWindow

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
        if self.notifier is not None:
            self.notifier.stop()
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.quitting = True
            self.window.close()
        if self.ticket_list is not None:
            self.ticket_list.close()

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
        self._close_answered(status)
        self.refresh()

    def _close_answered(self, status: Status) -> None:
        """Take back the notifications whose tickets no longer wait (answered, closed): an
        overdue one stays until dismissed, and must not outlive its reason."""
        if self.notifier is None:
            return
        waiting = {(w.ticket.source, w.ticket.id) for w in status.tickets}
        for nid, notice in list(self.notices.items()):
            if notice.keys and not notice.keys & waiting:
                self.notifier.close(nid)
                del self.notices[nid]

    def show_alerts(self, alerts: tuple[Alert, ...]) -> None:
        for a in alerts:  # shown first at once; the agent's next status keeps the pin
            if a.kind == "escalated" and a.tickets and a.tickets[0].ticket.key not in self.pinned:
                self.pinned.insert(0, a.tickets[0].ticket.key)
        self.sound.play_for(alerts)
        notice = notice_for(alerts)
        if notice is not None:
            self.notify(notice)
        self.refresh()

    def notify(self, notice: Notice) -> None:
        """Show ``notice``: replacing the notification of the same tickets, if one shows."""
        if self.notifier is None:
            self._show_without_server(notice)
            return
        replaces = next(
            (nid for nid, n in self.notices.items() if n.keys and n.keys <= notice.keys), 0
        )
        self.notifier.send(notice, replaces)

    def _show_without_server(self, notice: Notice) -> None:
        """No notification service (Windows, macOS, or none running): the tray's own message,
        with the badge as its icon (a message icon would replace the badge while it shows);
        a click on it is :meth:`message_clicked`. No tray either: plyer, which cannot be
        clicked."""
        self.last_notice = notice
        if self.tray is not None and self.tray.supportsMessages():
            icon = badge.status_icon(self.status, self.sound.muted(self.clock()))
            self.tray.showMessage(notice.title, notice.body, icon, 15_000)
        else:
            self.notify_fallback(notice.title, notice.body)

    def refresh(self) -> None:
        now = self.clock()
        icon = badge.status_icon(self.status, self.sound.muted(now))
        tip = tooltip(self.status, now, self.sound.note(now))
        if self.tray is not None:
            self.tray.setIcon(icon)
            self.tray.setToolTip(tip)
        if self.window is not None:
            self.window.update_view(self.status, icon, tip, now)
        if self.ticket_list is not None and self.ticket_list.isVisible():
            self.ticket_list.update_view(self.status, now)
        if not self._menu_later and not self.menu.isVisible():
            self.rebuild_menu()

    # -- actions

    def open_ticket(self, w: WaitingTicket) -> bool:
        if w.claimed_by and not self.ask(claimed_question(w)):
            return False  # a team member is on it and the person chose not to open it too
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

    def open_notice(self, notice: Notice) -> None:
        """A click on a notification: its ticket, the list when it names several, or the
        settings of the helpdesk it is about."""
        if len(notice.tickets) == 1:
            ref = notice.tickets[0]
            self.open_url(ref.url, ref.source)
        elif notice.tickets:
            self.show_all_tickets()
        elif notice.source:
            self.source_settings_requested.emit(notice.source)
        else:
            self.popup()

    def _shown(self, notification_id: int, notice: Notice) -> None:
        self.notices[notification_id] = notice

    def _closed(self, notification_id: int) -> None:
        self.notices.pop(notification_id, None)

    def message_clicked(self) -> None:
        """A click on the tray's own message (no notification service)."""
        if self.last_notice is not None:
            self.open_notice(self.last_notice)

    def notification_action(self, notification_id: int, key: str) -> None:
        """A button of a notification (or a click on it, ``default``) was pressed."""
        notice = self.notices.get(notification_id)
        if notice is None:
            return  # another program's, or from before a restart
        if key in ("default", "open"):
            self.open_notice(notice)
            return
        for ref in notice.tickets:
            if key == "ack":
                self.agent.acknowledge(ref.source, ref.id)
            elif key == "snooze":
                self.agent.snooze(ref.source, ref.id, SNOOZE_MINUTES)
            elif key == "undo" and notice.undo == "ack":
                self.agent.acknowledge(ref.source, ref.id, release=True)
            elif key == "undo" and notice.undo == "snooze":
                self.agent.snooze(ref.source, ref.id, 0)
        if key in ("ack", "snooze") and self.notifier is not None:
            until = self.clock() + timedelta(minutes=SNOOZE_MINUTES)
            done = confirmation(notice, key, clock_time(until))
            self.notifier.send(done, notification_id)  # in place of the one answered
        self.agent.check_now()  # the new state shows at once

    def popup(self) -> None:
        if self.window is not None:
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()
        else:
            self.rebuild_menu()
            self.menu.popup(QCursor.pos())

    def show_all_tickets(self) -> None:
        """The window listing every waiting ticket, sortable and filterable."""
        if self.ticket_list is None:
            from ui.ticket_list import TicketListWindow

            self.ticket_list = TicketListWindow(self)
        self.ticket_list.update_view(self.status, self.clock())
        self.ticket_list.showNormal()
        self.ticket_list.raise_()
        self.ticket_list.activateWindow()

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
        """The menu, in one column on this screen: as many ticket rows as fit (at most
        MENU_LIMIT), measured on the menu itself (Qt would add columns, off the screen's side
        on a 720 px laptop); the most that fit is found by halving."""
        self._menu_later = False
        if not self._menu_readable:
            from ui.access import readable_info_rows  # its widgets' types: with the first menu

            readable_info_rows(self.menu)
            self._menu_readable = True
        if self._fits(MENU_LIMIT):
            return
        fits, too_many = 0, MENU_LIMIT
        while too_many - fits > 1:
            middle = (fits + too_many) // 2
            if self._fits(middle):
                fits = middle
            else:
                too_many = middle
        self._build_menu(fits)

    def _fits(self, limit: int) -> bool:
        self._build_menu(limit)
        return round(column_height(self.menu) * HOST_ROWS) <= self.screen_height()

    def _build_menu(self, limit: int) -> int:
        menu = self.menu
        direct = QtCore.Qt.FindChildOption.FindDirectChildrenOnly
        for sub in menu.findChildren(QMenu, options=direct):
            sub.deleteLater()  # clear() keeps submenus: each rebuild would add ~20 more
        menu.clear()
        now, status = self.clock(), self.status
        add_source_errors(menu, status, self.source_settings_requested.emit)
        info(menu, self._headline(status))
        if status.role == "owner" and status.watching:
            info(menu, watching_text(status.watching))
        sections, more = ticket_sections(status, self.group_by, self.pinned, limit)
        accents = {s.name: s.accent for s in self.config.sources if s.accent}
        add_ticket_rows(menu, sections, now, self, status.role == "owner", accents)
        if more:
            more_text = ngettext("{count} more…", "{count} more…", more).format(count=more)
            add_action(menu, more_text).triggered.connect(self.show_all_tickets)
        menu.addSeparator()
        add_action(menu, _("Check now")).triggered.connect(lambda: self.agent.check_now())
        add_mute_menu(menu, self.sound.note(now), bool(self.sound.muted(now)), self._mute)
        add_group_by(menu, self.group_by, self.set_group_by)
        menu.addSeparator()
        add_action(menu, _("Settings…")).triggered.connect(self.settings_requested.emit)
        add_action(menu, _("Dashboard…")).triggered.connect(self._open_dashboard)
        add_action(menu, _("Open log folder")).triggered.connect(self.log_folder_requested.emit)
        add_action(menu, _("About")).triggered.connect(self._about)
        add_action(menu, _("Quit")).triggered.connect(self.quit_requested.emit)
        return sum(len(items) for _, items in sections)

    def _open_dashboard(self) -> None:
        from ui.dashboard import open_dashboard  # QtCharts and the charts: when first opened

        open_dashboard(self)

    @staticmethod
    def _headline(status: Status) -> str:
        n, late = status.waiting, status.overdue
        if not n and not status.blind:
            return _("Nothing waiting")
        if status.blind:  # never "0": a helpdesk not read may have customers waiting
            text = known_waiting(n, first=True)
        else:
            text = ngettext("{count} waiting", "{count} waiting", n).format(count=n)
        if late:
            text += ", " + ngettext("{count} overdue", "{count} overdue", late).format(count=late)
        if status.blind:
            return _("{counts} (not every helpdesk could be read)").format(counts=text)
        return text

    def _mute(self, choice: str) -> None:
        """ "15m", "1h", "tomorrow" or "off"; the agent keeps it (across restarts)."""
        now = self.clock()
        if choice == "off":
            self.sound.unmute()
        elif choice == "tomorrow":
            self.sound.mute_until_tomorrow(now)
        else:
            self.sound.mute_for(timedelta(minutes=15 if choice == "15m" else 60), now)
        self.agent.mute(self.sound.muted_until())
        self.refresh()

    def _about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from agent import __version__

        QMessageBox.about(
            None,
            _("About Ticketbell"),
            f"Ticketbell {__version__}\n"
            + _("Rings when helpdesk tickets wait for a reply.\nOpen source (MIT)."),
        )


def plyer_notify(title: str, body: str) -> None:
    """A desktop notification without a tray icon or a notification service (plyer), off the
    main thread. It cannot be clicked."""

    def send() -> None:
        try:
            from plyer import notification

            notification.notify(title=title, message=body, app_name="Ticketbell", timeout=10)
        except Exception as exc:  # noqa: BLE001 - plyer raises anything without a desktop
            log.warning("desktop notification failed: %s", exc)

    threading.Thread(target=send, name="ticketbell-notify", daemon=True).start()
