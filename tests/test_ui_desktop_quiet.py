"""Do-not-disturb and a first sync on a real desktop: the tray app, dunst and PulseAudio.

The whole program runs (``python -m ticketbell``, Qt offscreen: with no tray host it shows its
window, and it talks to the notification server over D-Bus only) on the tests' own desktop
(tests/desktop.py: Xvfb, a private session bus, dunst), with its sound going to a private
PulseAudio whose null sink's monitor is recorded (tests/test_ui_sound_server.py), and reading
tickets from the fake in-house JSON helpdesk (tests/fakes/jsonapi.py) on 127.0.0.1.

What was shown is counted by dunst itself (``dunstctl count``, and ``dunstctl history`` for the
words once the notifications are closed), and what was heard is the recording — neither asks
our own code. Do-not-disturb is dunst's ``paused``, which agent/presence.py reads
(``org.dunstproject.cmd0``); it looks every ``LOOK_EVERY`` (15 s), so the summary may take that
long after dunst is resumed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests import secretscan
from tests.conftest import ROOT
from tests.desktop import Desktop, desktop, on_desktop  # noqa: F401 - fixtures
from tests.fakes.jsonapi import FakeJsonHelpdesk
from tests.fakes.web import local_server
from tests.test_ui_sound_server import needs_pulseaudio, peak, sound_server  # noqa: F401

KEY = "desktop-quiet-key-4b1e"
SILENT = 0.01  # peak of a recording that heard nothing (the chime peaks far above 0.1)
HEARD = 0.1

CONFIG = """role = "assistant"
[[sources]]
name = "Shop"
kind = "json"
url = "{url}"
auth_header = "X-Api-Key"
items = "data.tickets"
next = "links.next"
waiting_statuses = ["open"]
secret_env = "TICKETBELL_DESKTOP_KEY"
interval = "5s"
fields = {{ id = "ticket_id", subject = "title", category = "queue.name", status = "state", \
created = "opened_at", waiting_since = "last_customer_message_at", url = "links.web" }}
[windows]
default = "2h"
[alerts]
remind_every = "off"
"""


@pytest.fixture
def helpdesk() -> Iterator[FakeJsonHelpdesk]:
    with local_server() as server:
        yield FakeJsonHelpdesk(server, KEY, page_size=100)


@contextmanager
def ticketbell(
    tmp_path: Path, desk: Desktop, sound: dict[str, str], url: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The tray app on ``desk``, its sound on ``sound``'s server; stopped (SIGTERM) after."""
    config = tmp_path / "ticketbell.toml"
    config.write_text(CONFIG.format(url=url), encoding="utf-8")
    env = {**desk.env(), **{k: v for k, v in sound.items() if k.startswith("PULSE")}}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    env.update(TICKETBELL_DESKTOP_KEY=secretscan.register_secret(KEY))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    env.pop("QT_LOGGING_RULES", None)
    data = tmp_path / "data"
    args = ["-m", "ticketbell", "--config", str(config), "--data-dir", str(data)]
    with (tmp_path / "app.log").open("wb") as log:
        app = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=log, stderr=log)
        try:
            yield app
        finally:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(15)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait(5)


