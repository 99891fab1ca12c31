"""The tray app speaks the person's language: our texts and Qt's own standard dialogs."""

from __future__ import annotations

import ast
import re

import pytest
from PySide6.QtCore import QLocale, QTranslator
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from agent import i18n
from tests.conftest import ROOT
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


def test_the_dates_qt_writes_follow_the_language_chosen(app):
    """The dashboard's "answered within window" axis wrote its days with the system's month
    names ("4 Nov … 3 Dec" under a German title when Settings chose German on an English
    system, as the suite's C locale is here); Qt's own dates follow the chosen language now."""
    from agent.config import from_dict
    from agent.model import Status
    from tests.test_ui_dashboard import NOW
    from ui.dashboard import Dashboard

    speak(app, "de")
    dash = Dashboard(Status(NOW), from_dict({"role": "owner"}), clock=lambda: NOW)
    try:
        chart = dash.views[2].chart()
        assert chart.locale().toString(NOW.date(), "d MMM") == "23 Nov."
        speak(app, "pl")
        assert QLocale().toString(NOW.date(), "d MMM") == "23 lis"
    finally:
        dash.deleteLater()
    speak(app, "")  # the system's again
    assert QLocale() == QLocale.system()


# The Qt calls that put a text before a person, and the project's own (ui/settings/widgets.py).
TEXT_CALLS = {
    "QAction", "QCheckBox", "QGroupBox", "QLabel", "QPushButton", "QRadioButton", "QToolButton",
    "addAction", "addItem", "addMenu", "addRow", "addTab", "hint", "information", "question",
    "setAccessibleDescription", "setAccessibleName", "setPlaceholderText", "setSubTitle",
    "setText", "setTitle", "setToolTip", "setWindowTitle", "show", "showMessage", "warning",
}  # fmt: skip
#: literal texts that are the same in every language: the name, example values
SAME_EVERYWHERE = {"Ticketbell", "mqtts://mqtt.example.com:8883", "acme-support"}


def literal_texts(node: ast.Call) -> list[str]:
    """The words given to ``node`` as a bare string (or f-string), not through ``_()``."""
    texts_at = {"addItem": 1, "addTab": 2, "addAction": 1}  # after: data, a widget, a slot
    values = [*node.args[: texts_at.get(getattr(node.func, "attr", ""), 9)]]
    values += [k.value for k in node.keywords if k.arg in ("text", "placeholderText", "title")]
    texts = []
    for value in values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            texts.append(value.value)
        elif isinstance(value, ast.JoinedStr):
            texts.append("".join(p.value for p in value.values if isinstance(p, ast.Constant)))
    return [t for t in texts if re.search(r"[A-Za-z]{2}", t) and t not in SAME_EVERYWHERE]


def test_no_window_text_is_written_without_a_translation():
    """Every text ui/ hands to a widget goes through ``_()``: a bare "Join my team…" stayed
    English in every language, and no catalogue test can see a text that never reached it."""
    bare = []
    for path in sorted((ROOT / "ui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            owner = getattr(getattr(node.func, "value", None), "id", "")
            if name in TEXT_CALLS and owner not in ("log", "logging"):  # logs stay English
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                bare += [f"{where}: {text!r}" for text in literal_texts(node)]
    assert not bare
