"""Settings window and first-run wizard: validation errors next to the field, the demo path."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QMessageBox, QPushButton, QWizard

from agent import config as config_module
from agent import secrets as secret_store
from tests.fakes.freescout import FakeFreeScout
from tests.fakes.web import closed_port_url, local_server
from ui.settings import FirstRunWizard, SettingsDialog, SourceForm


def test_settings_show_a_validation_error_next_to_the_field(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    dialog = SettingsDialog(path, config_module.demo_config())
    qtbot.addWidget(dialog)
    dialog.source_form.interval.setText("5x")
    dialog.alerts.quiet.setText("late-early")
    assert dialog.save() is None
    error = dialog.source_form.errors["interval"]
    assert not error.isHidden() and "is not a duration" in error.text()
    assert not path.exists()
    dialog.source_form.interval.setText("30s")
    assert dialog.save() is None
    assert "not a time" in dialog.alerts.errors["alerts.quiet_hours"].text()
    dialog.alerts.quiet.setText("22:00-07:00")
    with qtbot.waitSignal(dialog.saved) as saved:
        assert dialog.save() is not None
    assert saved.args[0].alerts.quiet_hours is not None
    assert config_module.load(path).sources[0].interval.total_seconds() == 30


def test_a_broken_config_opens_settings_with_its_error(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    path.write_text('[[sources]]\nname = "Desk"\nkind = "demo"\ninterval = "soon"\n')
    try:
        config_module.load(path)
    except config_module.ConfigError as exc:
        dialog = SettingsDialog(path, None, error=exc)
    qtbot.addWidget(dialog)
    assert "is not a duration" in dialog.source_form.errors["interval"].text()
    assert dialog.source_form.name.text() == "Desk"


def test_a_new_source_is_named_as_its_vendor_writes_it_until_the_person_names_it(qtbot) -> None:
    form = SourceForm()
    qtbot.addWidget(form)
    assert form.name.text() == "Demo helpdesk"
    for kind, name in [
        ("github", "GitHub"),
        ("freescout", "FreeScout"),
        ("helpscout", "Help Scout"),
        ("rt", "Request Tracker"),
        ("imap", "Support inbox"),
    ]:
        form.kind.setCurrentIndex(form.kind.findData(kind))
        assert form.name.text() == name  # follows the kind: not "Demo helpdesk", not "Github"
    form.name.setText("Acme support")
    form.kind.setCurrentIndex(form.kind.findData("zendesk"))
    assert form.name.text() == "Acme support"  # the person's own name stays
    form.load({"name": "Zendesk", "kind": "zendesk", "url": "https://acme.zendesk.com"})
    form.kind.setCurrentIndex(form.kind.findData("freshdesk"))
    assert form.name.text() == "Zendesk"  # a saved source's name is the person's, kept


def helpdesk_button(dialog: SettingsDialog, text: str) -> QPushButton:
    buttons = dialog.helpdesks.findChildren(QPushButton)
    (button,) = [b for b in buttons if b.text().replace("&", "") == text]
    return button


def listed(dialog: SettingsDialog) -> list[str]:
    names = dialog.helpdesks.source_list
    return [names.item(i).text() for i in range(names.count())]


def test_removing_a_helpdesk_removes_that_one_and_keeps_the_next(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    sources = [{"name": name, "kind": "demo", "interval": "1m"} for name in ("A", "B", "C")]
    dialog = SettingsDialog(path, None, raw={"sources": sources})
    qtbot.addWidget(dialog)
    dialog.helpdesks.source_list.setCurrentRow(1)
    assert dialog.source_form.name.text() == "B"
    qtbot.mouseClick(helpdesk_button(dialog, "Remove"), Qt.MouseButton.LeftButton)
    assert listed(dialog) == ["A", "C"]
    assert dialog.source_form.name.text() == "C"  # C as it was, not B's form stored over it
    assert dialog.save() is not None
    assert [s.name for s in config_module.load(path).sources] == ["A", "C"]
    for _ in range(2):
        qtbot.mouseClick(helpdesk_button(dialog, "Remove"), Qt.MouseButton.LeftButton)
    assert listed(dialog) == []
    assert not dialog.helpdesks.form_area.isVisibleTo(dialog)  # not C's form, saved nowhere
    assert dialog.helpdesks.none_yet.isVisibleTo(dialog)
    assert not helpdesk_button(dialog, "Remove").isEnabled()


def test_a_helpdesk_added_is_named_after_its_kind_until_the_person_names_it(
    qtbot, tmp_path
) -> None:
    path = tmp_path / "ticketbell.toml"
    github = {"name": "GitHub", "kind": "github", "repository": "acme/tool"}
    dialog = SettingsDialog(path, None, raw={"sources": [github]})
    qtbot.addWidget(dialog)
    qtbot.mouseClick(helpdesk_button(dialog, "Add a helpdesk"), Qt.MouseButton.LeftButton)
    form = dialog.source_form
    assert listed(dialog) == ["GitHub", "Demo helpdesk"]
    form.kind.setCurrentIndex(form.kind.findData("github"))
    assert form.name.text() == "GitHub 2"  # not the name of the one above
    assert listed(dialog) == ["GitHub", "GitHub 2"]  # the list follows the name
    form.name.setText("Acme issues")
    assert listed(dialog) == ["GitHub", "Acme issues"]
    form.kind.setCurrentIndex(form.kind.findData("zendesk"))
    assert form.name.text() == "Acme issues"  # typed: the person's, whatever the kind
    dialog.helpdesks.source_list.setCurrentRow(0)
    assert form.name.text() == "GitHub"
    assert [s["name"] for s in dialog.helpdesks.sources] == ["GitHub", "Acme issues"]


def two_helpdesks(qtbot, path) -> SettingsDialog:
    sources = [
        {"name": name, "kind": "freescout", "url": f"https://{name.lower()}.example.com"}
        for name in ("Alpha", "Beta")
    ]
    dialog = SettingsDialog(path, None, raw={"sources": sources})
    qtbot.addWidget(dialog)
    return dialog


def test_tokens_typed_for_several_helpdesks_are_all_stored(qtbot, tmp_path) -> None:
    """The form shows one helpdesk at a time: a token typed for one and left for another is
    kept (it was dropped, and the save stored neither)."""
    path = tmp_path / "ticketbell.toml"
    dialog = two_helpdesks(qtbot, path)
    form = dialog.source_form
    form.token.setText("alpha-TOKEN-31f0c2")
    dialog.helpdesks.source_list.setCurrentRow(1)
    assert form.token.text() == ""  # Beta's own box
    form.token.setText("beta-TOKEN-77c2e9")
    dialog.helpdesks.source_list.setCurrentRow(0)
    assert form.token.text() == "alpha-TOKEN-31f0c2"  # still there when Alpha is shown again
    assert dialog.edited()  # closing now would ask about them
    assert dialog.save() is not None
    assert secret_store.get("Alpha", "") == "alpha-TOKEN-31f0c2"
    assert secret_store.get("Beta", "") == "beta-TOKEN-77c2e9"
    assert "TOKEN" not in path.read_text()


def test_a_renamed_helpdesk_keeps_its_token_and_a_removed_ones_goes(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    secret_store.set("Alpha", "alpha-TOKEN-31f0c2")
    secret_store.set("Beta", "beta-TOKEN-77c2e9")
    dialog = two_helpdesks(qtbot, path)
    dialog.source_form.name.setText("Alpha EU")
    dialog.helpdesks.source_list.setCurrentRow(1)
    qtbot.mouseClick(helpdesk_button(dialog, "Remove"), Qt.MouseButton.LeftButton)
    assert secret_store.stored("Beta")  # nothing goes before the settings are saved
    assert dialog.save() is not None
    assert [s.name for s in config_module.load(path).sources] == ["Alpha EU"]
    assert secret_store.get("Alpha EU", "") == "alpha-TOKEN-31f0c2"  # no new token needed
    assert secret_store.stored("Alpha") == "" and secret_store.stored("Beta") == ""


def freescout_wizard(qtbot, path, **options) -> FirstRunWizard:
    """The first-run wizard for ``path``, shown, on its Connect page with FreeScout chosen."""
    wizard = FirstRunWizard(path, **options)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.kind.setCurrentIndex(wizard.kind.findData("freescout"))
    wizard.next()
    return wizard


def test_a_helpdesk_renamed_to_a_removed_ones_name_keeps_its_own_token(qtbot, tmp_path) -> None:
    """Beta removed and Alpha renamed Beta: Alpha's token goes with it (Beta's old one stayed,
    and the renamed helpdesk asked with a token that was never its own)."""
    path = tmp_path / "ticketbell.toml"
    secret_store.set("Alpha", "alpha-TOKEN-31f0c2")
    secret_store.set("Beta", "beta-TOKEN-77c2e9")
    dialog = two_helpdesks(qtbot, path)
    dialog.helpdesks.source_list.setCurrentRow(1)
    qtbot.mouseClick(helpdesk_button(dialog, "Remove"), Qt.MouseButton.LeftButton)
    dialog.source_form.name.setText("Beta")
    assert dialog.save() is not None
    assert [s.name for s in config_module.load(path).sources] == ["Beta"]
    assert secret_store.get("Beta", "") == "alpha-TOKEN-31f0c2"
    assert secret_store.stored("Alpha") == ""


def test_token_goes_to_the_keyring_not_the_file(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    dialog = SettingsDialog(path, None, raw={})
    qtbot.addWidget(dialog)
    assert dialog.helpdesks.none_yet.isVisibleTo(dialog)  # no form to type into and lose
    assert not dialog.helpdesks.form_area.isVisibleTo(dialog)
    qtbot.mouseClick(helpdesk_button(dialog, "Add a helpdesk"), Qt.MouseButton.LeftButton)
    assert dialog.helpdesks.form_area.isVisibleTo(dialog)
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData("freescout"))
    form.name.setText("Help")
    form.fields["url"].setText("https://help.example.com")
    form.token.setText("s3cr3t-token-value")
    assert dialog.save() is not None
    assert "s3cr3t" not in path.read_text()
    assert secret_store.get("Help", "") == "s3cr3t-token-value"
    assert [s.name for s in config_module.load(path).sources] == ["Help"]  # it was dropped


def test_test_connection_runs_off_the_main_thread_and_fills_categories(qtbot, tmp_path) -> None:
    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.source_form.tested, timeout=10_000):
        dialog.source_form.test_button.click()
    assert dialog.source_form.test_result.text().startswith("Connected: ")
    assert dialog.source_form.categories.count() == 4


def test_wizard_to_a_working_demo_config(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    wizard = FirstRunWizard(path)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.kind.currentData() == "demo"
    wizard.next()
    assert wizard.form.kind.currentData() == "demo"
    wizard.next()  # runs the live test, then moves on by itself
    qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)
    assert wizard.form.test_result.text().startswith("Connected: ")
    assert wizard.form.categories.count() == 4  # the demo's categories, to tick
    assert not wizard.no_categories.isVisibleTo(wizard)
    wizard.next()
    assert wizard.done_page.title() == "All set"
    wizard.done_page.autostart.setChecked(False)  # start at login: test_ui_settings_setup.py
    with qtbot.waitSignal(wizard.finished_with) as done:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    config = done.args[0]
    assert config.sources[0].kind == "demo"
    assert config_module.load(path).sources[0].name == "Demo helpdesk"


def test_without_a_system_tray_the_wizard_says_ticketbell_lives_in_a_window(
    qtbot, tmp_path
) -> None:
    """Stock GNOME has no system tray: the wizard must not send the person looking for an icon
    (Ticketbell then lives in its own window); with a tray it speaks of the tray."""
    with_tray = FirstRunWizard(tmp_path / "a.toml", tray_available=True)
    qtbot.addWidget(with_tray)
    assert "sits in your system tray" in with_tray.page(0).subTitle()
    wizard = FirstRunWizard(tmp_path / "b.toml", tray_available=False)
    qtbot.addWidget(wizard)
    wizard.show()
    welcome = wizard.page(0).subTitle()
    assert "no system tray" in welcome and "small window" in welcome
    wizard.next()
    wizard.next()  # the demo's live test, then on by itself
    qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)
    wizard.next()
    assert wizard.done_page.title() == "All set"
    said = wizard.done_page.summary.text()
    assert "now lives in a small window" in said
    assert "system tray:" not in said and "icon" not in said


def test_the_demo_is_one_click_from_the_first_page(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    wizard = FirstRunWizard(path)
    qtbot.addWidget(wizard)
    wizard.show()
    with qtbot.waitSignal(wizard.finished_with) as done:
        wizard.demo_button.click()
    assert done.args[0].sources[0].kind == "demo"
    assert wizard.demo
    assert not path.exists()  # the demo is not saved as the person's settings


def test_wizard_next_tests_the_connection_and_waits_for_a_fix(qtbot, tmp_path) -> None:
    """A wrong token: the error in plain words, still on the page; fixed: on to categories."""
    path = tmp_path / "ticketbell.toml"
    with local_server() as server:
        fake = FakeFreeScout(server, "right-key-123")
        wizard = freescout_wizard(qtbot, path)
        form = wizard.form
        form.fields["url"].setText(fake.base)
        form.token.setText("wrong-key-456")
        wizard.next()
        qtbot.waitUntil(lambda: form.test_button.isEnabled(), timeout=10_000)
        assert wizard.currentId() == 1
        message = form.test_result.text()
        assert message.startswith("Not connected: ") and "wrong-key" not in message
        assert wizard.connect_page.anyway.isVisibleTo(wizard)
        form.token.setText("right-key-123")
        wizard.next()
        qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)
    assert form.test_result.text() == "Connected: 0 tickets waiting."
    assert {form.categories.item(i).text() for i in range(form.categories.count())} == {
        "Support",
        "Billing",
    }
    form.categories.item(0).setCheckState(Qt.CheckState.Checked)
    wizard.next()
    assert wizard.done_page.title() == "All set"
    saved = config_module.load(path).sources[0]
    assert saved.kind == "freescout" and len(saved.categories) == 1
    assert "right-key" not in path.read_text()
    assert secret_store.get(saved.name, "") == "right-key-123"


def test_wizard_can_continue_anyway_after_a_failed_test(qtbot, tmp_path) -> None:
    wizard = freescout_wizard(qtbot, tmp_path / "ticketbell.toml", tray_available=False)
    wizard.form.fields["url"].setText(closed_port_url())
    wizard.form.token.setText("some-key-789")
    wizard.next()
    qtbot.waitUntil(lambda: wizard.connect_page.anyway.isVisibleTo(wizard), timeout=10_000)
    assert wizard.currentId() == 1
    assert "Not connected" in wizard.form.test_result.text()
    wizard.connect_page.anyway.setChecked(True)
    wizard.next()
    assert wizard.currentId() == 2
    assert wizard.no_categories.isVisibleTo(wizard)  # says why the list is empty
    wizard.next()
    page = wizard.done_page
    assert page.title() == "Saved, but not connected yet"  # not "All set"
    assert "All set" not in page.summary.text()
    assert "could not connect to FreeScout" in page.summary.text()  # as its vendor writes it
    assert "Not connected" in page.summary.text()  # what the test answered
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    # no system tray here (stock GNOME): where the question mark shows, and where Settings is
    assert "its window shows a question mark" in page.summary.text()
    assert "the window's Menu button" in page.summary.text()
    assert "right-click the icon" not in page.summary.text()


def test_wizard_imports_a_provisioning_file(qtbot, tmp_path) -> None:
    prov = tmp_path / "team.toml"
    prov.write_text(
        'role = "assistant"\n[[sources]]\nname = "Team desk"\nkind = "freescout"\n'
        'url = "https://help.example.com"\ncategories = ["Billing"]\n'
    )
    wizard = FirstRunWizard(tmp_path / "ticketbell.toml")
    qtbot.addWidget(wizard)
    assert wizard.import_file(prov)
    wizard.show()
    wizard.next()
    assert wizard.form.name.text() == "Team desk"
    assert wizard.form.ticked() == ["Billing"]


def test_a_json_source_with_its_field_table_can_be_saved(qtbot, tmp_path) -> None:
    """The json kind's ``fields`` is a table: the form edits it as key/value rows and saves it
    as a table (it came back as text: "fields: must be a table, not a string")."""
    from PySide6.QtWidgets import QTableWidgetItem

    path = tmp_path / "ticketbell.toml"
    source = {
        "name": "In-house",
        "kind": "json",
        "url": "https://desk.example.com/api/tickets",
        "fields": {"id": "ticket_id", "created": "opened_at"},
    }
    dialog = SettingsDialog(path, None, raw={"sources": [source]})
    qtbot.addWidget(dialog)
    form = dialog.source_form
    form.token.setText("json-ui-SECRET-5e2a9c")
    grid = form.fields["fields"].grid
    last = grid.rowCount() - 1  # the empty row at the end takes a new pair
    grid.setItem(last, 1, QTableWidgetItem("title"))
    grid.setItem(last, 0, QTableWidgetItem("subject"))
    assert grid.rowCount() == 4  # three pairs and a fresh empty row
    assert dialog.save() is not None, form.errors["fields"].text()
    saved = config_module.load(path).sources[0]
    assert saved.options["fields"] == {
        "id": "ticket_id",
        "created": "opened_at",
        "subject": "title",
    }


def test_import_asks_before_taking_tls_off_a_proxy_or_a_channel(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    prov = tmp_path / "team.toml"
    prov.write_text(
        'role = "assistant"\n[[sources]]\nname = "Team desk"\nkind = "freescout"\n'
        'url = "https://help.example.com"\nverify = false\n'
    )
    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]

    def warning(_parent, _title, text, *_args):
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    wizard = FirstRunWizard(tmp_path / "other.toml")
    qtbot.addWidget(wizard)

    assert not dialog.import_file(prov) and not wizard.import_file(prov)
    assert [s["name"] for s in dialog.sources] == ["Demo helpdesk"]  # nothing taken
    assert wizard.imported is None
    assert all("Team desk: TLS certificates are not checked" in text for text in asked)
    assert len(asked) == 2

    answer[0] = QMessageBox.StandardButton.Yes
    assert dialog.import_file(prov) and wizard.import_file(prov)
    assert [s["name"] for s in dialog.sources] == ["Team desk"]


def test_import_in_settings_takes_every_page_of_the_file(qtbot, tmp_path) -> None:
    """A provisioning file is the whole of the settings (as `ticketbell --import` and the
    wizard take it): Settings took its helpdesks and saved the old pages over the rest."""
    prov = tmp_path / "team.toml"
    prov.write_text(
        'role = "owner"\n[[sources]]\nname = "Team desk"\nkind = "demo"\n'
        '[windows]\ndefault = "45m"\nrules = [{ category = "VIP", window = "10m" }]\n'
        '[alerts]\nsound = "bell"\nquiet_hours = "22:00-07:00"\n'
        '[escalation]\nlevels = [{ after = "30m", notify = ["owner-desktop"] }]\n'
        '[business_hours]\ntimezone = "Europe/Berlin"\ndays = "Mon-Fri"\n'
        'hours = "08:00-16:00"\n'
    )
    path = tmp_path / "ticketbell.toml"
    secret_store.set("escalation-mailto-level1", "mailto://u:pw-old-4410@example.com")
    opened = {
        "role": "assistant",
        "windows": {"default": "2h"},
        "sources": [{"name": "Desk", "kind": "demo"}],
        "escalation": {"levels": [{"after": "1h", "notify": ["keyring:escalation-mailto-level1"]}]},
    }
    dialog = SettingsDialog(path, None, raw=opened)
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(2)
    assert dialog.import_file(prov)
    assert dialog.tabs.currentIndex() == 2  # the page the person was on
    assert dialog.general.role.currentData() == "owner"  # shown as imported
    assert dialog.response.window_default.text() == "45m"
    assert len(dialog.escalation.levels) == 1
    assert dialog.save() is not None
    saved = config_module.load(path)
    assert saved.role == "owner" and [s.name for s in saved.sources] == ["Team desk"]
    assert saved.windows.default == timedelta(minutes=45) and len(saved.windows.rules) == 1
    assert saved.alerts.sound == "bell" and saved.alerts.quiet_hours is not None
    assert [level.after for level in saved.escalation.levels] == [timedelta(minutes=30)]
    assert saved.business_hours is not None
    assert secret_store.stored("escalation-mailto-level1") == ""  # the replaced level's secret


def test_the_hints_say_the_declared_defaults_for_each_role(qtbot, tmp_path) -> None:
    """The "empty: …" texts come from the declarations, so they cannot drift from what the
    agent does: an owner's empty interval is every 15 minutes, an assistant's every 2."""
    from agent.config import schema, values

    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    role = dialog.general.role
    for name, every in (("owner", "every 15 minutes"), ("assistant", "every 2 minutes")):
        role.setCurrentIndex(role.findData(name))
        assert dialog.source_form.interval.placeholderText().endswith(f"(empty: {every})")
        assert role.currentText().endswith(f"checked {every}")
        config = config_module.from_dict({"role": name, "sources": [{"name": "D", "kind": "demo"}]})
        minutes = config.sources[0].interval.total_seconds() / 60
        assert every == f"every {minutes:.0f} minutes"
    assert dialog.response.window_default.placeholderText().endswith(
        f"(empty: {values.duration_in_words(schema.declared('windows', 'default').default)})"
    )
    assert config_module.Windows().default == config_module.parse_duration(
        schema.declared("windows", "default").default
    )


def test_no_settings_class_hides_a_qt_method() -> None:
    """A method or attribute named like one of its Qt base class's (``window``, ``result``)
    hides it from Qt's own code and from the next reader."""
    import ast
    import importlib
    from pathlib import Path

    import ui.settings

    hidden = []
    for path in Path(ui.settings.__file__).parent.glob("*.py"):
        module = importlib.import_module(f"ui.settings.{path.stem}".removesuffix(".__init__"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.ClassDef):
                continue
            qt = {n for b in getattr(module, node.name).__mro__[1:] for n in dir(b)}
            own = {n.name for n in ast.walk(node) if isinstance(n, ast.FunctionDef)}
            own |= {
                n.attr
                for n in ast.walk(node)
                if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
            }
            overridden = {"initializePage", "validatePage", "isComplete", "reject", "__init__"}
            hidden += [f"{node.name}.{name}" for name in sorted(own & qt - overridden)]
    assert hidden == []


def test_the_sound_is_chosen_by_its_name_or_a_file_of_ones_own(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    raw = {**config_module.demo_config().raw, "alerts": {"sound": "bell"}}
    dialog = SettingsDialog(path, config_module.from_dict(raw))
    qtbot.addWidget(dialog)
    page = dialog.alerts
    assert page.sound_choice.currentText() == "Bell"
    assert page.sound.isHidden()  # no path to type for a built-in sound
    names = [page.sound_choice.itemText(i) for i in range(page.sound_choice.count())]
    assert names == [
        "Chime",
        "Urgent tone",
        "Bell",
        "Knock",
        "Off (no sound)",
        "A .wav file of your own",
    ]
    page.sound_choice.setCurrentIndex(page.sound_choice.findData("off"))
    data: dict = {}
    page.collect(data)
    assert data["alerts"]["sound"] == "off"
    wav = tmp_path / "ding.wav"
    wav.write_bytes(b"RIFF")
    page.sound_choice.setCurrentIndex(page.sound_choice.findData("file"))
    assert not page.sound.isHidden()
    page.sound.setText(str(wav))
    page.collect(data)
    assert data["alerts"]["sound"] == str(wav)
    again = SettingsDialog(path, config_module.from_dict({**raw, "alerts": {"sound": str(wav)}}))
    qtbot.addWidget(again)
    assert again.alerts.sound_choice.currentData() == "file"
    assert again.alerts.sound.text() == str(wav)


def _sound_dialog(qtbot, path, monkeypatch):
    """The settings of a saved file whose sound is the bell, open on the Alerts page, and its
    Save button. Closed at the end with changes unsaved, it asks: the answer is Discard."""
    discard = staticmethod(lambda *args: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(QMessageBox, "question", discard)
    raw = {**config_module.demo_config().raw, "alerts": {"sound": "bell"}}
    config_module.save(raw, path)
    dialog = SettingsDialog(path, config_module.load(path))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentIndex(dialog._tab_of(dialog.alerts))
    buttons = dialog.findChild(QDialogButtonBox)
    return dialog, buttons.button(QDialogButtonBox.StandardButton.Save)


def test_a_wav_file_of_ones_own_with_no_file_chosen_is_not_saved(
    qtbot, tmp_path, monkeypatch
) -> None:
    """Saved, it read as the chime: the person got the chime for the sound they thought they
    had chosen, and no word of it. Save is refused at the sound's field, the file untouched."""
    path = tmp_path / "ticketbell.toml"
    dialog, save = _sound_dialog(qtbot, path, monkeypatch)
    before = path.read_bytes()
    page = dialog.alerts
    page.sound_choice.setFocus()
    qtbot.keyClick(page.sound_choice, Qt.Key.Key_End)  # the last entry: a .wav file of one's own
    assert page.sound_choice.currentText() == "A .wav file of your own"
    assert page.sound.isVisible() and page.sound.text() == ""
    saved: list[object] = []
    dialog.saved.connect(saved.append)
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    error = page.errors["alerts.sound"]
    assert error.isVisible()
    assert error.text() == "no .wav file chosen: choose one, or pick a built-in sound"
    assert dialog.banner.text().startswith("Not saved: ") and "Alerts" in dialog.banner.text()
    assert dialog.isVisible() and saved == []
    assert path.read_bytes() == before
    assert not path.with_name(path.name + ".bak").exists()
    assert config_module.load(path).alerts.sound == "bell"


def test_a_wav_file_of_ones_own_chosen_is_saved(qtbot, tmp_path, monkeypatch) -> None:
    path = tmp_path / "ticketbell.toml"
    dialog, save = _sound_dialog(qtbot, path, monkeypatch)
    wav = tmp_path / "ding.wav"
    wav.write_bytes(b"RIFF")
    page = dialog.alerts
    page.sound_choice.setFocus()
    qtbot.keyClick(page.sound_choice, Qt.Key.Key_End)
    chosen = staticmethod(lambda *args: (str(wav), "*.wav"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", chosen)
    qtbot.mouseClick(page.browse, Qt.MouseButton.LeftButton)  # "Choose a .wav file…"
    assert page.sound.text() == str(wav)
    with qtbot.waitSignal(dialog.saved):
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert page.errors["alerts.sound"].isHidden()
    assert config_module.load(path).alerts.sound == str(wav)


def test_the_categories_are_named_as_the_helpdesk_names_them(qtbot, tmp_path) -> None:
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    form = dialog.source_form
    assert form.categories_label.text().replace("&", "").startswith("My categories")
    for kind, words in (("zendesk", "My groups"), ("github", "My labels"), ("rt", "My queues")):
        form.kind.setCurrentIndex(form.kind.findData(kind))
        assert form.categories_label.text().replace("&", "").startswith(words), kind


# ------------------------------------------------------------------ the first-run wizard's edges


def _to_categories(qtbot, wizard: FirstRunWizard) -> None:
    """Next on the Connect page: its live test, then on to the categories by itself."""
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)


def test_cancel_after_the_last_page_keeps_nothing_the_wizard_wrote(qtbot, tmp_path) -> None:
    """Cancel once the last page was reached (and left with Back): the file is as it was, with
    no .bak of the wizard's own, and the token typed is not left in the keyring."""
    path = tmp_path / "ticketbell.toml"
    before = '# my own\n[[sources]]\nname = "Old desk"\nkind = "demo"\n'
    path.write_text(before)
    secret_store.set("Cancelled desk", "older-TOKEN-0a0a")
    with local_server() as server:
        fake = FakeFreeScout(server, "right-key-123")
        wizard = freescout_wizard(qtbot, path)
        wizard.form.name.setText("Cancelled desk")
        wizard.form.fields["url"].setText(fake.base)
        wizard.form.token.setText("right-key-123")
        _to_categories(qtbot, wizard)
        wizard.next()
        assert wizard.done_page.title() == "All set"
        wizard.back()
        wizard.form.categories.item(0).setCheckState(Qt.CheckState.Checked)
        wizard.next()  # saved a second time
        wizard.back()
        with qtbot.waitSignal(wizard.finished_with) as done:
            wizard.reject()
    assert done.args[0] is None
    assert path.read_text() == before
    assert not path.with_name(path.name + ".bak").exists()
    assert secret_store.get("Cancelled desk") == "older-TOKEN-0a0a"
    secret_store.delete("Cancelled desk")

    fresh = tmp_path / "fresh" / "ticketbell.toml"
    wizard = FirstRunWizard(fresh)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    _to_categories(qtbot, wizard)
    wizard.next()
    assert fresh.exists()
    wizard.reject()
    assert not fresh.exists()


def test_a_source_renamed_after_the_wizard_saved_keeps_its_token(qtbot, tmp_path) -> None:
    """The token box's "stored" follows the name typed; saved, Back, renamed, saved again: the
    token is under the new name, none left under the old one."""
    path = tmp_path / "ticketbell.toml"
    secret_store.set("FreeScout", "older-TOKEN-1b1b")
    with local_server() as server:
        fake = FakeFreeScout(server, "right-key-123")
        wizard = freescout_wizard(qtbot, path)
        form = wizard.form
        assert form.token.placeholderText() == "stored in the keyring — type to replace"
        form.name.setText("Brand new desk")
        qtbot.waitUntil(lambda: form.token.placeholderText() == "", timeout=2_000)
        secret_store.delete("FreeScout")
        form.fields["url"].setText(fake.base)
        form.token.setText("right-key-123")
        _to_categories(qtbot, wizard)
        wizard.next()
        wizard.back()
        wizard.back()
        form.name.setText("Our desk")
        _to_categories(qtbot, wizard)
        wizard.next()
    assert wizard.done_page.title() == "All set"
    assert config_module.load(path).sources[0].name == "Our desk"
    assert secret_store.get("Our desk", "") == "right-key-123"
    assert secret_store.stored("Brand new desk") == ""
    assert form.token.placeholderText() == "stored in the keyring — type to replace"


def test_an_edit_made_while_the_wizard_tests_is_tested_too(qtbot, tmp_path) -> None:
    """A wrong token typed while the right one is tested: not saved as if it had passed; the
    wizard tests it and stays on the page with its error."""
    with local_server() as server:
        fake = FakeFreeScout(server, "right-key-123")
        wizard = freescout_wizard(qtbot, tmp_path / "ticketbell.toml")
        form = wizard.form
        form.fields["url"].setText(fake.base)
        form.token.setText("right-key-123")
        wizard.next()  # the test runs with the right key...
        form.token.setText("WRONG-typo-999")  # ...while the person types on
        anyway = wizard.connect_page.anyway

        def answered() -> bool:
            return wizard.currentId() == 2 or anyway.isVisibleTo(wizard)

        qtbot.waitUntil(answered, timeout=10_000)
    assert wizard.currentId() == 1
    assert form.test_result.text().startswith("Not connected: ")


def test_continue_anyway_does_not_skip_testing_a_fixed_token(qtbot, tmp_path) -> None:
    """Continued anyway with a wrong token, then Back and the token fixed: Next tests it, and
    the last page says "All set", not the old error."""
    with local_server() as server:
        fake = FakeFreeScout(server, "right-key-123")
        wizard = freescout_wizard(qtbot, tmp_path / "ticketbell.toml")
        form = wizard.form
        form.fields["url"].setText(fake.base)
        form.token.setText("wrong-key-456")
        wizard.next()
        qtbot.waitUntil(lambda: wizard.connect_page.anyway.isVisibleTo(wizard), timeout=10_000)
        wizard.connect_page.anyway.setChecked(True)
        wizard.next()
        assert wizard.currentId() == 2
        wizard.back()
        form.token.setText("right-key-123")
        _to_categories(qtbot, wizard)
        assert form.test_result.text() == "Connected: 0 tickets waiting."
        wizard.next()
    assert wizard.done_page.title() == "All set"


def test_a_helpdesk_picked_on_the_connect_page_gets_no_demo_timings(qtbot, tmp_path) -> None:
    """The first page left on the demo, FreeScout picked in the form's own Kind box: saved
    without the demo's response times and reminders; Back to the first page and Next again
    keep what was typed."""
    path = tmp_path / "ticketbell.toml"
    with local_server() as server:
        fake = FakeFreeScout(server, "right-key-123")
        wizard = FirstRunWizard(path)
        qtbot.addWidget(wizard)
        wizard.show()
        wizard.next()
        form = wizard.form
        form.kind.setCurrentIndex(form.kind.findData("freescout"))
        form.fields["url"].setText(fake.base)
        form.token.setText("right-key-123")
        _to_categories(qtbot, wizard)
        wizard.next()
    assert wizard.done_page.title() == "All set"
    saved = config_module.read_toml(path)
    assert saved["sources"][0]["kind"] == "freescout"
    assert "windows" not in saved and "alerts" not in saved
    wizard.back()
    wizard.back()
    wizard.back()
    wizard.next()
    assert form.kind.currentData() == "freescout" and form.fields["url"].text() == fake.base


def test_the_first_pages_kind_shows_an_import_and_another_choice_drops_it(qtbot, tmp_path) -> None:
    team = tmp_path / "team.toml"
    team.write_text(
        'role = "assistant"\n[[sources]]\nname = "Team desk"\nkind = "freescout"\n'
        'url = "https://help.example.com"\n[windows]\ndefault = "30m"\n'
    )
    wizard = FirstRunWizard(tmp_path / "ticketbell.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.import_file(team)
    assert wizard.kind.currentData() == "freescout"
    wizard.next()
    assert wizard.form.name.text() == "Team desk"
    wizard.back()
    wizard.next()  # nothing chosen otherwise: the import stays
    assert wizard.imported is not None and wizard.form.name.text() == "Team desk"
    wizard.back()
    wizard.kind.setCurrentIndex(wizard.kind.findData("zendesk"))
    wizard.next()
    assert wizard.imported is None and wizard.import_note.text() == ""
    assert wizard.form.kind.currentData() == "zendesk" and wizard.form.name.text() == "Zendesk"


def test_categories_ticked_for_one_server_do_not_stop_the_test_of_another(qtbot, tmp_path) -> None:
    """A category of server A ticked, then Back and server B's address and token: B is
    tested without A's category, and the categories page lists B's alone."""
    with local_server() as first, local_server() as second:
        a = FakeFreeScout(first, "key-a-1234")
        b = FakeFreeScout(second, "key-b-1234")
        b.mailboxes = {7: "Sales", 8: "Returns"}
        wizard = freescout_wizard(qtbot, tmp_path / "ticketbell.toml")
        form = wizard.form
        form.fields["url"].setText(a.base)
        form.token.setText("key-a-1234")
        _to_categories(qtbot, wizard)
        form.categories.item(1).setCheckState(Qt.CheckState.Checked)
        wizard.back()
        form.fields["url"].setText(b.base)
        form.token.setText("key-b-1234")
        _to_categories(qtbot, wizard)
    listed = [form.categories.item(i).text() for i in range(form.categories.count())]
    assert sorted(listed) == ["Returns", "Sales"] and form.ticked() == []
