"""A helpdesk's failure reads in the person's language wherever a person sees it (the check
table, Settings' connection test, the kinds' list), while the log and the JSON output keep
saying it in English."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from agent import i18n
from agent.i18n import N_, Text
from agent.sources.base import AuthError, SourceError
from agent.sources.http import HttpClient
from agent.sources.imap_protocol import classify_error
from tests.conftest import run_cli
from tests.fakes.web import json_response, local_server

REFUSED_EN = "Desk did not accept the credentials (Invalid API token); check the user and token"
REFUSED_DE = (
    "Desk hat die Zugangsdaten nicht akzeptiert (Invalid API token); prüfen Sie Benutzer und Token"
)


@pytest.fixture
def refusing() -> Iterator[HTTPServer]:
    """A helpdesk on 127.0.0.1 that answers every request 401 with its own words."""
    with local_server() as server:
        server.expect_request("/t").respond_with_response(
            json_response({"error": "Invalid API token"}, status=401)
        )
        yield server


def config_for(tmp_path: Path, server: HTTPServer) -> Path:
    path = tmp_path / "ticketbell.toml"
    path.write_text(
        f'[[sources]]\nname = "Desk"\nkind = "json"\nurl = "http://127.0.0.1:{server.port}/t"\n'
        'secret_env = "DESK_TOKEN"\nfields = { id = "id", created = "created" }\n',
        encoding="utf-8",
    )
    return path


def test_a_text_is_translated_where_it_is_shown_and_stays_english_for_the_log():
    text = Text(N_("cannot reach {host} through the proxy"), host="desk.example.com")
    with i18n.speaking("fr"):
        assert str(text) == "impossible de joindre desk.example.com via le proxy"
        assert text.english == "cannot reach desk.example.com through the proxy"
    with i18n.speaking("pl"):
        assert str(text) == "nie można dotrzeć do desk.example.com przez proxy"
    assert text == Text(N_("cannot reach {host} through the proxy"), host="desk.example.com")
    with pytest.raises(AttributeError):
        text.template = "changed"  # type: ignore[misc]


def test_a_text_inside_a_text_speaks_the_same_language():
    unread = Text(N_("an unreadable address"))
    outer = Text(N_("{name} linked to another address ({address}); it was not followed, so the "
                    "token stays with the helpdesk and this poll is incomplete. If that is the "
                    "helpdesk's own address, use it as the source's url"), name="Desk",
                 address=unread)  # fmt: skip
    with i18n.speaking("es"):
        assert str(outer).startswith("Desk enlazó a otra dirección (una dirección ilegible);")
        assert outer.english.startswith("Desk linked to another address (an unreadable address);")


def test_a_refused_token_is_said_in_german_and_kept_in_english(refusing):
    client = HttpClient(f"http://127.0.0.1:{refusing.port}", timeout=5, name="Desk")
    try:
        with i18n.speaking("de"), pytest.raises(AuthError) as caught:
            client.get_json("/t")
    finally:
        client.close()
    error = caught.value
    with i18n.speaking("de"):
        assert str(error) == error.message == REFUSED_DE
    assert error.english == REFUSED_EN
    assert error.said == "Invalid API token"
    with i18n.speaking("it"):  # translated when read, in the language of the place reading it
        assert error.message.startswith("Desk non ha accettato le credenziali (Invalid API token)")
    # a copy of the error (as pickle makes for another process) keeps both languages
    kept = copy.deepcopy(error)
    assert kept.english == REFUSED_EN and kept.text == error.text


def test_a_plain_message_is_shown_as_it_is():
    error = SourceError("the helpdesk said no")
    with i18n.speaking("de"):
        assert str(error) == error.english == "the helpdesk said no"


def test_the_mail_server_not_found_in_french():
    error = classify_error(socket.gaierror("no such host"), "connect", "imap.acme.test", 993, 10)
    with i18n.speaking("fr"):
        assert str(error) == "serveur de messagerie imap.acme.test introuvable (vérifiez l'URL)"
    assert error.english == "cannot find the mail server imap.acme.test (check the url)"


def test_settings_connection_test_says_the_refusal_in_dutch(refusing):
    from agent.connection import try_connection

    table = {
        "name": "Desk",
        "kind": "json",
        "url": f"http://127.0.0.1:{refusing.port}/t",
        "fields": {"id": "id", "created": "created"},
    }
    with i18n.speaking("nl"):
        result = try_connection(table, secret="desk-token-not-a-real-one")
    assert not result.ok
    assert result.message == (
        "Niet verbonden: Desk accepteerde de inloggegevens niet (Invalid API token); "
        "controleer gebruiker en token."
    )


def test_check_says_the_refusal_in_german_while_json_and_log_stay_english(
    refusing, cli_env, tmp_path
):
    cli_env |= {"DESK_TOKEN": "cli-desk-token-9f3a", "LANGUAGE": "de"}
    args = ["check", "--config", str(config_for(tmp_path, refusing)), "--data-dir", str(tmp_path)]

    table = run_cli([*args, "-v"], cli_env)
    assert table.returncode == 3, table.stderr
    line = table.stdout.splitlines()[0]
    assert line.startswith("Desk (json): ") and line.endswith(REFUSED_DE), line

    log = Path(cli_env["XDG_STATE_HOME"]) / "ticketbell" / "log" / "ticketbell.log"
    logged = log.read_text(encoding="utf-8") + table.stderr
    assert f"Desk: {REFUSED_EN}" in logged
    assert "Zugangsdaten" not in logged

    shown = run_cli([*args, "--json"], cli_env)
    report = json.loads(shown.stdout)
    assert report["sources"][0]["health"] == "failing"
    assert report["sources"][0]["message"] == REFUSED_EN


def test_sources_lists_the_kinds_in_german(cli_env):
    from agent.sources import KINDS, source_class

    done = run_cli(["sources"], {**cli_env, "LANGUAGE": "de"})
    assert done.returncode == 0, done.stderr
    width = max(len(k) for k in KINDS)
    with i18n.speaking("de"):
        wanted = [f"{k.ljust(width)}  {i18n._(source_class(k).description)}" for k in KINDS]
    assert done.stdout.splitlines() == wanted
    assert "demo       eingebauter Demo-Helpdesk: " in done.stdout
    english = [source_class(k).description for k in KINDS]
    assert not any(description in done.stdout for description in english)


def test_a_missing_token_is_said_in_italian_and_logged_in_english(monkeypatch):
    from agent.config import SourceConfig
    from agent.engine import make_source
    from agent.model import utcnow
    from agent.sources.base import NotConfigured

    monkeypatch.delenv("DESK_TOKEN_NOT_SET", raising=False)
    config = SourceConfig(
        name="Desk", kind="json", url="http://127.0.0.1:9/t", secret_env="DESK_TOKEN_NOT_SET",
        options={"fields": {"id": "id", "created": "created"}},
    )  # fmt: skip
    with pytest.raises(NotConfigured) as caught:
        make_source(config, utcnow)
    with i18n.speaking("it"):
        assert str(caught.value) == (
            "la variabile d'ambiente DESK_TOKEN_NOT_SET non è impostata; "
            "dovrebbe contenere il token per 'Desk'"
        )
    assert caught.value.english == (
        "the environment variable DESK_TOKEN_NOT_SET is not set; "
        "it should hold the token for 'Desk'"
    )


def test_the_status_and_alert_speak_german_while_log_and_json_stay_english(
    tmp_path, clock, caplog, monkeypatch
):
    from tests.test_engine import Harness, make_config

    monkeypatch.setattr(i18n, "_chosen", i18n.choose(["de"]))  # the agent's language
    h = Harness(tmp_path, clock, make_config())
    try:
        h.sources["A"].error = AuthError(
            Text(N_("{name} refused access; the token lacks permission"), name="A")
        )
        h.start()
        h.until(lambda: any(a.kind == "source_down" for a in h.alerts))
    finally:
        h.agent.stop()
    english = "A refused access; the token lacks permission"
    german = "A hat den Zugriff verweigert; dem Token fehlt die Berechtigung"
    health = h.health("A")
    assert (health.message, health.message_en) == (german, english)
    down = next(a for a in h.alerts if a.kind == "source_down")
    assert down.message == german and down.to_json()["subject"] == english
    logged = [r.getMessage() for r in caplog.records if r.name == "agent.engine.pipeline"]
    assert f"A: {english}" in logged and not any("Zugriff" in line for line in logged)


def test_check_json_says_a_config_error_in_english(cli_env, tmp_path):
    path = tmp_path / "ticketbell.toml"
    path.write_text("colour = 'blue'\n", encoding="utf-8")
    done = run_cli(["check", "--json", "--config", str(path)], {**cli_env, "LANGUAGE": "de"})
    assert done.returncode == 3
    error = json.loads(done.stdout)["error"]
    assert error.startswith(f"{path}: colour: unknown key"), error
    assert "unbekannter Schlüssel" in done.stderr  # the person reads it in German
