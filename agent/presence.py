"""Is the person there? Facts about this desktop, each seen at a time: do-not-disturb, the
screen locked, how long since the last input.

Each fact is asked of the desktop the way it publishes it; a probe that cannot answer (no such
service, no permission, another desktop) leaves its fact unknown (None) and never raises, so a
missing desktop service can only mean "no facts", never a crash or a silenced alert.

Linux, over D-Bus with jeepney (blocking calls, on the ``ticketbell-presence`` thread, never on
the Qt thread or the scheduler):

- do-not-disturb: the ``Inhibited`` property of ``org.freedesktop.Notifications`` (the
  notification spec's inhibition, which KDE Plasma reports as its effective do-not-disturb);
  dunst's own ``paused`` property (``org.dunstproject.cmd0``); GNOME's
  ``org.gnome.desktop.notifications show-banners`` through the settings portal
  (``org.freedesktop.portal.Settings.ReadOne``), or ``gsettings`` in a GNOME session.
- screen locked: logind's ``LockedHint`` of this session (system bus), else ``GetActive`` of
  ``org.freedesktop.ScreenSaver`` or ``org.gnome.ScreenSaver``.
- idle: ``GetIdletime`` of ``org.gnome.Mutter.IdleMonitor`` (milliseconds), else
  ``GetSessionIdleTime`` of ``org.freedesktop.ScreenSaver`` (seconds), else logind's
  ``IdleHint`` and ``IdleSinceHint`` (microseconds since the epoch).

Windows, through the Win32 API with ctypes: ``GetLastInputInfo`` (idle),
``SHQueryUserNotificationState`` (presentation mode, a full-screen app: do-not-disturb; "not
present": locked) and ``OpenInputDesktop`` (fails while the session is locked). Focus Assist has
no documented API, so on Windows do-not-disturb is only what the shell reports. macOS: idle
through ``CGEventSourceSecondsSinceLastEventType`` (CoreGraphics); lock and Focus are unknown.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from agent.model import utcnow

log = logging.getLogger(__name__)

CALL_TIMEOUT = 1.0  # seconds one D-Bus call may take: a desktop service that hangs is "unknown"
LOOK_EVERY = 15.0  # seconds between two looks at the desktop
DEFAULT_AWAY_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Presence:
    """What was seen of the person's desktop at ``at``; None: not known (no probe answered).

    ``said_by`` names the probes that answered, for the log and for `--self-test`.
    """

    at: datetime
    dnd: bool | None = None
    locked: bool | None = None
    idle: float | None = None  # seconds since the last keyboard or pointer input
    said_by: tuple[str, ...] = ()

    def away(self, away_after: timedelta = DEFAULT_AWAY_AFTER) -> bool:
        """Locked, or idle for at least ``away_after`` (unknown facts say nothing)."""
        return bool(self.locked) or (
            self.idle is not None and self.idle >= away_after.total_seconds()
        )

    def watching(self, away_after: timedelta = DEFAULT_AWAY_AFTER) -> bool:
        """Whether the person can be taken to see a notification now: not away and not in
        do-not-disturb (for the team hub's ``when = "nobody_watching"``)."""
        return not self.away(away_after) and not self.dnd


def unknown(now: datetime | None = None) -> Presence:
    return Presence(now or utcnow())


# --------------------------------------------------------------------------- Linux, D-Bus


class Bus:
    """One blocking jeepney connection to a bus, with calls that say None instead of raising."""

    def __init__(self, address: str) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.conn = open_dbus_connection(bus=address, auth_timeout=CALL_TIMEOUT)

    def close(self) -> None:
        self.conn.close()

    def call(
        self,
        name: str,
        path: str,
        interface: str,
        method: str,
        sig: str = "",
        args: tuple[Any, ...] = (),
    ) -> tuple[Any, ...] | None:
        """The reply's body, or None when the service is absent, refuses or does not answer."""
        from jeepney import DBusAddress, MessageFlag, MessageType, new_method_call

        address = DBusAddress(path, bus_name=name, interface=interface)
        try:
            msg = new_method_call(address, method, sig or None, args)
            # asking must not start a service the desktop does not run (dunst, a screensaver)
            msg.header.flags |= MessageFlag.no_auto_start
            reply = self.conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            log.debug("presence: %s.%s: %s", interface, method, exc)
            return None
        if reply.header.message_type is MessageType.error:
            return None
        return tuple(reply.body)

    def prop(self, name: str, path: str, interface: str, prop: str) -> Any:
        """A property's value (org.freedesktop.DBus.Properties.Get), or None."""
        body = self.call(
            name, path, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, prop)
        )
        return _unvariant(body[0]) if body else None


