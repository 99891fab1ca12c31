"""Settings and wizard set-up (issue 17): every kind's table survives the form, the wizard
cannot end unsaved, the token box says a token is stored, pages scroll instead of clipping."""

from __future__ import annotations

from typing import Any

import pytest

from agent import config as config_module
from agent import secrets as secret_store
from agent.sources import KINDS, source_class
from agent.sources.base import Option
from tests.test_secrets_file import TOKEN
from ui.access import plain
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
    "auth": "oauth",  # checked: "oauth" or the kind's own way ("token", "password")
    "provider": "microsoft",
    "sent_folder": "",  # "" means: the Answered flag only, unlike the default "Sent"
    "issuer": "https://login.example.com",
    "webmail_url": "https://mail.example.com/?id={message_id}",
    "repository": "acme/help",
}


def with_team(kind: str, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """A config with ``sources``, and the [team] table a team source follows."""
    team = {"broker": "mqtt://127.0.0.1:1883", "name": "acme", "user": "anna"}
    return {"sources": sources, **({"team": team} if kind == "team" else {})}


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
    config_module.from_dict(with_team(kind, [table]), None)  # the table itself is valid
    dialog = SettingsDialog(path, None, raw=with_team(kind, [table]))
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
    dialog = SettingsDialog(path, None, raw=with_team(kind, [table]))
    qtbot.addWidget(dialog)
    assert dialog.save() is not None, dialog.banner.text()
    assert config_module.read_toml(path)["sources"] == [table]


# ------------------------------------------------------------------ the wizard cannot end unsaved


def test_the_wizard_cannot_finish_without_saved_settings(qtbot, tmp_path, monkeypatch) -> None:
    """A folder that cannot be written: the last page says "Not saved yet" and why, and Finish
    stays off; once the settings are saved, Finish turns start at login on as ticked."""
    from PySide6.QtWidgets import QWizard

    from agent import autostart
    from ui.settings import FirstRunWizard

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the login item's folder
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the config's folder should be")
    wizard = FirstRunWizard(blocked / "ticketbell.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)
    wizard.next()
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert wizard.done_page.title() == "Not saved yet"
    assert "could not write" in wizard.summary.text() and "try again" in wizard.summary.text()
    assert not finish.isEnabled()
    assert not wizard.done_page.autostart.isVisibleTo(wizard)

    wizard.path = tmp_path / "ticketbell.toml"
    wizard.back()
    wizard.next()
    assert wizard.done_page.title() == "All set"
    assert wizard.done_page.autostart.isChecked()  # offered, ticked
    assert finish.isEnabled()
    assert not autostart.enabled()
    with qtbot.waitSignal(wizard.finished_with) as done:
        finish.click()
    assert done.args[0] is not None
    assert autostart.enabled()


def _app(tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from agent.cli import build_parser
    from ui.app import TicketbellApp

    quits: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: quits.append(True)))
    args = build_parser().parse_args(["--config", str(tmp_path / "ticketbell.toml")])
    settings = QSettings(str(tmp_path / "qt.ini"), QSettings.Format.IniFormat)
    return TicketbellApp(args, settings), quits


def test_leaving_the_wizard_keeps_an_icon_that_says_what_is_missing(
    qtbot, tmp_path, monkeypatch
) -> None:
    app, quits = _app(tmp_path, monkeypatch)
    app.start()
    wizard = app.dialog
    qtbot.addWidget(wizard)
    wizard.reject()
    try:
        assert quits == []  # Ticketbell did not end without a word
        needed = app.setup_needed
        assert "no helpdesk is set up yet" in needed.icon.toolTip()
        menu = [a.text() for a in needed.menu.actions()]
        assert "Set up Ticketbell…" in menu and "Quit Ticketbell" in menu
        assert needed.window is not None and needed.window.isVisible()  # no tray here
        needed.set_up.emit()
        assert app.dialog is not wizard and app.dialog.isVisible()  # the wizard again
        qtbot.addWidget(app.dialog)
    finally:
        app.shutdown()
    assert app.setup_needed is None


def test_the_demo_stays_apart_from_the_persons_settings(qtbot, tmp_path, monkeypatch) -> None:
    """ "Try the demo" runs the demo without saving it; in its Settings, adding a helpdesk of
    one's own and saving makes that the config, and the app leaves the demo."""
    path = tmp_path / "ticketbell.toml"
    app, _ = _app(tmp_path, monkeypatch)
    app.start()
    qtbot.addWidget(app.dialog)
    try:
        app.dialog.demo_button.click()
        assert app.args.demo and app.agent is not None
        assert not path.exists()
        app.open_settings()
        dialog = app.dialog
        qtbot.addWidget(dialog)
        assert "This is the demo: nothing here is saved" in dialog.banner.text()
        form = dialog.source_form
        form.kind.setCurrentIndex(form.kind.findData("freescout"))
        form.name.setText("Our desk")
        form.fields["url"].setText("https://help.example.com")
        form.token.setText("demo-to-real-TOKEN-81f2")
        assert dialog.save() is not None, dialog.banner.text()
        assert config_module.load(path).sources[0].name == "Our desk"
        assert not app.args.demo and app.config.sources[0].name == "Our desk"
    finally:
        app.shutdown()


# ------------------------------------------------------------------ tokens without a keyring


@pytest.fixture
def no_keyring(tmp_path, monkeypatch):
    """No keyring service, and a config folder of this test's own (as test_secrets_file's)."""
    import keyring
    from keyring.backends import fail

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield secret_store.token_file()
    keyring.set_keyring(before)


def test_settings_ask_before_using_the_file_and_say_a_token_is_stored(
    qtbot, tmp_path, monkeypatch, no_keyring
) -> None:
    from PySide6.QtWidgets import QMessageBox

    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def warning(_parent, _title, text, *_args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    path = tmp_path / "ticketbell.toml"
    source = {"name": "Help", "kind": "freescout", "url": "https://help.example.com"}
    dialog = SettingsDialog(path, None, raw={"sources": [source]})
    qtbot.addWidget(dialog)
    form = dialog.source_form
    assert form.token.placeholderText() == ""  # nothing stored yet
    form.token.setText(TOKEN)
    assert dialog.save() is None  # "No": nothing saved, the advice shown
    assert "no keyring service" in dialog.banner.text() and not no_keyring.exists()
    assert "only your user account can read" in asked[0]
    assert dialog.save() is not None  # "Yes"
    assert TOKEN not in path.read_text()
    assert secret_store.get("Help") == TOKEN
    assert form.token.text() == ""
    assert form.token.placeholderText() == "stored in a private file — type to replace"
    assert config_module.load(path).sources[0].name == "Help"


def test_the_token_box_says_a_token_is_in_the_keyring(qtbot, tmp_path) -> None:
    secret_store.set("Stored desk", "stored-TOKEN-d00d11")
    source = {"name": "Stored desk", "kind": "freescout", "url": "https://help.example.com"}
    dialog = SettingsDialog(tmp_path / "t.toml", None, raw={"sources": [source]})
    qtbot.addWidget(dialog)
    token = dialog.source_form.token
    assert token.text() == ""
    assert token.placeholderText() == "stored in the keyring — type to replace"
    secret_store.delete("Stored desk")


# ------------------------------------------------------------------ plain words, help at the field


def _plain(text: str) -> str:
    """Markdown as read: no emphasis or code marks, one space between words."""
    return " ".join(text.replace("*", "").replace("`", "").split())


def test_every_token_field_says_how_to_get_it_with_the_readmes_steps(qtbot) -> None:
    from pathlib import Path

    from ui.settings import SourceForm

    readme = _plain((Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8"))
    form = SourceForm()
    qtbot.addWidget(form)
    form.show()
    for kind in KINDS:
        cls = source_class(kind)
        form.kind.setCurrentIndex(form.kind.findData(kind))
        if not cls.needs_secret:
            assert not form.token_help.isVisibleTo(form)
            continue
        assert cls.credential_steps and _plain(cls.credential_steps) in readme, kind
        assert form.token_help.isVisibleTo(form) and not form.token_steps.isVisibleTo(form)
        form.token_help.click()
        assert form.token_steps.isVisibleTo(form)
        assert form.token_steps.text().startswith(cls.credential_steps.rstrip("."))


def test_the_kind_lists_are_in_plain_words(qtbot, tmp_path) -> None:
    from ui.settings import FirstRunWizard, SourceForm

    form = SourceForm()
    wizard = FirstRunWizard(tmp_path / "t.toml")
    qtbot.addWidget(form)
    qtbot.addWidget(wizard)
    for box in (form.kind, wizard.kind):
        texts = [box.itemText(i) for i in range(box.count())]
        assert len(texts) == len(KINDS)
        for text in texts:
            assert "REST2" not in text and "dotted" not in text and " — " not in text, text
            assert text[0].isupper()
    form.kind.setCurrentIndex(form.kind.findData("json"))
    labels = [
        plain(form.form.labelForField(form.errors[key].parentWidget()).text())
        for key in form.errors
        if key in ("fields", "items", "next")
    ]
    assert labels == [
        "Which field is which",
        "Where the tickets are (optional)",
        "Where the next page is (optional)",
    ]


# ------------------------------------------------------------------ small screens


IMAP_OAUTH = {
    "name": "Support inbox",
    "kind": "imap",
    "user": "support@example.com",
    "url": "imaps://mail.example.com",
    "auth": "oauth",
    "provider": "microsoft",
    "client_id": "abc",
    "scopes": ["x"],
    "webmail_url": "https://outlook.office.com/mail/?id={message_id}",
}


def hide(window) -> None:
    """Before a test's window is closed: hidden, so that one left with edits (a test that
    failed half way) does not stop the run with its question."""
    window.hide()


def squeezed(root) -> list[str]:
    """Every visible widget under ``root`` laid out shorter than it asks for (its height for
    its width, for wrapped text): a clipped hint, a row drawn over the next."""
    from PySide6.QtWidgets import QWidget

    out = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or widget.width() <= 0:
            continue
        parent = widget.parentWidget()
        if parent is None or parent.layout() is None:  # a part of a combo box, a viewport
            continue
        if widget.hasHeightForWidth():
            need = widget.heightForWidth(widget.width())
        else:
            need = widget.minimumSizeHint().height()
        if widget.height() < need:
            name = getattr(widget, "text", lambda: "")() or type(widget).__name__
            out.append(f"{name[:40]!r}: {widget.height()} < {need}")
    return out


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1366, 728)])
def test_settings_fit_a_small_screen_and_squeeze_no_row(qtbot, tmp_path, width, height) -> None:
    """1280×720, and 1366×768 less a 40 px taskbar: the window fits with its banner (a title
    bar of 30 px besides) and every row of the long IMAP form gets its height: the page
    scrolls instead."""
    from PySide6.QtCore import QPoint, QSize

    from ui.settings.widgets import fit_screen

    dialog = SettingsDialog(tmp_path / "t.toml", None, raw={"sources": [IMAP_OAUTH]})
    qtbot.addWidget(dialog, before_close_func=hide)
    fit_screen(dialog, dialog.width(), dialog.height(), QSize(width, height))  # as on that screen
    dialog.show()
    dialog.source_form.interval.setText("5x")
    assert dialog.save() is None  # the "Not saved" banner shows, and the error at its field
    qtbot.waitUntil(lambda: squeezed(dialog) == [], timeout=3000)  # laid out by posted events
    assert dialog.banner.isVisible()
    assert dialog.height() <= height - 30 and dialog.width() <= width
    area = dialog.helpdesks.form_area
    assert area.verticalScrollBar().maximum() > 0  # the long form scrolls
    assert area.horizontalScrollBar().maximum() == 0  # and only down: nothing cut on the right
    error = dialog.source_form.errors["interval"]
    in_view = area.viewport().rect()
    qtbot.waitUntil(lambda: in_view.contains(error.mapTo(area.viewport(), QPoint(0, 0))))
    for page in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(page)
        qtbot.waitUntil(lambda: squeezed(dialog) == [], timeout=3000)


def test_wizard_pages_scroll_instead_of_clipping(qtbot, tmp_path) -> None:
    from PySide6.QtCore import QSize

    from ui.settings import FirstRunWizard
    from ui.settings.widgets import fit_screen

    wizard = FirstRunWizard(tmp_path / "t.toml")
    qtbot.addWidget(wizard)
    fit_screen(wizard, wizard.width(), wizard.height(), QSize(1280, 720))
    wizard.show()
    wizard.kind.setCurrentIndex(wizard.kind.findData("imap"))
    wizard.next()
    wizard.form.load(IMAP_OAUTH)
    bar = wizard.connect_page.area.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=3000)  # laid out by posted events
    assert squeezed(wizard) == []
    assert wizard.height() <= 720 - 30


