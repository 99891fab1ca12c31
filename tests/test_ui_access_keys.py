"""The keyboard's shortcuts in Settings and the wizard: Alt and a letter goes to a page, a
field (by its label) or a button; on each page, in every language Ticketbell speaks, no two
of what is shown share a letter, and every field label and button has one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QGroupBox,
    QLabel,
    QMessageBox,
    QTabBar,
    QToolButton,
    QWidget,
)

from agent import config as config_module
from agent import i18n
from agent.sources import KINDS
from tests.test_ui_access import check
from ui.access import mnemonic, plain, with_mnemonic
from ui.app import speak
from ui.settings import FirstRunWizard, SettingsDialog
from ui.settings.team_page import JoinTeamDialog

LANGUAGES = i18n.available()


@pytest.fixture(autouse=True)
def discard_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """The windows are closed with edits unsaved: their question is answered "Discard"."""
    answer = QMessageBox.StandardButton.Discard
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kw: answer)


@pytest.fixture(params=LANGUAGES)
def language(qapp: QApplication, request: pytest.FixtureRequest) -> Iterator[str]:
    """Ticketbell speaking each language it ships (its texts and Qt's own buttons')."""
    speak(qapp, request.param)
    yield request.param
    speak(qapp, "")


def shortcuts(window: QWidget) -> list[tuple[str, str]]:
    """Each text shown in ``window`` that a mnemonic can be in (buttons, labels of a field,
    boxes, tabs) with its letter ('' none). A label with no field does not count: its '&'
    would be shown as it is (stray_ampersands)."""
    found: list[tuple[str, str]] = []
    for w in window.findChildren(QWidget):
        if not w.isVisible():
            continue
        if isinstance(w, QTabBar):
            found += [(w.tabText(i), mnemonic(w.tabText(i))) for i in range(w.count())]
        elif text := _text(w):
            found.append((text, mnemonic(text)))
    return found


def _text(w: QWidget) -> str:
    if isinstance(w, QGroupBox):
        return w.title()
    if isinstance(w, QToolButton):
        return ""
    if isinstance(w, QAbstractButton):
        return w.text()
    return w.text() if isinstance(w, QLabel) and w.buddy() is not None else ""


def stray_ampersands(window: QWidget) -> list[str]:
    """Labels that show a mnemonic's '&' as it is: with one and no field to go to."""
    labels = [w for w in window.findChildren(QLabel) if w.isVisible() and w.buddy() is None]
    return [
        w.text() for w in labels if w.textFormat() != Qt.TextFormat.RichText and mnemonic(w.text())
    ]


def check_keys(window: QWidget, where: str) -> None:
    """No two texts shown share a letter; one without a letter has none left to take (a long
    form, the IMAP kind's, has more fields than the alphabet letters)."""
    QApplication.processEvents()  # rows just added are shown by their layout
    shown = shortcuts(window)
    twice = [letter for letter, n in Counter(m for _, m in shown if m).items() if n > 1]
    assert twice == [], f"{where}: {[t for t, m in shown if m in twice]}"
    taken = {m for _, m in shown if m}
    free = [t for t, m in shown if not m and {c.lower() for c in plain(t) if c.isalpha()} - taken]
    assert free == [], f"{where}: no Alt-letter, though one is free"
    assert stray_ampersands(window) == [], where


def settings(qtbot: Any, tmp_path: Path) -> SettingsDialog:
    dialog = SettingsDialog(tmp_path / "t.toml", config_module.demo_config())
    qtbot.addWidget(dialog)
    shown(qtbot, dialog)
    return dialog


def shown(qtbot: Any, window: QWidget) -> None:
    """``window`` shown and active: the keyboard's keys go to it."""
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()


def test_no_two_alt_letters_alike_on_any_settings_page(
    qtbot: Any, tmp_path: Path, language: str
) -> None:
    dialog = settings(qtbot, tmp_path)
    for tab in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(tab)
        check_keys(dialog, f"{language}: {plain(dialog.tabs.tabText(tab))}")
    dialog.tabs.setCurrentIndex(0)
    form = dialog.source_form
    for kind in sorted(KINDS):  # each helpdesk kind's form has fields of its own
        form.kind.setCurrentIndex(form.kind.findData(kind))
        check_keys(dialog, f"{language}: {kind}")