@contextmanager
def recording(env: dict[str, str], path: Path) -> Iterator[None]:
    """Records what reaches the null sink ("the speakers") into ``path`` while the block runs."""
    raw = ("--raw", "--format=s16le", "--rate=48000", "--channels=2")
    keepalive = subprocess.Popen(
        ["pacat", "--playback", *raw, "/dev/zero"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    recorder = subprocess.Popen(
        ["parecord", "--device=speaker.monitor", "--file-format=wav", *raw[1:], str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(10)
        keepalive.terminate()
        keepalive.wait(10)


def wait_for(what: str, ready: Callable[[], bool], tmp_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            said = (tmp_path / "app.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"{what} within {timeout:.0f} s; the app said:\n{said}")
        time.sleep(0.2)


def count(desk: Desktop, which: str) -> int:
    return int(desk.dunstctl("count", which))


def history(desk: Desktop) -> list[dict[str, dict[str, object]]]:
    """The notifications dunst has closed, newest first."""
    return json.loads(desk.dunstctl("history"))["data"][0]  # type: ignore[no-any-return]


def shown(desk: Desktop, since: int) -> list[tuple[str, str]]:
    """Every notification dunst shows (closing them) or closed after the one with id ``since``:
    (title, body), oldest first."""
    desk.dunstctl("close-all")
    said = [n for n in history(desk) if int(str(n["id"]["data"])) > since]
    return [(str(n["summary"]["data"]), str(n["body"]["data"])) for n in reversed(said)]


def last_id(desk: Desktop) -> int:
    """The id of the newest notification dunst has closed (0: none); ids only grow."""
    return max((int(str(n["id"]["data"])) for n in history(desk)), default=0)


def fetches(helpdesk: FakeJsonHelpdesk) -> int:
    """How many listings the fake has answered (each fetch reads page 1 first)."""
    return sum(
        1 for request, _ in helpdesk.server.log if "page=" not in request.query_string.decode()
    )


def fresh(helpdesk: FakeJsonHelpdesk, n: int, first: int = 1, *, late: int = 0) -> None:
    """``n`` tickets the customer just wrote; the first ``late`` of them past the 2 h window."""
    now = datetime.now(timezone.utc)
    for i in range(first, first + n):
        opened = now - timedelta(hours=3) if i < first + late else now - timedelta(minutes=1)
        helpdesk.add(i, f"Question {i}", queue="Billing", opened=opened, customer_wrote=opened)


@needs_pulseaudio
def test_do_not_disturb_holds_the_chime_and_the_notification_then_sums_up(
    on_desktop: Desktop,  # noqa: F811 - fixture
    sound_server: dict[str, str],  # noqa: F811 - fixture
    helpdesk: FakeJsonHelpdesk,
    tmp_path: Path,
) -> None:
    desk = on_desktop
    before = last_id(desk)
    fresh(helpdesk, 3)
    desk.dunstctl("set-paused", "true")  # do-not-disturb, as agent/presence.py reads it
    with ticketbell(tmp_path, desk, sound_server, helpdesk.url):
        with recording(sound_server, tmp_path / "during.wav"):
            wait_for("no fetch", lambda: fetches(helpdesk) >= 2, tmp_path, 30)
        # dunst keeps what it is sent while paused ("waiting"): nothing was sent at all
        assert (count(desk, "waiting"), count(desk, "displayed")) == (0, 0)
        assert peak(tmp_path / "during.wav") < SILENT, "a sound played during do-not-disturb"

        with recording(sound_server, tmp_path / "after.wav"):
            desk.dunstctl("set-paused", "false")
            wait_for("no summary", lambda: count(desk, "displayed") >= 1, tmp_path, 25)
            fresh(helpdesk, 1, first=4)  # a new arrival once do-not-disturb is off: chimes
            wait_for("no notice of ticket 4", lambda: count(desk, "displayed") >= 2, tmp_path, 20)
            time.sleep(1.5)  # the chime's length
        assert peak(tmp_path / "after.wav") > HEARD, "no chime through PulseAudio after DND"
        said = shown(desk, before)
    assert said[0][0] == "While do-not-disturb was on: 3 new"
    assert "Question 4" in " ".join(said[1]), said
    assert len(said) == 2, said


@needs_pulseaudio
def test_a_first_sync_of_300_tickets_is_at_most_two_notifications(
    on_desktop: Desktop,  # noqa: F811 - fixture
    sound_server: dict[str, str],  # noqa: F811 - fixture
    helpdesk: FakeJsonHelpdesk,
    tmp_path: Path,
) -> None:
    desk = on_desktop
    before = last_id(desk)
    fresh(helpdesk, 300, late=20)  # 20 of them overdue already
    with ticketbell(tmp_path, desk, sound_server, helpdesk.url):
        wait_for("no notification", lambda: count(desk, "displayed") >= 1, tmp_path, 30)
        seen = fetches(helpdesk)
        wait_for("no second fetch", lambda: fetches(helpdesk) > seen, tmp_path, 15)
        time.sleep(1)  # what the second fetch would bring, if anything
        assert count(desk, "waiting") == 0
        said = shown(desk, before)
    assert 1 <= len(said) <= 2, said
    assert any(title.startswith("Shop: 300 waiting") for title, _ in said), said
