"""Notifications with buttons over D-Bus: the messages sent, and what pressing a button does.

The notification server here is a fake on a private bus (a dbus-daemon of this test, bound to
a socket in a temporary folder): it answers ``Notify`` and emits ``ActionInvoked`` and
``NotificationClosed`` as the Desktop Notifications Specification 1.2 says a server does
(https://specifications.freedesktop.org/notification-spec/latest/protocol.html: Notify
``susssasa{sv}i`` returns the id, ``replaces_id`` keeps it; a click on the notification is the
action key ``default``). tests/test_ui_notifications_desktop.py presses the buttons in dunst.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, MessageType, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import Proxy, open_dbus_connection
from jeepney.low_level import Parser

from agent.model import Alert
from tests.desktop import missing_system_package
from tests.test_ui_tray import (  # noqa: F401 - fixtures
    NOW,
    SOURCE,
    make_tray,
    qsettings,
    status_of,
    waiting,
)
from ui.notifications import (
    NOTIFICATIONS,
    DesktopNotifier,
    Notice,
    confirmation,
    notice_for,
    notify_message,
)


def alert(kind: str, tid: str = "5", subject: str = "Refund please") -> Alert:
    w = waiting(tid, -10 if kind == "overdue" else 20, subject=subject)
    return Alert(
        kind, NOW, f"{kind}{tid}", SOURCE, tid, subject, "Billing", w.ticket.url, "", 0, (w,)
    )


def wire(msg: Any) -> Any:
    """The message as the bus would carry it: serialised and read back."""
    parser = Parser()
    parser.add_data(msg.serialise(serial=1))
    return parser.get_next_message()


def hints_of(body: tuple[Any, ...]) -> dict[str, Any]:
    return {k: v[1] if isinstance(v, tuple) else v for k, v in body[6].items()}


# --------------------------------------------------------------------------- the messages


def test_a_new_ticket_is_normal_urgency_with_three_buttons_and_a_click() -> None:
    notice = notice_for((alert("new"),))
    assert notice is not None and not notice.critical
    msg = wire(notify_message(notice, 0, "/icons/ticketbell.svg"))
    assert msg.header.fields[HeaderFields.member] == "Notify"
    assert msg.header.fields[HeaderFields.signature] == "susssasa{sv}i"
    app, replaces, icon, title, body, actions, _hints, timeout = msg.body
    assert (app, replaces, icon) == ("Ticketbell", 0, "/icons/ticketbell.svg")
    assert (title, body) == ("1 new ticket: Billing", "Refund please")
    assert actions == [
        "default", "Open", "open", "Open", "ack", "I'm on it", "snooze", "Snooze 15 min"
    ]  # fmt: skip
    hints = hints_of(msg.body)
    assert hints["urgency"] == 1  # normal: GNOME shows no banner for low
    assert hints["desktop-entry"] == "ticketbell"
    assert "resident" not in hints and timeout == -1  # the server's own timeout


def test_overdue_and_escalated_are_critical_and_stay() -> None:
    for kind in ("overdue", "escalated"):
        notice = notice_for((alert(kind), alert("new", "6")))
        assert notice is not None and notice.critical
        assert [t.id for t in notice.tickets] == ["5"]  # the buttons act on the overdue one
        msg = wire(notify_message(notice, 42))
        assert msg.body[1] == 42  # replaces notification 42
        assert hints_of(msg.body)["urgency"] == 2
        assert hints_of(msg.body)["resident"] is True  # stays after a button is pressed
        assert msg.body[7] == 0  # never expires


def test_a_first_syncs_summary_is_normal_and_many_tickets_get_open_only() -> None:
    """The summary alert of a source's first sync (kind "summary", its tickets attached) is
    normal urgency even with overdue tickets in the burst; one click must not claim or snooze
    every ticket of a helpdesk, so a notice about more than five offers Open only."""
    few = tuple(waiting(str(n), 20) for n in range(3))
    many = tuple(waiting(str(n), 20) for n in range(40))
    for tickets, actions in ((few, 4), (many, 1)):
        summary = Alert("summary", NOW, "s", SOURCE, "", "Demo: 40 waiting", tickets=tickets)
        notice = notice_for((summary, alert("overdue")))
        assert notice is not None and not notice.critical
        assert {t.id for t in notice.tickets} == {w.ticket.id for w in tickets}
        assert len(notice.actions) == actions


def test_a_helpdesk_down_opens_its_settings_and_a_reminder_the_menu(make_tray) -> None:  # noqa: F811
    down = Alert("source_down", NOW, "d", "Partner desk", message="answered HTTP 503")
    reminder = Alert("reminder", NOW, "r", message="tickets are still waiting")
    notice = notice_for((down,))
    assert notice is not None and notice.source == "Partner desk" and not notice.tickets
    tray = make_tray()
    asked: list[str] = []
    tray.source_settings_requested.connect(asked.append)
    tray.open_notice(notice)
    assert asked == ["Partner desk"]
    later = notice_for((reminder,))
    assert later is not None and later.source == "" and not later.tickets
    assert later.actions == (("default", "Open"),)  # a click shows the menu


def test_markup_from_a_subject_is_not_markup_in_a_notification() -> None:
    notice = notice_for((alert("new", subject="<b>hi</b> & <img src=x>"),))
    assert notice is not None
    assert "<" not in notice.body and "&" not in notice.body and "hi" in notice.body


def test_a_confirmation_offers_undo() -> None:
    notice = notice_for((alert("new"),))
    assert notice is not None
    done = confirmation(notice, "snooze", "14:30")
    assert (done.title, done.body, done.undo) == ("Snoozed until 14:30", "Refund please", "snooze")
    assert ("undo", "Undo") in done.actions and done.keys == notice.keys


# --------------------------------------------------------------------------- a real bus


@pytest.fixture
def bus(tmp_path) -> Iterator[str]:
    """A private session bus of this test: its address."""
    if shutil.which("dbus-daemon") is None:
        missing_system_package("dbus-daemon is not installed (package dbus-daemon)")
    config = tmp_path / "bus.conf"
    config.write_text(
        "<busconfig><type>session</type>"
        f"<listen>unix:dir={tmp_path}</listen><auth>EXTERNAL</auth>"
        "<policy context='default'><allow send_destination='*' eavesdrop='true'/>"
        "<allow eavesdrop='true'/><allow own='*'/></policy></busconfig>"
    )
    proc = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()


class FakeServer:
    """A notification server: answers Notify (recording each call), sends signals on demand."""

    def __init__(self, address: str) -> None:
        self.conn = open_dbus_connection(address)
        Proxy(message_bus, self.conn).RequestName(NOTIFICATIONS.bus_name, 4)
        self.calls: list[tuple[Any, ...]] = []
        self.closed: list[int] = []
        self.next_id = 1
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                msg = self.conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type is not MessageType.method_call:
                continue
            if msg.header.fields.get(HeaderFields.member) == "CloseNotification":
                self.closed.append(msg.body[0])
                self.conn.send(new_method_return(msg))
            elif msg.header.fields.get(HeaderFields.member) == "Notify":
                self.calls.append(msg.body)
                nid = msg.body[1] or self.next_id
                self.next_id += msg.body[1] == 0
                self.conn.send(new_method_return(msg, "u", (nid,)))
            else:
                self.conn.send(new_method_return(msg))

    def press(self, nid: int, key: str) -> None:
        emitter = DBusAddress(NOTIFICATIONS.object_path, interface=NOTIFICATIONS.interface)
        self.conn.send(new_signal(emitter, "ActionInvoked", "us", (nid, key)))

    def close(self, nid: int) -> None:
        emitter = DBusAddress(NOTIFICATIONS.object_path, interface=NOTIFICATIONS.interface)
        self.conn.send(new_signal(emitter, "NotificationClosed", "uu", (nid, 2)))

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(2)
        self.conn.close()


class Recorder:
    """The agent's commands as called, and whether each came on the main (Qt) thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.on_main: list[bool] = []

    def check_now(self, source: str | None = None) -> None:
        pass

    def acknowledge(self, source: str, ticket: str, release: bool = False) -> None:
        self.calls.append(("ack", source, ticket, release))
        self.on_main.append(threading.current_thread() is threading.main_thread())

    def snooze(self, source: str, ticket: str, minutes: float) -> None:
        self.calls.append(("snooze", source, ticket, minutes))
        self.on_main.append(threading.current_thread() is threading.main_thread())

    def mute(self, until: Any) -> None:
        pass


