"""Desktop notifications with buttons, through the freedesktop notification service on D-Bus.

Why not ``QSystemTrayIcon.showMessage``: under a StatusNotifierItem tray it swaps the badge for a
light bulb or a "no entry" sign while the message shows, it offers no buttons, and GNOME shows
no banner for its urgency. Here every notification carries **Open**, **I'm on it** and
**Snooze 15 min** (a click on it opens the ticket), new and due-soon tickets are sent with normal
urgency, overdue ones and escalations as critical and resident (they stay until dismissed), and
an update of the same tickets replaces its notification (``replaces_id``).

The protocol is the Desktop Notifications Specification 1.2
(https://specifications.freedesktop.org/notification-spec/latest/): ``Notify`` (signature
``susssasa{sv}i``) returns the id; the server emits ``ActionInvoked(id, action_key)`` (the key
``default`` for a click on the notification) and ``NotificationClosed(id, reason)``.

:func:`notice_for` and :func:`notify_message` are pure (what to say, the D-Bus message);
:class:`DesktopNotifier` talks to the bus on its own thread (``ticketbell-notify``: the bus may
be slow, the Qt main thread must not wait for it) and reports back by Qt signals, which Qt
delivers on the main thread. Where no notification service answers (Windows, macOS, a desktop
without one) :attr:`DesktopNotifier.failed` hands the notice back, and the tray shows it with
``showMessage`` instead, the badge as its icon: there it has no buttons, a click while it shows
is ``messageClicked``; Windows toasts clicked later in the Action Center (which need a COM
activator registered with the AppUserModelID) and macOS's UNUserNotificationCenter are not done.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from PySide6.QtCore import QObject, Signal

from agent.i18n import N_, _, ngettext
from agent.model import Alert, notification_text

if TYPE_CHECKING:  # jeepney is imported by the notifier's thread, when it first sends
    from jeepney import MatchRule, Message

log = logging.getLogger(__name__)


class BusObject(NamedTuple):
    """A D-Bus object as jeepney's ``new_method_call`` reads it (its ``DBusAddress``'s fields)."""

    object_path: str
    bus_name: str
    interface: str


NOTIFICATIONS = BusObject(
    "/org/freedesktop/Notifications",
    bus_name="org.freedesktop.Notifications",
    interface="org.freedesktop.Notifications",
)
APP_NAME = "Ticketbell"
DESKTOP_ENTRY = "ticketbell"  # the .desktop file's name: servers take the app's icon from it
URGENCY_NORMAL, URGENCY_CRITICAL = 1, 2
SNOOZE_MINUTES = 15
#: the action keys and their labels (``default`` is a click on the notification itself),
#: translated when a notice is made (:func:`ticket_actions`)
TICKET_ACTIONS = (
    ("default", N_("Open")),
    ("open", N_("Open")),
    ("ack", N_("I'm on it")),
    ("snooze", N_("Snooze {minutes} min")),
)
SOURCE_KINDS = ("source_down", "escalated")  # alerts about a helpdesk, not a ticket
MOST_FOR_BUTTONS = 5  # tickets a notice's I'm on it / Snooze act on at once
CALL_TIMEOUT = 5.0  # seconds to wait for the notification server's answer


@dataclass(frozen=True, slots=True)
class TicketRef:
    """A ticket a notification is about: what its buttons act on."""

    source: str
    id: str
    url: str = ""
    subject: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification: what it says, how urgent it is, and what its buttons act on.

    ``tickets`` empty and ``source`` set: a helpdesk cannot be read (a click opens its
    settings). ``actions`` are (key, label) pairs; ``undo`` names what an Undo button undoes
    ("ack" or "snooze") in a confirmation.
    """

    title: str
    body: str
    critical: bool = False
    tickets: tuple[TicketRef, ...] = ()
    source: str = ""
    actions: tuple[tuple[str, str], ...] = ()
    undo: str = ""

    @property
    def keys(self) -> frozenset[tuple[str, str]]:
        return frozenset((t.source, t.id) for t in self.tickets)


def rich_safe(text: str) -> str:
    """Servers may render the body as markup: look-alikes for < > & so none is interpreted."""
    return text.replace("<", "‹").replace(">", "›").replace("&", "＆")


