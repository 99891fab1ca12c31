"""The team link's problems, a connector's option mistakes and big numbers read in the person's
language, while the log and the JSON output keep them in English."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from agent import i18n
from agent.config import ConfigError, Team, from_dict
from agent.i18n import N_, Number, Text
from agent.sources import team_messages
from agent.sources.base import NotConfigured, Unavailable, Unreachable
from agent.team import TeamLink
from tests.conftest import run_cli

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=timezone.utc)


def hhmm(at: datetime) -> str:
    """The clock time as the log writes it (24-hour, this computer's zone)."""
    return at.astimezone().strftime("%H:%M")


def unconnected_link() -> TeamLink:
    """A member's link without a password: it never connects, so no broker is needed."""
    return TeamLink(
        Team("mqtt://127.0.0.1:1883", "acme", "anna"), None, {}, clock=lambda: NOW, presence=False
    )


def test_a_members_team_problems_are_shown_in_german_and_logged_in_english(caplog):
    link = unconnected_link()
    try:
        assert link.problem is not None
        with i18n.speaking("de"):
            assert str(link.problem) == "kein Team-Passwort: `ticketbell secret set team`"
        link.synced = True  # as if the broker had sent its retained messages
        with pytest.raises(Unavailable) as never_heard:
            link.read("Zendesk")
        with i18n.speaking("de"):
            assert str(never_heard.value) == "auf dem Broker hat sich noch kein Team-Hub gemeldet"
        assert never_heard.value.english == "no team hub has been heard from on the broker"
        link.beat = team_messages.HubBeat("hub", online=False, interval=1.0, at=None)
        link.beat_heard = link.offline_since = NOW
        with pytest.raises(Unavailable) as offline:
            link.read("Zendesk")
        with i18n.speaking("fr"):  # the time too, as the member's locale writes it
            clock = i18n.time_text(NOW)
            assert str(offline.value) == f"le hub de l'équipe est hors ligne depuis {clock}"
        with i18n.speaking("en_US"):
            assert str(offline.value) == f"the team hub is offline since {i18n.time_text(NOW)}"
            assert str(offline.value)[-2:] in ("AM", "PM")  # 12-hour, as in the US
        with i18n.in_english():  # the log's 24-hour time
            assert offline.value.english == f"the team hub is offline since {i18n.time_text(NOW)}"
        assert offline.value.english[-2:] not in ("AM", "PM")
        with caplog.at_level(logging.WARNING, logger="agent.team"), i18n.speaking("pl"):
            link._connect_failed(None, None)
            assert (
                str(link.problem)
                == "nie można połączyć się z brokerem zespołu mqtt://127.0.0.1:1883"
            )
        # the log says it in English (the host may be masked: an earlier test's secret)
        assert [m[:39] for m in caplog.messages] == ["team: cannot connect to the team broker"]
        link.synced = False
        with pytest.raises(Unreachable) as unreachable:
            link.read("Zendesk", wait=0)
        with i18n.speaking("nl"):
            assert str(unreachable.value) == (
                "kan geen verbinding maken met de teambroker mqtt://127.0.0.1:1883"
            )
    finally:
        link.close()


def json_source(fields: object) -> dict[str, object]:
    return {"name": "Desk", "kind": "json", "url": "http://127.0.0.1:9/t", "fields": fields}


def test_a_connectors_option_mistake_is_said_in_the_persons_language():
    raw = {"sources": [json_source({"id": "id", "created": "created", "colour": "x"})]}
    with i18n.speaking("de"), pytest.raises(ConfigError) as caught:
        from_dict(raw)
    from agent.sources.jsonapi import FIELDS

    fields = ", ".join(FIELDS)
    assert caught.value.message == f"ist kein Ticketfeld; verwenden Sie {fields}"
    assert caught.value.english == (
        f"<config>: sources[0].fields.colour: is not a ticket field; use {fields}"
    )
    missing = {"sources": [json_source({"created": "created"})]}
    with i18n.speaking("es"), pytest.raises(ConfigError) as no_id:
        from_dict(missing)
    assert no_id.value.message == (
        "falta; indique dónde está el campo id del ticket en un elemento, p. ej. a.b"
    )
    assert no_id.value.english.endswith(
        "is missing; say where the ticket's id is in one item, e.g. a.b"
    )
    mail = {"sources": [{"name": "Mail", "kind": "imap", "user": "a@example.com"}]}
    with i18n.speaking("it"), pytest.raises(ConfigError) as no_url:
        from_dict(mail)
    assert no_url.value.message.startswith("manca; imposta url sul server di posta")


def test_a_connector_refusing_its_options_says_so_in_the_persons_language():
    from agent.config import SourceConfig
    from agent.sources.jsonapi import JsonSource

    config = SourceConfig(
        name="Desk", kind="json", url="http://127.0.0.1:9/t", options={"fields": ["id"]}
    )
    with pytest.raises(NotConfigured) as caught:
        JsonSource(config, "fields-test-7f3a9c")  # a secret no text contains
    with i18n.speaking("fr"):
        assert str(caught.value) == (
            "Desk : fields doit être une table : chaque champ de ticket et où il se trouve "
            "dans un élément"
        )
    assert caught.value.english == (
        "Desk: fields must be a table: each ticket field and where it is in one item"
    )


def test_config_validate_says_an_option_mistake_in_german_and_check_json_in_english(
    cli_env, tmp_path
):
    path = tmp_path / "ticketbell.toml"
    path.write_text(
        '[[sources]]\nname = "Desk"\nkind = "json"\nurl = "http://127.0.0.1:9/t"\n'
        'fields = { id = "id", created = "created" }\nwaiting_statuses = ["open"]\n',
        encoding="utf-8",
    )
    env = {**cli_env, "LANGUAGE": "de"}
    shown = run_cli(["config", "validate", "--config", str(path)], env)
    assert shown.returncode != 0
    assert (
        "fields.status: wird zum Filtern nach waiting_statuses gebraucht"
        in shown.stderr + shown.stdout
    )
    done = run_cli(["check", "--json", "--config", str(path)], env)
    error = json.loads(done.stdout)["error"]
    assert error == f"{path}: sources[0].fields.status: is needed to filter by waiting_statuses"


def test_a_big_number_is_written_as_the_persons_locale_writes_it():
    text = Text(
        N_("the mail server {where} sent more than Ticketbell reads in one poll "
           "({size} bytes in one answer); refused"),
        where="imap.example.com", size=Number(1234567),
    )  # fmt: skip
    with i18n.speaking("de"):
        assert "(1.234.567 Bytes in einer Antwort)" in str(text)
        assert i18n.number(1234) == "1.234"
    with i18n.speaking("pt_BR"):
        assert "1.234.567" in str(text)
    assert "(1,234,567 bytes in one answer)" in text.english
    assert text == Text(text.template, where="imap.example.com", size=Number(1234567))


def test_the_hub_offline_time_is_the_one_the_member_reads():
    link = unconnected_link()
    try:
        link.beat = team_messages.HubBeat("hub", online=True, interval=1.0, at=NOW)
        link.beat_heard = NOW
        assert link.hub_problem(NOW + timedelta(seconds=2)) is None
        later = link.hub_problem(NOW + timedelta(seconds=5))
        assert later is not None and later.english == f"the team hub is offline since {hhmm(NOW)}"
    finally:
        link.close()