def _unvariant(value: Any) -> Any:
    """jeepney gives a variant as (signature, value); a portal may nest one in another."""
    while isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        value = value[1]
    return value


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


NOTIFICATIONS = ("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
FREEDESKTOP_SAVER = ("org.freedesktop.ScreenSaver", "/org/freedesktop/ScreenSaver")
GNOME_SAVER = ("org.gnome.ScreenSaver", "/org/gnome/ScreenSaver")
MUTTER_IDLE = ("org.gnome.Mutter.IdleMonitor", "/org/gnome/Mutter/IdleMonitor/Core")
PORTAL = ("org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop")
LOGIND = "org.freedesktop.login1"
#: this process's own session ("auto" since systemd 243; "self" before, not in a service)
LOGIND_SESSIONS = ("/org/freedesktop/login1/session/auto", "/org/freedesktop/login1/session/self")


def session_dnd(bus: Bus) -> tuple[bool | None, str]:
    """Do-not-disturb as the session's notification server or GNOME says it."""
    name, path = NOTIFICATIONS
    inhibited = _bool(bus.prop(name, path, "org.freedesktop.Notifications", "Inhibited"))
    if inhibited:
        return True, "Notifications.Inhibited"
    paused = _bool(bus.prop(name, path, "org.dunstproject.cmd0", "paused"))
    if paused is not None:
        return paused, "dunst paused"
    body = bus.call(
        *PORTAL,
        "org.freedesktop.portal.Settings",
        "ReadOne",
        "ss",
        ("org.gnome.desktop.notifications", "show-banners"),
    )
    banners = _bool(_unvariant(body[0])) if body else None
    if banners is not None:
        return not banners, "GNOME show-banners (portal)"
    if inhibited is not None:
        return False, "Notifications.Inhibited"
    return gsettings_dnd()


def gsettings_dnd() -> tuple[bool | None, str]:
    """GNOME's banners setting through ``gsettings``, only in a GNOME session (elsewhere it
    answers its schema's default, which says nothing about this desktop)."""
    gsettings = shutil.which("gsettings")
    if "GNOME" not in os.environ.get("XDG_CURRENT_DESKTOP", "").upper() or not gsettings:
        return None, ""
    import subprocess  # only here: not loaded by every start

    try:
        out = subprocess.run(
            [gsettings, "get", "org.gnome.desktop.notifications", "show-banners"],
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT * 2,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, ""
    if out in ("true", "false"):
        return out == "false", "GNOME show-banners (gsettings)"
    return None, ""


def session_lock_and_idle(bus: Bus) -> tuple[bool | None, float | None, list[str]]:
    """The screensaver's lock and the compositor's idle time, from the session bus."""
    said: list[str] = []
    locked = None
    for name, path in (FREEDESKTOP_SAVER, GNOME_SAVER):
        body = bus.call(name, path, name, "GetActive")
        if body and isinstance(body[0], bool):
            locked = body[0]
            said.append(f"{name}.GetActive")
            break
    idle = None
    body = bus.call(*MUTTER_IDLE, MUTTER_IDLE[0], "GetIdletime")
    if body and isinstance(body[0], int):
        idle = body[0] / 1000.0
        said.append("Mutter GetIdletime")
    else:
        name, path = FREEDESKTOP_SAVER
        body = bus.call(name, path, name, "GetSessionIdleTime")
        if body and isinstance(body[0], int):
            idle = float(body[0])
            said.append("ScreenSaver.GetSessionIdleTime")
    return locked, idle, said


def logind_session(bus: Bus, now: datetime) -> tuple[bool | None, float | None]:
    """logind's ``LockedHint`` and, while ``IdleHint`` is set, the seconds since
    ``IdleSinceHint`` (microseconds since the epoch) for this process's session."""
    iface = "org.freedesktop.login1.Session"
    for path in LOGIND_SESSIONS:
        locked = _bool(bus.prop(LOGIND, path, iface, "LockedHint"))
        if locked is None:
            continue
        idle = None
        if bus.prop(LOGIND, path, iface, "IdleHint") is True:
            since = bus.prop(LOGIND, path, iface, "IdleSinceHint")
            if isinstance(since, int) and since > 0:
                idle = max(0.0, now.timestamp() - since / 1_000_000)
        return locked, idle
    return None, None


class LinuxProbe:
    """Looks at the session bus (notification server, screensaver, Mutter, the portal) and the
    system bus (logind). ``session``/``system``: bus addresses ("SESSION", "SYSTEM" or a
    ``unix:path=…`` address)."""

    def __init__(self, session: str = "SESSION", system: str = "SYSTEM") -> None:
        self.session = session
        self.system = system

    def __call__(self, now: datetime) -> Presence:
        facts = Presence(now)
        with _connected(self.session) as bus:
            if bus is not None:
                dnd, how = session_dnd(bus)
                locked, idle, said = session_lock_and_idle(bus)
                facts = Presence(now, dnd, locked, idle, (*((how,) if how else ()), *said))
        if facts.dnd is None:
            dnd, how = gsettings_dnd()
            facts = replace(facts, dnd=dnd, said_by=facts.said_by + ((how,) if how else ()))
        if facts.locked is None or facts.idle is None:
            with _connected(self.system) as bus:
                if bus is not None:
                    facts = _with_logind(facts, *logind_session(bus, now))
        return facts


def _with_logind(facts: Presence, locked: bool | None, idle: float | None) -> Presence:
    said = list(facts.said_by)
    if facts.locked is None and locked is not None:
        facts = replace(facts, locked=locked)
        said.append("logind LockedHint")
    if facts.idle is None and idle is not None:
        facts = replace(facts, idle=idle)
        said.append("logind IdleSinceHint")
    return replace(facts, said_by=tuple(said))


class _connected:
    """``with _connected(address) as bus``: a :class:`Bus`, or None when it cannot be reached."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.bus: Bus | None = None

    def __enter__(self) -> Bus | None:
        try:
            self.bus = Bus(self.address)
        except Exception as exc:  # noqa: BLE001 - no bus, refused auth, bad address: unknown
            log.debug("presence: no D-Bus at %s (%s)", self.address, exc)
        return self.bus

    def __exit__(self, *exc: object) -> None:
        if self.bus is not None:
            self.bus.close()


# --------------------------------------------------------------------------- Windows, macOS


def windows_probe(now: datetime) -> Presence:  # pragma: no cover - runs on Windows only
    import ctypes
    from ctypes import wintypes

    class LastInput(ctypes.Structure):
        _fields_ = (("cbSize", wintypes.UINT), ("dwTime", wintypes.DWORD))

    user32, kernel32 = ctypes.windll.user32, ctypes.windll.kernel32  # type: ignore[attr-defined]
    info = LastInput(ctypes.sizeof(LastInput), 0)
    idle = None
    if user32.GetLastInputInfo(ctypes.byref(info)):
        idle = ((kernel32.GetTickCount() - info.dwTime) & 0xFFFFFFFF) / 1000.0
    state = ctypes.c_int(0)
    shell = ctypes.windll.shell32.SHQueryUserNotificationState(ctypes.byref(state))  # type: ignore[attr-defined]
    # QUNS_NOT_PRESENT 1, QUNS_BUSY 2, QUNS_RUNNING_D3D_FULL_SCREEN 3, QUNS_PRESENTATION_MODE 4
    dnd = True if shell == 0 and state.value in (2, 3, 4) else None
    user32.OpenInputDesktop.restype = wintypes.HANDLE  # a handle: not truncated to an int
    user32.CloseDesktop.argtypes = (wintypes.HANDLE,)
    desktop = user32.OpenInputDesktop(0, False, 0x0100)  # DESKTOP_SWITCHDESKTOP
    locked = not desktop or (shell == 0 and state.value == 1)
    if desktop:
        user32.CloseDesktop(desktop)
    return Presence(now, dnd, locked, idle, ("GetLastInputInfo", "SHQueryUserNotificationState"))


def macos_probe(now: datetime) -> Presence:  # pragma: no cover - runs on macOS only
    import ctypes
    import ctypes.util

    path = ctypes.util.find_library("ApplicationServices")
    if not path:
        return Presence(now)
    services = ctypes.cdll.LoadLibrary(path)
    seconds = services.CGEventSourceSecondsSinceLastEventType
    seconds.restype = ctypes.c_double
    seconds.argtypes = (ctypes.c_uint32, ctypes.c_uint32)
    # kCGEventSourceStateCombinedSessionState 0, kCGAnyInputEventType ~0
    idle = float(seconds(0, 0xFFFFFFFF))
    return Presence(now, idle=idle, said_by=("CGEventSourceSecondsSinceLastEventType",))


Probe = Callable[[datetime], Presence]


def system_probe() -> Probe:
    """The probe of this operating system."""
    if sys.platform == "win32":
        return windows_probe
    if sys.platform == "darwin":
        return macos_probe
    return LinuxProbe()


def look(probe: Probe, now: datetime) -> Presence:
    """``probe(now)``, or nothing known when it fails in any way (a bug in one desktop's probe
    must never stop an alert)."""
    try:
        return probe(now)
    except Exception as exc:  # noqa: BLE001 - every failure of a probe means "unknown"
        log.debug("presence: the probe failed: %r", exc)
        return Presence(now)


# --------------------------------------------------------------------------- the watcher


class PresenceWatcher:
    """Looks at the desktop every ``every`` seconds on a daemon thread of its own and keeps the
    latest :class:`Presence`; ``on_change`` (if given) is called on that thread when what is
    known changes (not merely the idle seconds)."""

    def __init__(
        self,
        probe: Probe | None = None,
        every: float = LOOK_EVERY,
        on_change: Callable[[Presence], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.probe = probe or system_probe()
        self.every = every
        self.on_change = on_change
        self.clock = clock
        self._latest = Presence(clock())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.looked = threading.Event()  # set once the first look is done
        self._looked_or_stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiter: threading.Thread | None = None

    @property
    def latest(self) -> Presence:
        with self._lock:
            return self._latest

    def look_now(self) -> Presence:
        facts = look(self.probe, self.clock())
        with self._lock:
            before, self._latest = self._latest, facts
        if self.on_change is not None and _changed(before, facts):
            try:
                self.on_change(facts)
            except Exception:
                log.exception("a presence subscriber failed")
        self.looked.set()
        self._looked_or_stopped.set()
        return facts

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="ticketbell-presence", daemon=True
            )
            self._thread.start()

    def when_looked(self, callback: Callable[[], None], wait: float) -> None:
        """Call ``callback`` on a thread of its own once the first look is done, or after
        ``wait`` seconds (a desktop service that hangs); never once :meth:`stop` was called,
        and :meth:`stop` waits for a call under way: the tray quitting while it starts tears
        down what ``callback`` uses (it crashed when the call came after that)."""

        def run() -> None:
            self._looked_or_stopped.wait(wait)
            if not self._stop.is_set():
                callback()

        self._waiter = threading.Thread(target=run, name="ticketbell-first-look", daemon=True)
        self._waiter.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._looked_or_stopped.set()
        for thread in (self._thread, self._waiter):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._waiter = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.look_now()
            self._stop.wait(self.every)


def _changed(before: Presence, after: Presence) -> bool:
    return (before.dnd, before.locked, before.away()) != (after.dnd, after.locked, after.away())


def as_text(facts: Presence, away_after: timedelta = DEFAULT_AWAY_AFTER) -> str:
    """One line for the log: "do not disturb, screen locked, idle 12 min (…)"."""
    parts = []
    if facts.dnd is not None:
        parts.append("do not disturb" if facts.dnd else "notifications on")
    if facts.locked is not None:
        parts.append("screen locked" if facts.locked else "screen unlocked")
    if facts.idle is not None:
        parts.append(f"idle {int(facts.idle // 60)} min")
    said = f" ({', '.join(facts.said_by)})" if facts.said_by else ""
    return (
        (", ".join(parts) or "nothing known") + said + (" — away" if facts.away(away_after) else "")
    )