# ------------------------------------------------------------------ every error at its field


def test_settings_mark_every_error_at_its_field_at_once(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    source = {"name": "Own", "kind": "json", "url": "https://desk.example.com/api"}
    source["fields"] = {"id": "ticket_id", "subject": "title"}  # "created" is missing
    other = {"name": "Second", "kind": "freescout"}  # its url is missing
    dialog = SettingsDialog(path, None, raw={"sources": [source, other]})
    qtbot.addWidget(dialog)
    form = dialog.source_form
    form.interval.setText("5x")
    dialog.alerts.quiet.setText("late-early")
    dialog.response.window_default.setText("soon")
    assert dialog.save() is None
    assert "not a duration" in form.errors["interval"].text()
    assert "created: is missing" in form.errors["fields"].text()
    assert "not a time" in dialog.alerts.errors["alerts.quiet_hours"].text()
    assert "not a duration" in dialog.response.default_error.text()
    banner = dialog.banner.text()
    assert banner.startswith("Not saved: please fix the 4 fields marked in red on the ")
    assert "Helpdesks, Response times and Alerts pages" in banner
    assert "fix also the helpdesk Second" in banner
    assert dialog.tabs.currentIndex() == 0  # the first error's page
    assert not path.exists()


def test_the_wizard_marks_every_error_at_its_field(qtbot, tmp_path) -> None:
    from tests.fakes.web import closed_port_url
    from ui.settings import FirstRunWizard

    wizard = FirstRunWizard(tmp_path / "ticketbell.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.kind.setCurrentIndex(wizard.kind.findData("json"))
    wizard.next()
    form = wizard.form
    form.fields["url"].setText(closed_port_url())
    form.fields["fields"].set_value({"id": "ticket_id"})
    form.interval.setText("every now and then")
    form.token.setText("wizard-errors-TOKEN-5a5a")
    wizard.next()
    qtbot.waitUntil(lambda: wizard.connect_page.anyway.isVisibleTo(wizard), timeout=10_000)
    wizard.connect_page.anyway.setChecked(True)
    wizard.next()
    wizard.next()
    assert wizard.done_page.title() == "Not saved yet"
    assert "fix the 2 fields marked in red" in wizard.summary.text()
    assert "not a duration" in form.errors["interval"].text()
    assert "is missing" in form.errors["fields"].text()
    assert not wizard.button(wizard.WizardButton.FinishButton).isEnabled()


def test_durations_are_read_as_people_write_them(qtbot, tmp_path) -> None:
    """In the config file and in Settings: "2 hours", "90 min", "1h30m"."""
    path = tmp_path / "ticketbell.toml"
    path.write_text(
        '[windows]\ndefault = "2 hours"\n[[sources]]\nname = "D"\nkind = "demo"\n'
        'interval = "90 sec"\n'
    )
    config = config_module.load(path)
    assert config.windows.default.total_seconds() == 7200
    assert config.sources[0].interval.total_seconds() == 90
    dialog = SettingsDialog(path, config)
    qtbot.addWidget(dialog)
    dialog.source_form.interval.setText("1 hour 30 min")
    dialog.response.window_default.setText("90 min")
    assert dialog.save() is not None, dialog.banner.text()
    saved = config_module.load(path)
    assert saved.sources[0].interval.total_seconds() == 5400
    assert saved.windows.default.total_seconds() == 5400


def test_esc_asks_before_dropping_edits(qtbot, tmp_path, monkeypatch) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    answers: list[QMessageBox.StandardButton] = []
    asked: list[str] = []

    def question(_parent, _title, text, *_args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    path = tmp_path / "ticketbell.toml"
    untouched = SettingsDialog(path, config_module.demo_config())
    qtbot.addWidget(untouched)
    untouched.show()
    qtbot.keyClick(untouched, Qt.Key.Key_Escape)
    assert not untouched.isVisible() and asked == []  # nothing changed: nothing to ask

    dialog = SettingsDialog(path, config_module.demo_config())
    qtbot.addWidget(dialog, before_close_func=hide)
    dialog.show()
    dialog.source_form.interval.setText("10m")
    answers.append(QMessageBox.StandardButton.Cancel)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible() and "without saving" in asked[0]
    assert dialog.source_form.interval.text() == "10m"  # the edit is still there
    answers.append(QMessageBox.StandardButton.Save)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert config_module.load(path).sources[0].interval.total_seconds() == 600

    again = SettingsDialog(path, config_module.load(path))
    qtbot.addWidget(again, before_close_func=hide)
    again.show()
    again.source_form.token.setText("typed-but-dropped")
    answers.append(QMessageBox.StandardButton.Discard)
    again.reject()  # the Cancel button, or closing the window
    assert not again.isVisible() and len(asked) == 2 + 1


def test_esc_asks_before_dropping_a_ticked_start_at_login(qtbot, tmp_path, monkeypatch) -> None:
    """The system keeps "start at login", not the file: ticking it is an edit all the same."""
    from PySide6.QtWidgets import QMessageBox

    from agent import autostart

    asked: list[str] = []

    def question(_parent, _title, text, *_args):
        asked.append(text)
        return QMessageBox.StandardButton.Discard

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", config_module.demo_config())
    qtbot.addWidget(dialog, before_close_func=hide)
    dialog.show()
    assert not dialog.edited()
    dialog.general.autostart.setChecked(True)
    assert dialog.edited()
    dialog.reject()
    assert len(asked) == 1 and "without saving" in asked[0]
    assert not autostart.enabled()  # discarded, as asked


def test_a_rule_for_a_priority_written_in_capitals_is_shown_and_saved(qtbot, tmp_path) -> None:
    """The config reads "Urgent" as urgent; the page showed "any priority" and then refused
    the rule as matching nothing."""
    path = tmp_path / "ticketbell.toml"
    raw = {
        "sources": [{"name": "Desk", "kind": "demo"}],
        "windows": {"rules": [{"priority": "Urgent", "window": "10m"}]},
    }
    dialog = SettingsDialog(path, None, raw=raw)
    qtbot.addWidget(dialog)
    (rule,) = dialog.response.rules
    assert rule.priority.currentData() == "urgent"
    assert dialog.save() is not None, dialog.banner.text()
    assert config_module.load(path).windows.rules[0].priority == "urgent"


def test_an_escalation_table_with_no_level_keeps_its_scorecard(qtbot, tmp_path) -> None:
    """An owner with a weekly scorecard and no escalation level: saving any setting dropped
    the whole [escalation] table, the scorecard with it."""
    path = tmp_path / "ticketbell.toml"
    raw = {
        "role": "owner",
        "sources": [{"name": "Desk", "kind": "demo"}],
        "escalation": {"scorecard_at": "Mon 08:00", "blind_after": "1h"},
    }
    dialog = SettingsDialog(path, None, raw=raw)
    qtbot.addWidget(dialog)
    dialog.alerts.quiet.setText("22:00-07:00")
    assert dialog.save() is not None, dialog.banner.text()
    saved = config_module.load(path).escalation
    assert saved.scorecard_at is not None and saved.blind_after.total_seconds() == 3600
    assert saved.levels == ()
    nothing = SettingsDialog(tmp_path / "other.toml", None, raw={"sources": raw["sources"]})
    qtbot.addWidget(nothing)
    assert nothing.save() is not None
    assert "escalation" not in (tmp_path / "other.toml").read_text()  # nothing said: no table


def test_a_misspelt_role_is_named_not_replaced_by_another(qtbot, tmp_path) -> None:
    """A hand-edited role = "Owner" opened as an assistant's settings and was saved so: the
    owner's escalation stopped without a word. It stays shown, with the config's error."""
    path = tmp_path / "ticketbell.toml"
    path.write_text('role = "Owner"\n[[sources]]\nname = "Desk"\nkind = "demo"\n')
    with pytest.raises(config_module.ConfigError) as caught:
        config_module.load(path)
    dialog = SettingsDialog(path, None, error=caught.value)
    qtbot.addWidget(dialog)
    role = dialog.general.role
    assert role.currentText() == "Owner"
    assert "is not a role" in dialog.general.errors["role"].text()
    assert dialog.save() is None  # not saved as an assistant behind the person's back
    assert 'role = "Owner"' in path.read_text()
    role.setCurrentIndex(role.findData("owner"))
    assert dialog.save() is not None
    assert config_module.load(path).role == "owner"


def test_a_misspelt_sender_is_named_not_replaced_by_another(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    raw = {
        "role": "owner",
        "sources": [{"name": "Desk", "kind": "demo"}],
        "escalation": {"sent_by": "Assistant"},
    }
    dialog = SettingsDialog(path, None, raw=raw)
    qtbot.addWidget(dialog)
    assert dialog.escalation.sent_by.currentText() == "Assistant"
    assert dialog.save() is None  # not saved as sent by the owner behind the person's back
    assert "is not a role" in dialog.escalation.sent_by_error.text()


def test_business_hours_that_cannot_be_read_are_said_not_replaced_silently(qtbot, tmp_path) -> None:
    raw = {
        "sources": [{"name": "Desk", "kind": "demo"}],
        "business_hours": {"timezone": "Europe/Berlin", "days": "Mon-Fri", "hours": "9-17"},
    }
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", None, raw=raw)
    qtbot.addWidget(dialog)
    said = dialog.response.hours_error.text()
    assert "'9-17' could not be read; set the hours" in said  # the 09:00-17:00 shown is a guess


# ------------------------------------------------------------------ the first-run wizard's edges


def test_the_wizard_keeps_no_token_for_settings_it_cannot_save(
    qtbot, tmp_path, monkeypatch, no_keyring
) -> None:
    """An empty name: the last page names the field; no "no keyring" question was asked and
    no token was written under the empty name."""
    from PySide6.QtWidgets import QMessageBox

    from tests.fakes.web import closed_port_url
    from ui.settings import FirstRunWizard

    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a: asked.append(a[2])))
    wizard = FirstRunWizard(tmp_path / "ticketbell.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.kind.setCurrentIndex(wizard.kind.findData("freescout"))
    wizard.next()
    wizard.form.name.setText("")
    wizard.form.fields["url"].setText(closed_port_url())
    wizard.form.token.setText(TOKEN)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.connect_page.anyway.isVisibleTo(wizard), timeout=10_000)
    wizard.connect_page.anyway.setChecked(True)
    wizard.next()
    wizard.next()
    assert wizard.done_page.title() == "Not saved yet"
    assert asked == []
    assert not no_keyring.exists() and secret_store.stored("") == ""
    assert wizard.form.token.text() == TOKEN  # still there, for the next try


def test_the_wizard_names_an_imported_source_that_has_no_token_yet(qtbot, tmp_path) -> None:
    """A provisioning file with a second helpdesk, whose token was never asked for: the last
    page names it rather than saying "All set"."""
    from ui.settings import FirstRunWizard

    team = tmp_path / "team.toml"
    team.write_text(
        'role = "assistant"\n[[sources]]\nname = "Team demo"\nkind = "demo"\n'
        '[[sources]]\nname = "Second desk"\nkind = "freescout"\nurl = "http://127.0.0.1:1"\n'
    )
    wizard = FirstRunWizard(tmp_path / "ticketbell.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.import_file(team)
    wizard.next()
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)
    wizard.next()
    assert wizard.done_page.title() == "Saved, but a token is missing"
    said = wizard.summary.text()
    assert "cannot watch Second desk until its token is added in Settings" in said
    assert wizard.button(wizard.WizardButton.FinishButton).isEnabled()
