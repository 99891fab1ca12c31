"""A private D-Bus daemon and desktop services on it, answering as their interfaces document.

``private_bus()`` starts ``dbus-daemon --session`` (its own socket, nothing shared with the
machine's buses) and stops it. ``FakeServices`` owns well-known names on such a bus with a jeepney
connection of its own and answers method calls and ``org.freedesktop.DBus.Properties.Get`` from
tables the test fills and changes while it runs. An unknown method, property or object gets the
error a real service sends (``org.freedesktop.DBus.Error.UnknownMethod`` /
``…UnknownProperty``), which is what an absent feature looks like to a client.

The interfaces, as documented:

- ``org.freedesktop.Notifications`` property ``Inhibited`` (``b``, read): proposed for the
  notification spec on the xdg list (https://lists.freedesktop.org/archives/xdg/2019-March/014141.html)
  and reported by KDE Plasma's notification server as its effective do-not-disturb
  (https://phabricator.kde.org/D24486); not in the published spec 1.2.
- dunst: ``org.dunstproject.cmd0`` property ``paused`` (``b``) on
  ``/org/freedesktop/Notifications`` (dunst 1.9's ``dunstctl`` reads and sets it there).
- logind: ``org.freedesktop.login1.Session`` properties ``LockedHint`` (``b``), ``IdleHint``
  (``b``) and ``IdleSinceHint`` (``t``, µs since the epoch), on the system bus
  (https://www.freedesktop.org/software/systemd/man/latest/org.freedesktop.login1.html).
- ``org.gnome.Mutter.IdleMonitor.GetIdletime`` → ``t`` milliseconds, on
  ``/org/gnome/Mutter/IdleMonitor/Core`` (mutter's
  data/dbus-interfaces/org.gnome.Mutter.IdleMonitor.xml).
- ``org.freedesktop.ScreenSaver.GetActive`` → ``b``, ``GetSessionIdleTime`` → ``u`` seconds
  (the gnome-screensaver interface KDE's ksmserver/kscreenlocker also serves).
- ``org.freedesktop.portal.Settings.ReadOne(s namespace, s key)`` → ``v``
  (https://flatpak.github.io/xdg-desktop-portal/docs/doc-org.freedesktop.portal.Settings.html).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jeepney import DBus, MessageType, new_error, new_method_return
from jeepney.io.blocking import open_dbus_connection

PROPERTIES = "org.freedesktop.DBus.Properties"


#: a session bus without the machine's service files: a call to a name nobody owns must fail
#: as on a desktop without that service, not start the machine's dunst or screensaver
CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@contextmanager
def private_bus() -> Iterator[str]:
    """A dbus-daemon of the test's own (a session bus by its own config); yields its address and
    stops it after."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise RuntimeError("dbus-daemon is not installed (scripts/system-deps.sh: dbus)")
    with tempfile.TemporaryDirectory(prefix="tb-bus-") as where:
        config = Path(where) / "bus.conf"
        config.write_text(CONFIG.format(dir=where), encoding="utf-8")
        proc = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            address = proc.stdout.readline().strip()
            if not address:
                raise RuntimeError("dbus-daemon printed no address")
            yield address
        finally:
            proc.terminate()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()


class FakeServices:
    """Desktop services on ``address``: ``props[(path, interface, name)] = (signature, value)``
    and ``methods[(path, interface, member)] = (signature, body)``; change them at any time."""

    def __init__(self, address: str, names: tuple[str, ...]) -> None:
        self.props: dict[tuple[str, str, str], tuple[str, Any]] = {}
        self.methods: dict[tuple[str, str, str], tuple[str, tuple[Any, ...]]] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.conn = open_dbus_connection(bus=address)
        for name in names:
            self.conn.send_and_get_reply(DBus().RequestName(name), timeout=5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-desktop-bus", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()

    def __enter__(self) -> FakeServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.05)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type is MessageType.method_call:
                self.conn.send(self._answer(msg))

    def _answer(self, msg: Any) -> Any:
        fields = msg.header.fields
        path, iface, member = (fields.get(k) for k in (1, 2, 3))  # PATH, INTERFACE, MEMBER
        self.calls.append((str(path), str(iface), str(member)))
        if iface == PROPERTIES and member == "Get":
            want, name = msg.body
            found = self.props.get((path, want, name))
            if found is None:
                return new_error(
                    msg, "org.freedesktop.DBus.Error.UnknownProperty", "s", (f"no {name}",)
                )
            return new_method_return(msg, "v", (found,))
        found_method = self.methods.get((path, iface, member))
        if found_method is None:
            return new_error(
                msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no {member}",)
            )
        return new_method_return(msg, *found_method)
