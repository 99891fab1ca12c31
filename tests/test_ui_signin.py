"""The Settings form's **Sign in…** button, driven against the local OAuth server (device code)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from werkzeug import Response

from agent import secrets as secret_store
from tests.fakes.oauth import FakeOAuthServer
from tests.fakes.web import local_server
from ui.access import plain
from ui.settings import SourceForm

CLIENT_ID = "ticketbell-ui-client"


@pytest.fixture
def oauth() -> Iterator[FakeOAuthServer]:
    with local_server() as http:
        server = FakeOAuthServer(f"http://127.0.0.1:{http.port}", CLIENT_ID, "anna@example.com")
        http.expect_request(re.compile(".*")).respond_with_handler(
            lambda request: server.handle(request) or Response("not found", status=404)
        )
        yield server


def form_for(oauth: FakeOAuthServer, auth: str = "oauth") -> SourceForm:
    table = {
        "name": "Team inbox",
        "kind": "imap",
        "url": "imaps://127.0.0.1:1",
        "user": "anna@example.com",
        "auth": auth,
        "provider": "custom",
        "issuer": oauth.base,
        "client_id": CLIENT_ID,
    }
    return SourceForm(table)


def test_sign_in_button_shows_the_code_and_keeps_the_sign_in(qtbot, oauth: FakeOAuthServer) -> None:
    form = form_for(oauth)
    qtbot.addWidget(form)
    assert not form.sign_in.isHidden()
    with qtbot.waitSignal(form.sign_in.said, timeout=10_000) as said:
        form.sign_in.button.click()
    text = said.args[0]
    url, code = re.search(r"open (\S+) and enter the code (\S+)\.", text).groups()
    assert code in form.sign_in.text.text()
    assert plain(form.sign_in.button.text()) == "Cancel"
    with qtbot.waitSignal(form.sign_in.done, timeout=20_000) as done:
        requests.post(url, data={"user_code": code}, timeout=5).raise_for_status()
    assert done.args[0] is True
    assert "Signed in" in form.sign_in.text.text()
    assert secret_store.get("Team inbox") in oauth.refresh


def test_a_sign_in_stops_when_its_form_is_deleted(qtbot, oauth: FakeOAuthServer) -> None:
    """Settings closed and opened again while a code is shown: the old form's sign-in is
    cancelled (nobody sees its code any more) and its end reaches no deleted widget (its thread
    went on asking the server, took the token once the code was approved, and failed with
    "Signal source has been deleted")."""
    import threading

    import shiboken6

    form = form_for(oauth)
    before = set(threading.enumerate())
    with qtbot.waitSignal(form.sign_in.said, timeout=10_000) as said:
        form.sign_in.button.click()
    signing_in = set(threading.enumerate()) - before
    assert len(signing_in) == 1
    url, code = re.search(r"open (\S+) and enter the code (\S+)\.", said.args[0]).groups()
    issued = len(oauth.refresh)
    shiboken6.delete(form)
    # approved after the form went, while its thread may still be waiting to ask again: the
    # thread ends without asking (it took the token and failed on the deleted row before)
    requests.post(url, data={"user_code": code}, timeout=5).raise_for_status()
    qtbot.waitUntil(lambda: not any(t.is_alive() for t in signing_in), timeout=20_000)
    assert len(oauth.refresh) == issued


def test_sign_in_button_asks_for_oauth_first_and_hides_for_kinds_without_it(
    qtbot, oauth: FakeOAuthServer
) -> None:
    form = form_for(oauth, auth="password")
    qtbot.addWidget(form)
    form.sign_in.button.click()
    assert 'Set "Sign-in" to oauth first' in form.sign_in.text.text()
    form.load({"kind": "demo", "name": "Demo"})
    assert form.sign_in.isHidden()


def test_tray_offers_sign_in_for_a_source_that_needs_it(qtbot, tmp_path, sound_double) -> None:
    from datetime import datetime, timezone

    from PySide6.QtCore import QSettings

    from agent.config import demo_config
    from agent.model import Health, SourceHealth, Status
    from ui.sound import SoundPlayer
    from ui.tray import Tray

    class Commands:
        def __getattr__(self, name: str):
            return lambda *args, **kw: None

    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    message = "sign-in needed — press Sign in… in Settings"
    status = Status(
        now,
        (),
        (SourceHealth("Team inbox", "imap", Health.FAILING, message, sign_in=True),),
        "assistant",
    )
    config = demo_config()
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    assert sound_double  # the tray's sound player loads and plays nothing here
    sound = SoundPlayer(settings, config.alerts)
    tray = Tray(Commands(), config, sound, tray_available=False, clock=lambda: now)
    tray.show_status(status)
    tray.rebuild_menu()
    actions = {a.text(): a for a in tray.menu.actions() if a.text()}
    assert "Sign in to Team inbox…" in actions
    # Settings open at that helpdesk, where its Sign in… button is
    with qtbot.waitSignal(tray.source_settings_requested, timeout=1000) as signal:
        actions["Sign in to Team inbox…"].trigger()
    assert signal.args == ["Team inbox"]
    tray.hide()