def notice_for(alerts: tuple[Alert, ...] | list[Alert]) -> Notice | None:
    """The notification for a burst of alerts (None: nothing to show), with the tickets its
    buttons act on: those the title speaks of (the overdue ones when some are).

    A first sync's ``summary`` is normal urgency even with overdue tickets in it (it is one
    notice for everything found at start, not an alarm); a notice about more than
    :data:`MOST_FOR_BUTTONS` tickets offers Open (the list) only: one click must not claim or
    snooze a whole helpdesk.
    """
    alerts = [a for a in alerts if not a.hold]  # held by the quiet rules (agent/quiet.py)
    text = notification_text(alerts)
    if text is None:
        return None
    title, body = rich_safe(text[0]), rich_safe(text[1])
    kinds = {a.kind for a in alerts}
    critical = bool(kinds & {"overdue", "escalated"}) and "summary" not in kinds
    tickets = _tickets_of(alerts, kinds)
    if len(tickets) > MOST_FOR_BUTTONS:
        return Notice(title, body, critical, tickets, actions=(("default", _("Open")),))
    if tickets:
        return Notice(title, body, critical, tickets, actions=ticket_actions())
    # a helpdesk that cannot be read (its escalation has no ticket): a click opens its
    # settings; a reminder: the menu
    about = next((a.source for a in alerts if a.kind in SOURCE_KINDS and not a.ticket), "")
    return Notice(title, body, critical, source=about, actions=(("default", _("Open")),))


def ticket_actions() -> tuple[tuple[str, str], ...]:
    """:data:`TICKET_ACTIONS` in the person's language."""
    return tuple((key, _(label).format(minutes=SNOOZE_MINUTES)) for key, label in TICKET_ACTIONS)


def _tickets_of(alerts: tuple[Alert, ...] | list[Alert], kinds: set[str]) -> tuple[TicketRef, ...]:
    if "summary" in kinds:
        found = [w.ticket for a in alerts if a.kind == "summary" for w in a.tickets]
        refs = (TicketRef(t.source, t.id, t.url, t.subject) for t in found)
        return tuple(dict.fromkeys(refs))
    if kinds & {"overdue", "escalated"}:
        chosen = [a for a in alerts if a.kind in ("overdue", "escalated") and a.ticket]
    else:
        wanted = next((k for k in ("due_soon", "new") if k in kinds), "")
        chosen = [a for a in alerts if a.kind == wanted and a.ticket]
    return tuple(dict.fromkeys(TicketRef(a.source, a.ticket, a.url, a.subject) for a in chosen))


def confirmation(notice: Notice, what: str, until: str = "") -> Notice:
    """What replaces a notification once its "I'm on it" or snooze button was pressed: what
    happened, with an Undo button."""
    subjects = ", ".join(t.subject for t in notice.tickets[:2]) or notice.title
    rest = len(notice.tickets) - 2
    if rest > 0:
        more = ngettext("{subjects} and {count} more", "{subjects} and {count} more", rest)
        subjects = more.format(subjects=subjects, count=rest)
    title = _("You're on it") if what == "ack" else _("Snoozed until {time}").format(time=until)
    return Notice(
        title,
        rich_safe(subjects),
        tickets=notice.tickets,
        actions=(("default", _("Open")), ("undo", _("Undo"))),
        undo=what,
    )


def notify_message(notice: Notice, replaces_id: int = 0, icon: str = "") -> Message:
    """The ``Notify`` call for ``notice`` (replacing notification ``replaces_id`` if not 0)."""
    actions = [part for key, label in notice.actions for part in (key, label)]
    hints: dict[str, tuple[str, Any]] = {
        "urgency": ("y", URGENCY_CRITICAL if notice.critical else URGENCY_NORMAL),
        "desktop-entry": ("s", DESKTOP_ENTRY),
        "category": ("s", "im.received"),
    }
    if notice.critical:
        hints["resident"] = ("b", True)  # stays after a button is pressed, until dismissed
    timeout = 0 if notice.critical else -1  # 0: never expires; -1: the server's default
    from jeepney import new_method_call

    return new_method_call(
        NOTIFICATIONS,
        "Notify",
        "susssasa{sv}i",
        (APP_NAME, replaces_id, icon, notice.title, notice.body, actions, hints, timeout),
    )


def close_message(notification_id: int) -> Message:
    from jeepney import new_method_call

    return new_method_call(NOTIFICATIONS, "CloseNotification", "u", (notification_id,))


