"""The wizard's "Join my team" against a real Mosquitto with a hub publishing (tests/broker.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import config as cfg
from agent import secrets
from agent.engine import make_source
from agent.model import Snapshot
from agent.team_hub import Hub
from tests.broker import PAHO_LEAVES_FAILED_TLS_SOCKET, PASSWORDS, TEAM, Broker, running_broker
from tests.test_team import NOW, settings, ticket, wait_until
from ui.access import plain
from ui.settings import team_page
from ui.settings.team_page import JoinTeamDialog


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Broker, Hub]]:
    with running_broker(tmp_path / "mosquitto") as b:
        hub = Hub(settings(b, "hub", hub=True), PASSWORDS["hub"], make_source)
        try:
            wait_until(lambda: hub.active)
            tickets = (ticket(1, "Billing"), ticket(2, "Sales"))
            hub.publish_snapshot("Zendesk", Snapshot("Zendesk", tickets, NOW))
            yield b, hub
        finally:
            hub.close()


def fill(dialog: JoinTeamDialog, b: Broker, user: str, password: str) -> None:
    dialog.broker.setText(b.tls_url)
    dialog.team.setText(TEAM)
    dialog.user.setText(user)
    dialog.password.setText(password)
    dialog.ca.setText(str(b.ca_file))


def test_join_my_team_lists_the_hubs_helpdesks_and_saves_a_member(
    qtbot: Any, tmp_path: Path, hub: tuple[Broker, Hub]
) -> None:
    b, _ = hub
    path = tmp_path / "ticketbell.toml"
    dialog = JoinTeamDialog(None, path)
    qtbot.addWidget(dialog)
    fill(dialog, b, "anna", PASSWORDS["anna"])
    dialog.connect_button.click()
    qtbot.waitUntil(dialog.save_button.isEnabled, timeout=15_000)
    shown = {name: [plain(b.text()).strip() for b in boxes] for name, boxes in dialog.boxes.items()}
    assert shown == {"Zendesk": ["Zendesk", "Billing", "Sales"]}
    dialog.boxes["Zendesk"][1].setChecked(True)  # Billing
    dialog.save_button.click()
    assert dialog.config is not None, dialog.note.text()
    saved = cfg.load(path)
    assert saved.team is not None and saved.team.user == "anna"
    assert [(s.name, s.kind, s.categories) for s in saved.sources] == [
        ("Zendesk", "team", ("Billing",))
    ]
    assert secrets.get("team") == PASSWORDS["anna"]
    assert PASSWORDS["anna"] not in path.read_text()


def test_join_my_team_says_why_it_cannot_list(
    qtbot: Any, tmp_path: Path, hub: tuple[Broker, Hub]
) -> None:
    b, _ = hub
    dialog = JoinTeamDialog(None, tmp_path / "ticketbell.toml")
    qtbot.addWidget(dialog)
    fill(dialog, b, "anna", "not-her-password")
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: "Could not list" in dialog.note.text(), timeout=20_000)
    assert "refused the login of 'anna'" in dialog.note.text()
    assert not dialog.save_button.isEnabled()
    dialog.broker.setText("mqtt://mqtt.example.com:1883")
    dialog.connect_button.click()
    assert "must use TLS" in dialog.note.text()


def test_join_my_team_says_when_nothing_answers_at_the_address(qtbot: Any, tmp_path: Path) -> None:
    """A mistyped broker address is said as soon as the connection fails (paho would go on
    trying; the person is waiting on the dialog), not after the wait for a hub's list."""
    from tests.broker import free_port

    dialog = JoinTeamDialog(None, tmp_path / "ticketbell.toml")
    qtbot.addWidget(dialog)
    address = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    dialog.broker.setText(address)
    dialog.team.setText(TEAM)
    dialog.user.setText("anna")
    dialog.password.setText(PASSWORDS["anna"])
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: "Could not list" in dialog.note.text(), timeout=20_000)
    assert f"cannot connect to the team broker {address}" in dialog.note.text()
    assert not dialog.save_button.isEnabled()


@PAHO_LEAVES_FAILED_TLS_SOCKET
def test_join_my_team_shows_a_long_problem_whole(
    qtbot: Any, tmp_path: Path, hub: tuple[Broker, Hub]
) -> None:
    """An untrusted certificate's note is six lines long: the dialog grows to show all of it,
    its fields keeping their height (they were squeezed and the note's last line cut off)."""
    b, _ = hub
    dialog = JoinTeamDialog(None, tmp_path / "ticketbell.toml")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    fill(dialog, b, "anna", PASSWORDS["anna"])
    dialog.ca.setText("")  # the broker's CA not given: its certificate is not trusted
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: "certificate" in dialog.note.text(), timeout=20_000)
    note = dialog.note

    def whole() -> bool:
        return note.height() >= note.heightForWidth(note.width()) and all(
            field.height() >= field.sizeHint().height()
            for field in (dialog.broker, dialog.team, dialog.user, dialog.password, dialog.ca)
        )

    qtbot.waitUntil(whole, timeout=5_000)