def test_no_two_alt_letters_alike_on_any_wizard_page(
    qtbot: Any, tmp_path: Path, language: str
) -> None:
    wizard = FirstRunWizard(tmp_path / "t.toml")
    qtbot.addWidget(wizard)
    wizard.show()
    for kind in sorted(KINDS):
        wizard.restart()
        wizard.kind.setCurrentIndex(wizard.kind.findData(kind))
        check_keys(wizard, f"{language}: start")
        wizard.next()
        check_keys(wizard, f"{language}: connect to {kind}")
    wizard.restart()
    wizard.kind.setCurrentIndex(wizard.kind.findData("demo"))
    wizard.next()
    wizard.next()  # the demo's live test, then on by itself
    qtbot.waitUntil(lambda: wizard.currentId() == 2, timeout=10_000)
    check_keys(wizard, f"{language}: categories")
    wizard.next()
    check_keys(wizard, f"{language}: done")


def alt(qtbot: Any, window: QWidget, text: str) -> None:
    """Press Alt and the letter of ``text`` (a mnemonic's text) in ``window``."""
    letter = mnemonic(text)
    assert letter, text
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, letter, Qt.KeyboardModifier.AltModifier)


def test_alt_and_a_label_s_letter_goes_to_its_field(
    qtbot: Any, tmp_path: Path, language: str
) -> None:
    dialog = settings(qtbot, tmp_path)
    labels = [w for w in dialog.helpdesks.findChildren(QLabel) if w.isVisible() and w.buddy()]
    labelled = [label for label in labels if mnemonic(label.text())]
    assert len(labelled) >= 3, language
    for label in [*labelled, labelled[0]]:
        alt(qtbot, dialog, label.text())
        assert QApplication.focusWidget() is label.buddy(), plain(label.text())
    tabs = dialog.tabs
    for page in (dialog.alerts, dialog.general, dialog.helpdesks):
        alt(qtbot, dialog, tabs.tabText(dialog._tab_of(page)))
        assert tabs.currentIndex() == dialog._tab_of(page)
    assert plain(tabs.tabText(0)) == plain(tabs.tabText(tabs.currentIndex()))


def test_alt_and_a_button_s_letter_presses_it(qtbot: Any, tmp_path: Path) -> None:
    dialog = settings(qtbot, tmp_path)
    page = dialog.response
    alt(qtbot, dialog, dialog.tabs.tabText(dialog._tab_of(page)))
    add = next(
        b
        for b in page.findChildren(QAbstractButton)
        if plain(b.text()) == "Add a rule" and b.isVisible()
    )
    rules = len(page.rules)
    alt(qtbot, dialog, add.text())
    qtbot.waitUntil(lambda: len(page.rules) == rules + 1)  # pressed as a click shows: briefly


def test_the_wizard_s_fields_and_buttons_answer_alt(qtbot: Any, tmp_path: Path) -> None:
    wizard = FirstRunWizard(tmp_path / "t.toml")
    qtbot.addWidget(wizard)
    shown(qtbot, wizard)
    wizard.kind.setCurrentIndex(wizard.kind.findData("github"))
    alt(qtbot, wizard, "&Next >")  # Qt's own wizard button
    qtbot.waitUntil(lambda: wizard.currentId() == 1)
    label = next(w for w in wizard.findChildren(QLabel) if w.buddy() is wizard.form.name)
    alt(qtbot, wizard, label.text())
    assert QApplication.focusWidget() is wizard.form.name


def test_join_my_team_is_named_in_order_and_its_alt_letters_differ(
    qtbot: Any, tmp_path: Path, language: str
) -> None:
    dialog = JoinTeamDialog(None, tmp_path / "t.toml")
    qtbot.addWidget(dialog)
    shown(qtbot, dialog)
    check(dialog, f"{language}: join my team")
    check_keys(dialog, f"{language}: join my team")
    label = next(w for w in dialog.findChildren(QLabel) if w.buddy() is dialog.user)
    alt(qtbot, dialog, label.text())
    assert QApplication.focusWidget() is dialog.user


@pytest.mark.parametrize(
    ("text", "taken", "given"),
    [
        ("E&xport…", {"e"}, "E&xport…"),  # the translator's letter, free
        ("E&xport…", {"x"}, "&Export…"),  # taken: the first free word start instead
        ("Check every", {"c"}, "Check &every"),
        ("Ogólne", {"o", "g"}, "Ogó&lne"),  # a Latin letter before an accented one
        ("R&&D notes", {"r"}, "R&&D &notes"),  # "&&" is an '&' shown, not a mnemonic
        ("to", {"t", "o"}, "to"),  # every letter taken: none
    ],
)
def test_a_mnemonic_is_the_translator_s_or_the_first_free_letter(
    text: str, taken: set[str], given: str
) -> None:
    assert with_mnemonic(text, taken) == given
    assert plain(given) == plain(text)