def signals_rule() -> MatchRule:
    """The server's signals (``ActionInvoked``, ``NotificationClosed``) for our match."""
    from jeepney import MatchRule

    return MatchRule(
        type="signal", interface=NOTIFICATIONS.interface, path=NOTIFICATIONS.object_path
    )


def session_bus_reachable() -> bool:
    """Whether to try D-Bus at all: Linux and the BSDs with a session bus; never Windows or
    macOS, where the tray's own messages are the platform's notifications."""
    if sys.platform.startswith(("win", "darwin")):
        return False
    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS") or os.environ.get("XDG_RUNTIME_DIR"))


class DesktopNotifier(QObject):
    """Sends notices to the notification server and reports what people do with them.

    ``shown(id, notice)`` once the server took one, ``invoked(id, action_key)`` when a button
    or the notification was clicked, ``closed(id)`` when it went away, ``failed(notice)`` when
    no server took it (show it another way). Signals are emitted on the notifier's thread and
    delivered on the thread this object lives in (the main thread).
    """

    shown = Signal(int, object)
    invoked = Signal(int, str)
    closed = Signal(int)
    failed = Signal(object)

    def __init__(self, bus: str = "SESSION", icon: str = "") -> None:
        super().__init__()
        self.bus = bus
        self.icon = icon
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.available: bool | None = None  # None: not tried yet
        self._thread: threading.Thread | None = None
        self.stopped = False

    def send(self, notice: Notice, replaces_id: int = 0) -> None:
        if self.stopped:
            return  # quitting: what the agent says while it stops is not shown
        self._start()
        self.inbox.put(("notify", notice, replaces_id))

    def close(self, notification_id: int) -> None:
        if self._thread is not None:
            self.inbox.put(("close", notification_id))

    def stop(self) -> None:
        self.stopped = True
        if self._thread is not None:
            self.inbox.put(None)
            self._thread.join(1.0)
            self._thread = None

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ticketbell-notify", daemon=True)
            self._thread.start()

    # -- on the notifier's thread

    def _run(self) -> None:
        from jeepney.bus_messages import message_bus
        from jeepney.io.threading import DBusRouter, Proxy, open_dbus_connection

        router = conn = None
        try:
            conn = open_dbus_connection(self.bus)
            router = DBusRouter(conn)
            signals = signals_rule()
            Proxy(message_bus, router, timeout=CALL_TIMEOUT).AddMatch(signals)
            router.filter(signals, queue=self.inbox)
            self.available = True
        except Exception as exc:  # noqa: BLE001 - no bus, no permission, a bus that hangs
            log.info("no D-Bus session bus for notifications (%s): using the tray's", exc)
            self.available = False
        try:
            self._serve(router)
        finally:
            if router is not None:
                router.close()  # stops jeepney's receiver thread
            if conn is not None:
                conn.close()

    def _serve(self, router: Any) -> None:
        from jeepney import Message

        while (item := self.inbox.get()) is not None:
            if isinstance(item, Message):
                self._signal(item)
            elif item[0] == "notify":
                self._notify(router, item[1], item[2])
            elif item[0] == "close" and router is not None:
                router.send(close_message(item[1]))

    def _notify(self, router: Any, notice: Notice, replaces_id: int) -> None:
        from jeepney import HeaderFields, MessageType

        if router is None:
            self.failed.emit(notice)
            return
        try:
            reply = router.send_and_get_reply(
                notify_message(notice, replaces_id, self.icon), timeout=CALL_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - a server that hangs or a broken bus
            log.warning("the notification server did not answer: %s", exc)
            self.failed.emit(notice)
            return
        if reply.header.message_type is MessageType.error:
            name = reply.header.fields.get(HeaderFields.error_name, "")
            log.info("no notification server (%s): using the tray's messages", name)
            self.available = False
            self.failed.emit(notice)
            return
        self.available = True
        self.shown.emit(int(reply.body[0]), notice)

    def _signal(self, msg: Message) -> None:
        from jeepney import HeaderFields

        member = msg.header.fields.get(HeaderFields.member)
        if member == "ActionInvoked":
            self.invoked.emit(int(msg.body[0]), str(msg.body[1]))
        elif member == "NotificationClosed":
            self.closed.emit(int(msg.body[0]))