@pytest.fixture
def server(bus: str) -> Iterator[FakeServer]:
    fake = FakeServer(bus)
    yield fake
    fake.stop()


@pytest.fixture
def notifying_tray(make_tray, bus: str):  # noqa: F811 - the imported fixture
    notifier = DesktopNotifier(bus=bus, icon="ticketbell")
    tray = make_tray(notifier=notifier)
    tray.agent = Recorder()
    yield tray
    tray.hide()  # stops the notifier's thread before the bus goes


def test_buttons_reach_the_agent_and_can_be_undone(notifying_tray, server, qtbot) -> None:
    tray = notifying_tray
    tray.show_alerts((alert("overdue"),))
    qtbot.waitUntil(lambda: bool(tray.notices), timeout=5000)
    [nid] = tray.notices
    assert server.calls[0][3] == "1 overdue ticket: Billing"
    server.press(nid, "ack")
    qtbot.waitUntil(lambda: len(server.calls) == 2, timeout=5000)
    assert tray.agent.calls == [("ack", SOURCE, "5", False)]
    assert server.calls[1][1] == nid and server.calls[1][3] == "You're on it"  # replaced
    assert "undo" in server.calls[1][5]
    qtbot.waitUntil(lambda: tray.notices[nid].undo == "ack", timeout=5000)
    server.press(nid, "undo")
    qtbot.waitUntil(lambda: len(tray.agent.calls) == 2, timeout=5000)
    assert tray.agent.calls[1] == ("ack", SOURCE, "5", True)

    tray.show_alerts((alert("new", "8"),))  # another ticket: a notification of its own
    qtbot.waitUntil(lambda: len(tray.notices) == 2, timeout=5000)
    assert server.calls[-1][1] == 0
    other = max(tray.notices)
    server.press(other, "snooze")
    qtbot.waitUntil(lambda: len(tray.agent.calls) == 3, timeout=5000)
    assert tray.agent.calls[2] == ("snooze", SOURCE, "8", 15)
    until = (NOW + timedelta(minutes=15)).astimezone().strftime("%H:%M")
    qtbot.waitUntil(lambda: server.calls[-1][3] == f"Snoozed until {until}", timeout=5000)
    qtbot.waitUntil(lambda: tray.notices[other].undo == "snooze", timeout=5000)
    server.press(other, "undo")
    qtbot.waitUntil(lambda: len(tray.agent.calls) == 4, timeout=5000)
    assert tray.agent.calls[3] == ("snooze", SOURCE, "8", 0)
    assert tray.agent.on_main == [True] * 4  # the D-Bus thread never touches the tray itself


