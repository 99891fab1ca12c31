"""agent.presence against a real dbus-daemon of the test's own, with desktop services that answer
as their interfaces document (tests/fakes/desktop_bus.py says where each is documented)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from agent.model import UTC
from agent.presence import LinuxProbe, Presence, PresenceWatcher, as_text, look
from tests.fakes.desktop_bus import FakeServices, private_bus

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
NOTIFY = "/org/freedesktop/Notifications"
SESSION = "/org/freedesktop/login1/session/auto"
SAVER = "/org/freedesktop/ScreenSaver"
MUTTER = "/org/gnome/Mutter/IdleMonitor/Core"
PORTAL = "/org/freedesktop/portal/desktop"


@pytest.fixture
def buses() -> Iterator[tuple[str, str]]:
    """A session bus and a "system" bus, each a private dbus-daemon."""
    with private_bus() as session, private_bus() as system:
        yield session, system


@pytest.fixture(autouse=True)
def not_gnome(monkeypatch: pytest.MonkeyPatch) -> None:
    # the gsettings fallback is only asked in a GNOME session; this machine's is none
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "test")


def services(address: str, *names: str) -> FakeServices:
    return FakeServices(address, names)


def test_no_desktop_services_means_nothing_known(buses: tuple[str, str]) -> None:
    facts = LinuxProbe(*buses)(NOW)
    assert (facts.dnd, facts.locked, facts.idle) == (None, None, None)
    assert not facts.away() and facts.watching()
    assert as_text(facts) == "nothing known"


def test_no_bus_at_all_means_nothing_known(tmp_path) -> None:
    gone = f"unix:path={tmp_path}/no-such-socket"
    facts = look(LinuxProbe(gone, gone), NOW)
    assert facts == Presence(NOW)


def test_notification_server_inhibited_is_do_not_disturb(buses: tuple[str, str]) -> None:
    with services(buses[0], "org.freedesktop.Notifications") as fake:
        fake.props[(NOTIFY, "org.freedesktop.Notifications", "Inhibited")] = ("b", True)
        assert LinuxProbe(*buses)(NOW).dnd is True
        fake.props[(NOTIFY, "org.freedesktop.Notifications", "Inhibited")] = ("b", False)
        facts = LinuxProbe(*buses)(NOW)
    assert facts.dnd is False
    assert "Notifications.Inhibited" in facts.said_by


def test_dunst_paused_is_do_not_disturb(buses: tuple[str, str]) -> None:
    # dunst 1.9 has no Inhibited property: its own interface says whether it is paused
    with services(buses[0], "org.freedesktop.Notifications") as fake:
        fake.props[(NOTIFY, "org.dunstproject.cmd0", "paused")] = ("b", True)
        facts = LinuxProbe(*buses)(NOW)
    assert facts.dnd is True
    assert facts.said_by[0] == "dunst paused"
    assert not facts.watching()


def test_gnome_banners_off_through_the_portal(buses: tuple[str, str]) -> None:
    with services(buses[0], "org.freedesktop.portal.Desktop") as fake:
        fake.methods[(PORTAL, "org.freedesktop.portal.Settings", "ReadOne")] = (
            "v",
            (("b", False),),
        )
        facts = LinuxProbe(*buses)(NOW)
    assert facts.dnd is True
    assert ("/org/freedesktop/portal/desktop", "org.freedesktop.portal.Settings", "ReadOne") in (
        fake.calls
    )


def test_logind_locked_hint_and_idle_since(buses: tuple[str, str]) -> None:
    idle_since = NOW - timedelta(minutes=12)
    with services(buses[1], "org.freedesktop.login1") as fake:
        iface = "org.freedesktop.login1.Session"
        fake.props[(SESSION, iface, "LockedHint")] = ("b", False)
        fake.props[(SESSION, iface, "IdleHint")] = ("b", True)
        fake.props[(SESSION, iface, "IdleSinceHint")] = ("t", int(idle_since.timestamp() * 1e6))
        facts = LinuxProbe(*buses)(NOW)
        assert facts.locked is False
        assert facts.idle == pytest.approx(720, abs=1)
        assert facts.away(timedelta(minutes=10)) and not facts.away(timedelta(minutes=15))
        fake.props[(SESSION, iface, "LockedHint")] = ("b", True)
        fake.props[(SESSION, iface, "IdleHint")] = ("b", False)
        facts = LinuxProbe(*buses)(NOW)
    assert facts.locked is True and facts.idle is None
    assert facts.away()
    assert "logind LockedHint" in facts.said_by


def test_screensaver_and_mutter_on_the_session_bus(buses: tuple[str, str]) -> None:
    names = ("org.freedesktop.ScreenSaver", "org.gnome.Mutter.IdleMonitor")
    with services(buses[0], *names) as fake:
        fake.methods[(SAVER, "org.freedesktop.ScreenSaver", "GetActive")] = ("b", (False,))
        fake.methods[(MUTTER, "org.gnome.Mutter.IdleMonitor", "GetIdletime")] = ("t", (95_000,))
        facts = LinuxProbe(*buses)(NOW)
        assert (facts.locked, facts.idle) == (False, 95.0)
        # without Mutter, the screensaver's idle time in seconds
        del fake.methods[(MUTTER, "org.gnome.Mutter.IdleMonitor", "GetIdletime")]
        fake.methods[(SAVER, "org.freedesktop.ScreenSaver", "GetSessionIdleTime")] = ("u", (700,))
        facts = LinuxProbe(*buses)(NOW)
    assert facts.idle == 700.0 and facts.away()
    assert as_text(facts).endswith("— away")


def test_a_service_answering_the_wrong_type_is_unknown(buses: tuple[str, str]) -> None:
    with services(buses[0], "org.freedesktop.Notifications") as fake:
        fake.props[(NOTIFY, "org.freedesktop.Notifications", "Inhibited")] = ("s", "yes")
        assert LinuxProbe(*buses)(NOW).dnd is None


def test_a_failing_probe_is_nothing_known() -> None:
    def broken(now: datetime) -> Presence:
        raise RuntimeError("a desktop bug")

    assert look(broken, NOW) == Presence(NOW)


def test_watcher_keeps_the_latest_and_tells_changes(buses: tuple[str, str]) -> None:
    seen: list[Presence] = []
    with services(buses[0], "org.freedesktop.Notifications") as fake:
        fake.props[(NOTIFY, "org.dunstproject.cmd0", "paused")] = ("b", False)
        watcher = PresenceWatcher(LinuxProbe(*buses), every=0.05, on_change=seen.append)
        watcher.start()
        try:
            _until(lambda: watcher.latest.dnd is False)
            fake.props[(NOTIFY, "org.dunstproject.cmd0", "paused")] = ("b", True)
            _until(lambda: watcher.latest.dnd is True)
        finally:
            watcher.stop()
    assert [f.dnd for f in seen] == [False, True]  # told once per change, not per look


def _until(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "the watcher never saw it"
        time.sleep(0.02)
