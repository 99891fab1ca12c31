"""The tray app speaks the person's language: our texts and Qt's own standard dialogs."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTranslator
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from agent import i18n
from ui.app import speak


def cancel_text() -> str:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
    text = box.buttons()[0].text()
    box.deleteLater()
    return text


@pytest.fixture
def app(qapp: QApplication):
    yield qapp
    speak(qapp, "")  # the suite's English again
    i18n.use("")


def test_qt_standard_buttons_and_our_texts_follow_the_language(app):
    assert speak(app, "de") is not None
    assert cancel_text() == "Abbrechen"
    assert i18n._("overdue") == "überfällig"
    speak(app, "fr")  # a new language replaces the last one's translator
    assert cancel_text() == "Annuler"
    assert i18n._("overdue") == "en retard"
    assert len(app.findChildren(QTranslator, "ticketbell-qt")) == 1


def test_english_removes_qt_translations(app):
    speak(app, "pl")
    assert cancel_text() == "Anuluj"
    assert speak(app, "") is None  # the suite runs in the C locale: English
    assert cancel_text() == "Cancel"
    assert app.findChildren(QTranslator, "ticketbell-qt") == []