def test_a_click_opens_the_ticket_and_an_update_replaces_it(notifying_tray, server, qtbot) -> None:
    tray = notifying_tray
    tray.show_alerts((alert("due_soon"),))
    qtbot.waitUntil(lambda: bool(tray.notices), timeout=5000)
    [nid] = tray.notices
    assert hints_of(server.calls[0])["urgency"] == 1
    tray.show_alerts((alert("overdue"),))  # the same ticket, now overdue: in its place
    qtbot.waitUntil(lambda: len(server.calls) == 2, timeout=5000)
    assert server.calls[1][1] == nid and hints_of(server.calls[1])["urgency"] == 2
    server.press(nid, "default")
    qtbot.waitUntil(lambda: bool(tray.opened), timeout=5000)
    assert [u.toString() for u in tray.opened] == [alert("new").url]
    server.close(nid)
    qtbot.waitUntil(lambda: not tray.notices, timeout=5000)
    server.press(nid, "ack")  # a closed notification's button does nothing
    qtbot.wait(100)
    assert tray.agent.calls == []


def test_a_ticket_answered_takes_its_notification_back(notifying_tray, server, qtbot) -> None:
    """An overdue notification stays until dismissed: once its ticket is answered (no longer
    in the agent's status), Ticketbell closes it; the other ticket's stays."""
    tray = notifying_tray
    tray.show_status(status_of([waiting("5", -10, state="overdue"), waiting("8", 20)]))
    tray.show_alerts((alert("overdue"),))
    qtbot.waitUntil(lambda: len(tray.notices) == 1, timeout=5000)
    tray.show_alerts((alert("new", "8"),))
    qtbot.waitUntil(lambda: len(tray.notices) == 2, timeout=5000)
    first, second = sorted(tray.notices)
    tray.show_status(status_of([waiting("8", 20)]))  # 5 was answered
    qtbot.waitUntil(lambda: server.closed == [first], timeout=5000)
    assert list(tray.notices) == [second]


