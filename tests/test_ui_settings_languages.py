"""Settings and the first-run wizard as a German or Polish speaker sees them: no English key or
word inside a translated text, and no page wider than the window with the longer labels."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication

from agent import i18n
from agent import secrets as secret_store
from agent.sources import KINDS
from ui.app import speak
from ui.settings import FirstRunWizard, SettingsDialog
from ui.settings.widgets import fit_screen


@pytest.fixture
def speaking(qapp: QApplication) -> Iterator[Callable[[str], object]]:
    """``speaking("de")``: Ticketbell in that language (its texts and Qt's), English after."""
    yield lambda code: speak(qapp, code)
    speak(qapp, "")


def hide(dialog: SettingsDialog) -> None:
    dialog.hide()  # closing a shown, edited dialog would ask to save


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("de", "antworten innerhalb von: 'later' ist keine Dauer"),
        ("pl", "odpowiedz w ciągu: 'later' nie jest czasem trwania"),
    ],
)
def test_a_rules_error_names_its_field_in_the_persons_language(
    qtbot, tmp_path, speaking, language: str, said: str
) -> None:
    """The row of a rule says which of its fields is wrong by the word beside that field; it
    said "reply within: 'later' ist keine Dauer" in German and Polish."""
    speaking(language)
    raw = {
        "sources": [{"name": "Demo", "kind": "demo"}],
        "windows": {"rules": [{"priority": "urgent", "window": "later"}]},
    }
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", None, raw=raw)
    qtbot.addWidget(dialog)
    assert dialog.save() is None
    error = dialog.response.rules[0].error.text()
    assert error.startswith(said)
    assert "reply within" not in error


def test_the_wizard_names_the_field_to_fix_by_its_label(qtbot, tmp_path, speaking) -> None:
    """The last page names what to fix as the Connect page labels it ("Zendesk-Adresse"), not
    by the file's key in English ("url")."""
    speaking("de")
    wizard = FirstRunWizard(tmp_path / "ticketbell.toml", tray_available=True)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.kind.setCurrentIndex(wizard.kind.findData("zendesk"))
    wizard.next()
    wizard.form.token.setText("wizard-label-TOKEN-1b1b")
    wizard.next()  # the connection test fails: there is no address
    qtbot.waitUntil(lambda: wizard.connect_page.anyway.isVisibleTo(wizard), timeout=10_000)
    wizard.connect_page.anyway.setChecked(True)
    wizard.next()
    wizard.next()
    assert wizard.done_page.title() == "Noch nicht gespeichert"
    said = wizard.summary.text()
    assert "Feld: Zendesk-Adresse: fehlt" in said
    assert "url:" not in said


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("de", "im Schlüsselbund gespeichert – zum Ersetzen tippen"),
        ("pl", "zapisany w pęku kluczy — wpisz, aby zastąpić"),
        ("fr", "enregistré dans le trousseau — saisissez pour remplacer"),
    ],
)
def test_the_token_box_says_where_the_token_is_in_the_persons_language(
    qtbot, tmp_path, speaking, language: str, said: str
) -> None:
    """It said "gespeichert in the keyring": the place was Ticketbell's English word."""
    speaking(language)
    secret_store.set("Zendesk", "stored-language-TOKEN-2c2c")
    try:
        raw = {"sources": [{"name": "Zendesk", "kind": "zendesk", "url": "https://a.example"}]}
        dialog = SettingsDialog(tmp_path / "ticketbell.toml", None, raw=raw)
        qtbot.addWidget(dialog)
        assert dialog.source_form.token.placeholderText() == said
    finally:
        secret_store.delete("Zendesk")


@pytest.mark.parametrize("language", i18n.available())
def test_every_helpdesk_form_fits_the_window_in_every_language(
    qtbot, tmp_path, speaking, language: str
) -> None:
    """On a 1280×720 screen the form of every kind scrolls down only: with German's (IMAP's)
    or Polish's (Zendesk's) longer labels beside the Helpdesk list it was wider than the
    window, its right edge (the hints, the fields) cut off behind a sideways scroll bar."""
    speaking(language)
    raw = {"sources": [{"name": "Demo", "kind": "demo"}]}
    dialog = SettingsDialog(tmp_path / "ticketbell.toml", None, raw=raw)
    qtbot.addWidget(dialog, before_close_func=hide)
    fit_screen(dialog, dialog.width(), dialog.height(), QSize(1280, 720))
    dialog.show()
    qtbot.waitExposed(dialog)
    form, area = dialog.source_form, dialog.helpdesks.form_area
    wide = []
    for kind in KINDS:
        form.kind.setCurrentIndex(form.kind.findData(kind))
        QApplication.processEvents()  # laid out by posted events
        QApplication.processEvents()
        if area.horizontalScrollBar().maximum() > 0:
            wide.append(kind)
    assert wide == []