def stand_in_hub(
    monkeypatch: pytest.MonkeyPatch, found: dict[str, list[str]]
) -> list[tuple[Any, str]]:
    """The hub's list answered without a broker: ``found`` for every listing (the dict may be
    changed between listings); what each listing was asked with, in order."""
    asked: list[tuple[Any, str]] = []

    def hub_sources(settings: Any, password: str) -> tuple[dict[str, list[str]], str]:
        asked.append((settings, password))
        return {name: list(categories) for name, categories in found.items()}, ""

    monkeypatch.setattr(team_page, "hub_sources", hub_sources)
    return asked


def list_now(qtbot: Any, dialog: JoinTeamDialog) -> None:
    dialog.connect_button.click()
    assert not dialog.connect_button.isEnabled(), dialog.note.text()
    qtbot.waitUntil(dialog.connect_button.isEnabled, timeout=5_000)


def fill_by_hand(dialog: JoinTeamDialog, password: str) -> None:
    dialog.broker.setText("mqtts://mqtt.example.com:8883")
    dialog.team.setText("acme-support")
    dialog.user.setText("anna")
    dialog.password.setText(password)


def test_join_my_team_lists_again_once_the_connection_details_change(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list read goes with the fields it was read with: edited since (another team, login,
    password), Save is off until the hub is asked again; it saved the fields never tried on
    the hub with the first team's helpdesks."""
    asked = stand_in_hub(monkeypatch, {"Zendesk": ["Billing", "R&D"], "Mail": []})
    path = tmp_path / "ticketbell.toml"
    dialog = JoinTeamDialog(None, path)
    qtbot.addWidget(dialog)
    fill_by_hand(dialog, "pw-anna-OK")
    list_now(qtbot, dialog)
    assert dialog.save_button.isEnabled()
    for field in (dialog.broker, dialog.team, dialog.user, dialog.password, dialog.ca):
        before = field.text()
        field.setText(before + "x")
        assert not dialog.save_button.isEnabled()
        assert "list the hub's helpdesks again" in dialog.note.text()
        field.setText(before)  # as the list was read with
        assert dialog.save_button.isEnabled()
    dialog.team.setText("other-team")
    dialog.user.setText("bob")
    dialog.password.setText("pw-bob-UNTRIED")
    assert not dialog.save_button.isEnabled()
    dialog.save()  # even called directly
    assert dialog.config is None and not path.exists()
    list_now(qtbot, dialog)
    settings, password = asked[-1]
    assert (settings.name, settings.user, password) == ("other-team", "bob", "pw-bob-UNTRIED")
    dialog.save_button.click()
    assert dialog.config is not None, dialog.note.text()
    saved = cfg.load(path)
    assert saved.team is not None and (saved.team.name, saved.team.user) == ("other-team", "bob")
    assert secrets.get("team") == "pw-bob-UNTRIED"


def test_join_my_team_keeps_the_keyring_as_it_was_when_it_cannot_save(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings are checked before the password is stored: a save refused (two of the
    hub's helpdesks whose names differ only in case) left the new password in the keyring."""
    secrets.set("team", "pw-previous-GOOD")
    stand_in_hub(monkeypatch, {"Zendesk": [], "ZENDESK": []})
    path = tmp_path / "ticketbell.toml"
    dialog = JoinTeamDialog(None, path)
    qtbot.addWidget(dialog)
    fill_by_hand(dialog, "wrong-NEW")
    list_now(qtbot, dialog)
    dialog.save_button.click()
    assert dialog.config is None
    assert "Not saved" in dialog.note.text() and "used twice" in dialog.note.text()
    assert not path.exists()
    assert secrets.get("team") == "pw-previous-GOOD"


def test_join_my_team_keeps_the_ticks_when_it_lists_again(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing again keeps what the person ticked or unticked of what the hub still offers
    (every category was unticked and every helpdesk ticked again)."""
    found = {"Zendesk": ["Billing", "R&D"], "Mail": []}
    stand_in_hub(monkeypatch, found)
    dialog = JoinTeamDialog(None, tmp_path / "ticketbell.toml")
    qtbot.addWidget(dialog)
    fill_by_hand(dialog, "pw-anna-OK")
    list_now(qtbot, dialog)
    dialog.boxes["Zendesk"][1].setChecked(True)  # Billing
    dialog.boxes["Zendesk"][2].setChecked(True)  # R&D
    dialog.boxes["Mail"][0].setChecked(False)
    found["Zendesk"] = ["Sales", "R&D"]  # Billing no longer offered
    found["Jira"] = ["Billing"]
    list_now(qtbot, dialog)
    assert dialog.picked() == {"Zendesk": ["R&D"], "Jira": []}
