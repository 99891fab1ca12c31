"""Settings and the first-run wizard in the person's language, and the Language chooser that
sets the config's ``language``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QFormLayout, QLabel, QWidget

from agent import config as config_module
from ui.access import plain
from ui.app import speak
from ui.settings import FirstRunWizard, SettingsDialog


@pytest.fixture
def german(qapp, monkeypatch) -> Iterator[None]:
    """LANGUAGE=de, as a German desktop sets it, taken up as the app does at start (our texts
    and Qt's own, ``ui.app.speak``); English again afterwards."""
    monkeypatch.setenv("LANGUAGE", "de")
    speak(qapp, "")
    yield
    monkeypatch.delenv("LANGUAGE")
    speak(qapp, "")


def form_labels(widget) -> list[str]:
    """The texts of every form row's label under ``widget``."""
    texts = []
    for form in widget.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and isinstance(item.widget(), QLabel) and item.widget().text():
                texts.append(plain(item.widget().text()))
    return texts


def test_settings_speak_german_with_language_de(qtbot, tmp_path, german) -> None:
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Ticketbell-Einstellungen"
    tabs = [plain(dialog.tabs.tabText(i)) for i in range(dialog.tabs.count())]
    assert tabs == ["Helpdesks", "Antwortzeiten", "Hinweise", "Eskalation", "Allgemein"]
    labels = form_labels(dialog)
    assert "Senden um" in labels  # the digest's time
    assert "Lautstärke" in labels  # alerts.volume, declared in agent/config/schema.py
    assert "Ich bin" in labels and "Sprache" in labels
    assert "Prüfen alle" in labels  # a helpdesk's interval
    assert plain(dialog.general.autostart.text()) == "Ticketbell bei der Anmeldung starten"
    assert plain(dialog.source_form.test_button.text()) == "Verbindung testen"
    buttons = dialog.findChild(QDialogButtonBox)
    assert plain(buttons.button(QDialogButtonBox.StandardButton.Save).text()) == "Speichern"  # Qt's
    assert plain(dialog.response.bh_days[0].text()) == "Mo."  # the locale's weekday names
    assert dialog.general.role.itemText(0) == "Assistenz: meine Kategorien, alle 2 Minuten geprüft"
    form = dialog.source_form
    form.kind.setCurrentIndex(form.kind.findData("zendesk"))
    assert form.kind.currentText().startswith("Zendesk Support: neue und offene Tickets")
    assert "Zendesk-Adresse" in form_labels(form)
    assert form.token_steps.text().startswith("Admin Center → Apps und Integrationen")
    assert form.token_steps.text().endswith("nie in der Einstellungsdatei.")
    form.kind.setCurrentIndex(form.kind.findData("demo"))
    dialog.alerts.quiet.setText("late-early")
    assert dialog.save() is None
    assert dialog.banner.text().startswith("Nicht gespeichert: bitte korrigieren Sie das rot ")
    assert "auf der Seite Hinweise" in dialog.banner.text()
    assert "'late' ist keine Uhrzeit" in dialog.alerts.errors["alerts.quiet_hours"].text()
    shots = os.environ.get("TICKETBELL_SHOTS")  # a screenshot for the closing note, on request
    if shots:
        dialog.tabs.setCurrentWidget(dialog.helpdesks)
        dialog.show()
        qtbot.waitExposed(dialog)
        Path(shots).mkdir(parents=True, exist_ok=True)
        for i in range(dialog.tabs.count()):
            dialog.tabs.setCurrentIndex(i)
            dialog.grab().save(str(Path(shots) / f"settings-de-{i}.png"))
        dialog.hide()  # closing a shown, edited dialog would ask to save


def test_the_wizard_speaks_german(qtbot, tmp_path, german) -> None:
    wizard = FirstRunWizard(tmp_path / "ticketbell.toml")
    qtbot.addWidget(wizard)
    assert wizard.windowTitle() == "Willkommen bei Ticketbell"
    assert plain(wizard.demo_button.text()) == "Demo jetzt ausprobieren (kein Konto nötig)"
    assert wizard.kind.itemText(0) == "Der Demo-Helpdesk (kein Konto nötig)"
    # a new source's name: in German where it is a description, the vendor's own where a name
    wizard.kind.setCurrentIndex(wizard.kind.findData("imap"))
    wizard.show()
    wizard.next()
    assert wizard.form.name.text() == "Support-Postfach"
    wizard.form.kind.setCurrentIndex(wizard.form.kind.findData("github"))
    assert wizard.form.name.text() == "GitHub"


def test_english_stays_the_default(qtbot, tmp_path) -> None:
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    assert plain(dialog.tabs.tabText(1)) == "Response times"
    assert "Volume" in form_labels(dialog)


def test_the_language_chooser_lists_languages_by_their_own_names_and_saves(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    dialog = SettingsDialog(path, config_module.demo_config(), raw={})
    qtbot.addWidget(dialog)
    chooser = dialog.general.language
    names = [chooser.itemText(i) for i in range(chooser.count())]
    assert names[0] == "The system's language" and chooser.currentData() == ""
    for name in ("English", "Deutsch", "Français", "Español", "Nederlands", "Italiano", "Polski"):
        assert name in names
    assert "Português (Brasil)" in names
    dialog.source_form.kind.setCurrentIndex(dialog.source_form.kind.findData("demo"))
    chooser.setCurrentIndex(chooser.findText("Deutsch"))
    assert dialog.save() is not None
    assert config_module.load(path).language == "de"
    assert 'language = "de"' in path.read_text()

    again = SettingsDialog(path, config_module.load(path))
    qtbot.addWidget(again)
    assert again.general.language.currentText() == "Deutsch"
    again.general.language.setCurrentIndex(0)  # back to the system's language
    assert again.save() is not None
    assert "language" not in path.read_text()
    assert config_module.load(path).language == ""


def test_a_language_it_does_not_speak_is_named_at_the_chooser(qtbot, tmp_path) -> None:
    path = tmp_path / "ticketbell.toml"
    raw = {"language": "sv", "sources": [{"kind": "demo", "name": "Demo"}]}
    dialog = SettingsDialog(path, None, raw=raw)
    qtbot.addWidget(dialog)
    assert dialog.general.language.currentData() == "sv"  # kept, not silently dropped
    assert dialog.save() is None
    assert "not a language Ticketbell speaks" in dialog.general.errors["language"].text()
    assert not path.exists()


def shown_texts(widget) -> set[str]:
    """Every text a person can see or hear under ``widget``: labels, buttons, tabs, group
    titles, combo items, placeholders, tooltips, accessible names and descriptions."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QGroupBox, QLineEdit, QTabWidget

    texts: set[str] = set()
    for w in [widget, *widget.findChildren(QWidget)]:
        texts |= {w.toolTip(), w.accessibleName(), w.accessibleDescription(), w.windowTitle()}
        if isinstance(w, (QLabel, QAbstractButton)):
            texts.add(w.text())
        if isinstance(w, QGroupBox):
            texts.add(w.title())
        if isinstance(w, QLineEdit):
            texts.add(w.placeholderText())
        if isinstance(w, QComboBox):
            texts |= {w.itemText(i) for i in range(w.count())}
        if isinstance(w, QTabWidget):
            texts |= {w.tabText(i) for i in range(w.count())}
    return {t.replace("&", "") for t in texts if t}


def german_catalogue() -> dict[str, str]:
    """English text → German, from the shipped catalogue (plural entries left out)."""
    from babel.messages.pofile import read_po

    from agent import i18n

    with open(i18n.LOCALE_DIR / "de" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po", "rb") as fh:
        return {m.id: m.string for m in read_po(fh) if isinstance(m.id, str) and m.id}


def untranslated(widget) -> list[str]:
    """The texts under ``widget`` that are English texts of the catalogue whose German
    translation differs: a ``_()`` forgotten somewhere."""
    german = german_catalogue()
    return sorted(t for t in shown_texts(widget) if german.get(t, t) != t)


def test_no_english_text_is_left_in_german_settings_or_wizard(qtbot, tmp_path, german) -> None:
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    form = dialog.source_form
    left: dict[str, str] = {}  # an English text, and where it was first seen
    for kind in [form.kind.itemData(i) for i in range(form.kind.count())]:
        form.kind.setCurrentIndex(form.kind.findData(kind))
        left |= {text: f"settings with a {kind} source" for text in untranslated(dialog)}
    wizard = FirstRunWizard(tmp_path / "first.toml")
    qtbot.addWidget(wizard)
    left |= {text: "wizard" for text in untranslated(wizard)}
    assert not left
    assert dialog.response.rules[0].priority.itemText(4) == "dringend"  # a priority's name
