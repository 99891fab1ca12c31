"""Settings and wizard set-up (issue 17): every kind's table survives the form, the wizard
cannot end unsaved, the token box says a token is stored, pages scroll instead of clipping."""

from __future__ import annotations

from typing import Any

import pytest

from agent import config as config_module
from agent.sources import KINDS, source_class
from agent.sources.base import Option
from ui.settings import SettingsDialog

#: values a person could write for a kind's option, other than its default
SAMPLES: dict[type, Any] = {
    str: "custom-value",
    int: 7,
    bool: True,
    list: ["first", "second"],
    dict: {
        "id": "ticket_id",
        "subject": "title.text",
        "created": "opened_at",
        "status": "state",
        "category": "group.name",
    },
}
SPECIAL = {
    "url": "https://desk.example.com/api/v2",
    "auth": "password",
    "provider": "microsoft",
    "sent_folder": "",  # "" means: the Answered flag only, unlike the default "Sent"
    "issuer": "https://login.example.com",
    "webmail_url": "https://mail.example.com/?id={message_id}",
    "repository": "acme/help",
}


def every_option(kind: str) -> dict[str, Any]:
    """A source table of ``kind`` with every option of the kind and of every source set."""
    cls = source_class(kind)
    table: dict[str, Any] = {
        "name": f"Desk {kind}",
        "kind": kind,
        "interval": "5m",
        "categories": ["Billing", "Support"],
        "secret_env": "DESK_TOKEN",
        "verify": False,
        "proxy": "http://proxy.example.com:3128",
        "timeout": 12.5,
    }
    options: list[Option] = [*cls.required, *cls.optional]
    for opt in options:
        value = SPECIAL.get(opt.key, SAMPLES[opt.type])
        if opt.type is bool:
            value = not opt.default
        table[opt.key] = value
    return table


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_is_saved_through_the_form_unchanged(qtbot, tmp_path, kind) -> None:
    """Open a source with every option set, save without touching a field: the same table."""
    path = tmp_path / "ticketbell.toml"
    table = every_option(kind)
    config_module.from_dict({"sources": [table]}, None)  # the table itself is valid
    dialog = SettingsDialog(path, None, raw={"sources": [table]})
    qtbot.addWidget(dialog)
    assert dialog.save() is not None, dialog.banner.text()
    assert config_module.read_toml(path)["sources"] == [table]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_kind_with_only_its_required_options_gains_nothing(qtbot, tmp_path, kind) -> None:
    """Defaults shown in the form are not written into the file as if the person set them."""
    cls = source_class(kind)
    table: dict[str, Any] = {"name": f"Desk {kind}", "kind": kind}
    for opt in cls.required:
        table[opt.key] = SPECIAL.get(opt.key, SAMPLES[opt.type])
    if kind == "imap":  # with a password (the default sign-in) the server is needed
        table["url"] = "imaps://mail.example.com"
    if cls.needs_secret:
        table["secret_env"] = "DESK_TOKEN"
    path = tmp_path / "ticketbell.toml"
    dialog = SettingsDialog(path, None, raw={"sources": [table]})
    qtbot.addWidget(dialog)
    assert dialog.save() is not None, dialog.banner.text()
    assert config_module.read_toml(path)["sources"] == [table]