def test_without_a_notification_server_the_tray_shows_its_own_message(
    notifying_tray, bus, qtbot, monkeypatch
) -> None:
    """No server on the bus (Notify answered with ServiceUnknown): the tray's own message,
    with the badge as its icon (never a message icon in place of the badge); a click on it
    opens the ticket."""
    tray = notifying_tray
    shown: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tray.tray, "showMessage", lambda *a: shown.append(a))
    tray.show_alerts((alert("overdue"),))
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    title, body, icon = shown[0][:3]
    assert (title, body) == ("1 overdue ticket: Billing", "Refund please")
    assert not icon.isNull() and icon.cacheKey() == tray.tray.icon().cacheKey()
    tray.message_clicked()
    assert [u.toString() for u in tray.opened] == [alert("new").url]
    assert tray.notifier.available is False
    tray.hide()  # quitting: a last burst from the stopping agent is not shown
    tray.show_alerts((alert("new", "9"),))
    qtbot.wait(200)
    assert len(shown) == 1 and tray.notifier._thread is None


def test_a_notice_about_a_helpdesk_opens_its_settings(make_tray) -> None:  # noqa: F811
    tray = make_tray()
    asked: list[str] = []
    tray.source_settings_requested.connect(asked.append)
    tray.open_notice(Notice("Ticketbell cannot read Partner desk", "HTTP 503", source="Partner"))
    assert asked == ["Partner"]


def test_the_no_tray_windows_notifications_can_be_clicked(
    make_tray,  # noqa: F811
    bus: str,
    server: FakeServer,
    qtbot,
) -> None:
    """Without a tray the notifications went through plyer, which cannot be clicked: now
    they go through the notification service too, buttons and all."""
    tray = make_tray(tray_available=False, notifier=DesktopNotifier(bus=bus))
    tray.agent = Recorder()
    try:
        tray.show_alerts((alert("new", "8"),))
        qtbot.waitUntil(lambda: bool(tray.notices), timeout=5000)
        [nid] = tray.notices
        assert tray.tray is None and len(server.calls) == 1
        server.press(nid, "default")
        qtbot.waitUntil(lambda: bool(tray.opened), timeout=5000)
        assert [u.toString() for u in tray.opened] == [alert("new", "8").url]
        server.press(nid, "snooze")
        qtbot.waitUntil(lambda: bool(tray.agent.calls), timeout=5000)
        assert tray.agent.calls == [("snooze", SOURCE, "8", 15)]
    finally:
        tray.hide()
