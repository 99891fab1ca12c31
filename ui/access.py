"""What a screen reader says for each control: its accessible name from the label of its row
and a description from the row's hint, given once per window by :func:`name_controls`.

A form's field is often a box (the control, its hint, its error label), so Qt cannot pair the
row's label with the control itself; this does, and makes the label the control's buddy, so
the label's Alt-mnemonic moves the focus there. A control that already has a name of its own
(a button's text, a name set by hand) keeps it; a name given here is marked and renewed when
the row's label changes (a helpdesk kind's fields).
"""

from __future__ import annotations

import itertools
from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QBoxLayout,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLayout,
    QLayoutItem,
    QLineEdit,
    QPushButton,
    QTabBar,
    QTabWidget,
    QToolButton,
    QWidget,
    QWizard,
    QWizardPage,
)

HINT = "hint"  # property of a QLabel that explains the field it sits with (widgets.hint)
_GIVEN = "access_given"  # property of a control whose accessible name was given here
ROW_LABEL = "row_label"  # property of a QLabel that labels a form's row
# a wizard's own buttons (no page of ours commits: Commit is never shown)
WIZARD_BUTTONS = (
    QWizard.WizardButton.BackButton,
    QWizard.WizardButton.NextButton,
    QWizard.WizardButton.FinishButton,
    QWizard.WizardButton.CancelButton,
)


def focusable(widget: QWidget) -> bool:
    """Whether Tab stops at ``widget`` itself (not a part that hands focus to its owner, as a
    spin box's line edit or a tab widget do)."""
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus) and widget.focusProxy() is None


def controls_in(part: QWidget | QLayout | None) -> list[QWidget]:
    """The focusable controls in a layout item: the widget itself or those inside it."""
    if part is None:
        return []
    if isinstance(part, QLayout):
        items = (part.itemAt(i) for i in range(part.count()))
        return [c for item in items if item is not None for c in controls_in(_part(item))]
    if focusable(part) and not isinstance(part, QLabel):
        return [part]  # its inner parts (a combo box's popup list) are its own
    inside = [w for w in part.findChildren(QWidget) if focusable(w) and not isinstance(w, QLabel)]
    return [w for w in inside if not _within(w, inside)]


def _within(widget: QWidget, controls: list[QWidget]) -> bool:
    """Whether ``widget`` is a part of one of ``controls``."""
    parent = widget.parentWidget()
    while parent is not None:
        if parent in controls:
            return True
        parent = parent.parentWidget()
    return False


def _part(item: QLayoutItem) -> QWidget | QLayout | None:
    widget = item.widget()
    return widget if widget is not None else item.layout()


def _hints_in(part: QWidget | QLayout | None) -> list[str]:
    if isinstance(part, QLayout):
        items = (part.itemAt(i) for i in range(part.count()))
        return [h for item in items if item is not None for h in _hints_in(_part(item))]
    if part is None:
        return []
    labels = [part] if isinstance(part, QLabel) else part.findChildren(QLabel)
    return [label.text() for label in labels if label.property(HINT) and label.text()]


def _named(control: QWidget) -> bool:
    """Whether ``control`` has a name of its own: one set by hand, or a button's text (a combo
    box's current text is its value, not its name)."""
    if control.accessibleName():
        return True
    return isinstance(control, QAbstractButton) and bool(control.text().strip())


def plain(text: str) -> str:
    """A label's or button's text as words: no mnemonic '&' ("&&" is one '&' shown)."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _label_text(label: QLabel) -> str:
    """A row label as words: no mnemonic ampersand, no trailing colon."""
    return plain(label.text()).rstrip(": ")


def _give(label: QLabel | None, part: QWidget | QLayout | None) -> None:
    controls = controls_in(part)
    if not controls:
        return
    name = _label_text(label) if label is not None and label.text().strip() else ""
    if name:
        label.setBuddy(controls[0])  # type: ignore[union-attr]
    described = " ".join(_hints_in(part))
    for control in controls:
        if name and (control.property(_GIVEN) or not _named(control)):
            control.setAccessibleName(name)
            control.setProperty(_GIVEN, True)
        inner = control.lineEdit() if isinstance(control, QComboBox) else None
        if inner is not None and name:  # an editable combo box's text, focused on its own
            inner.setAccessibleName(name)
        placeholder = control.placeholderText() if isinstance(control, QLineEdit) else ""
        text = described or placeholder
        if text and not control.accessibleDescription():
            control.setAccessibleDescription(text)


def _name_form(form: QFormLayout) -> None:
    for row in range(form.rowCount()):
        label_item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field_item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        label = label_item.widget() if label_item is not None else None
        field = _part(field_item) if field_item is not None else None
        if isinstance(label, QLabel):
            label.setProperty(ROW_LABEL, True)
        _give(label if isinstance(label, QLabel) else None, field)


def _name_box(box: QBoxLayout) -> None:
    """In a row of widgets, a label names the control that follows it ("Window [30m]")."""
    parts = [_part(item) for i in range(box.count()) if (item := box.itemAt(i)) is not None]
    for before, after in itertools.pairwise(parts):
        if (
            isinstance(before, QLabel)
            and not before.property(HINT)
            and len(controls_in(after)) == 1
        ):
            _give(before, after)


def name_controls(root: QWidget) -> None:
    """Give every control under ``root`` that has no name the label of its form row (or the
    label before it in its row of widgets) as its accessible name, and its hint as its
    description, and every label and button an Alt-mnemonic (:func:`give_mnemonics`); called
    once a window is built and whenever rows are added or removed."""
    for layout in root.findChildren(QLayout):
        if isinstance(layout, QFormLayout):
            _name_form(layout)
        elif isinstance(layout, QBoxLayout):
            _name_box(layout)
    give_mnemonics(root)


# -- Alt-mnemonics: one letter each, none twice on what is shown at once


def mnemonic(text: str) -> str:
    """The letter Alt goes with in ``text`` (the one after a single '&'), lower case; ''."""
    at = 0
    while (at := text.find("&", at)) >= 0 and at + 1 < len(text):
        if text[at + 1] != "&":
            return text[at + 1].lower()
        at += 2
    return ""


def without_mnemonic(text: str) -> str:
    """``text`` with its mnemonic's '&' taken out ("&&", a shown '&', kept)."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&&")


def with_mnemonic(text: str, taken: set[str]) -> str:
    """``text`` with a mnemonic no other has (``taken``): its own (a translator's choice) if
    free, else the first free letter that starts a word, else any free letter, a letter of
    the Latin alphabet before an accented one (Alt+ó is two keys on most keyboards); without
    one when every letter of it is taken."""
    own = mnemonic(text)
    if own and own not in taken:
        return text
    plain = without_mnemonic(text)
    letters = [i for i, c in enumerate(plain) if c.isalpha() and (i == 0 or plain[i - 1] != "&")]

    def rank(i: int) -> tuple[bool, bool, int]:
        word_start = i == 0 or not plain[i - 1].isalnum()
        return (not plain[i].isascii(), not word_start, i)

    for i in sorted(letters, key=rank):
        if plain[i].lower() not in taken:
            return plain[:i] + "&" + plain[i:]
    return plain


class _Texts:
    """Reads and writes the text a widget shows its mnemonic in (a label, a button, a box
    ticked on and off, one tab of a tab bar)."""

    def __init__(self, widget: QWidget, tab: int = -1) -> None:
        self.widget, self.tab = widget, tab

    def get(self) -> str:
        w = self.widget
        if isinstance(w, QTabBar):
            return w.tabText(self.tab)
        return w.title() if isinstance(w, QGroupBox) else w.text()  # type: ignore[attr-defined]

    def set(self, text: str) -> None:
        w = self.widget
        if isinstance(w, QTabBar):
            w.setTabText(self.tab, text)
        elif isinstance(w, QGroupBox):
            w.setTitle(text)
        else:
            w.setText(text)  # type: ignore[attr-defined]


def mnemonic_texts(root: QWidget) -> list[_Texts]:
    """The texts under ``root`` that take a mnemonic: buttons, labels of a field (a buddy),
    boxes ticked on and off, tabs; in the order they were made (reading order, mostly)."""
    found: list[_Texts] = []
    wizard = root if isinstance(root, QWizard) else None
    own = {wizard.button(b) for b in WIZARD_BUTTONS} if wizard is not None else set()
    for w in [root, *root.findChildren(QWidget)]:
        if w in own:
            continue  # the wizard's own buttons: _wizard_buttons
        if isinstance(w, QTabBar):
            found += [_Texts(w, i) for i in range(w.count())]
        elif (
            (isinstance(w, QAbstractButton) and not isinstance(w, QToolButton))
            or (isinstance(w, QLabel) and w.buddy() is not None)
            or isinstance(w, QGroupBox)
        ):
            found.append(_Texts(w))
    return [t for t in found if without_mnemonic(t.get()).strip()]


def _rank(text: _Texts) -> int:
    """Tabs first, then a form row's label, push buttons, the rest ("from" … "to")."""
    w = text.widget
    if isinstance(w, QTabBar):
        return 0
    if w.property(ROW_LABEL):
        return 1
    return 2 if isinstance(w, QPushButton) else 3


def _pages(root: QWidget) -> list[QWidget]:
    """The parts of ``root`` shown one at a time: a tab widget's pages, a wizard's pages."""
    pages: list[QWidget] = []
    for tabs in root.findChildren(QTabWidget):
        pages += [p for i in range(tabs.count()) if (p := tabs.widget(i)) is not None]
    if isinstance(root, QWizard):
        pages += [p for i in root.pageIds() if (p := root.page(i)) is not None]
    return pages


def _shown_in(widget: QWidget, within: QWidget) -> bool:
    """Whether ``widget`` is shown when ``within`` is: none on the way up was hidden by hand
    (one just put in a shown window is shown a moment later, by its layout)."""
    hidden = (Qt.WidgetAttribute.WA_WState_ExplicitShowHide, Qt.WidgetAttribute.WA_WState_Hidden)
    w: QWidget | None = widget
    while w is not None and w is not within:
        if all(w.testAttribute(a) for a in hidden):
            return False
        w = w.parentWidget()
    return True


def _assign(texts: list[_Texts], taken: set[str], within: QWidget) -> set[str]:
    """Letters for the ``texts`` shown in ``within``, not those ``taken``; the letters then
    taken. Where letters run short, fields and buttons go first, a text shown more than once
    (each rule's Remove) last; a hidden one has none (shown later, it takes none another has)."""
    shown = [t for t in texts if _shown_in(t.widget, within)]
    for text in texts:
        if text not in shown:
            text.set(without_mnemonic(text.get()))
    times = Counter(without_mnemonic(t.get()) for t in shown)
    for text in sorted(shown, key=lambda t: (times[without_mnemonic(t.get())] > 1, _rank(t))):
        given = with_mnemonic(text.get(), taken)
        if given != text.get():
            text.set(given)
        if letter := mnemonic(given):
            taken.add(letter)
    return taken


def _wizard_buttons(root: QWidget) -> set[str]:
    """The letters of a wizard's own buttons shown on every page (Back, Next, Cancel: Qt's
    texts in Qt's translation, set again by the wizard on each page, so given their
    mnemonics there, when ``root`` is the wizard)."""
    wizard = root.wizard() if isinstance(root, QWizardPage) else root
    if not isinstance(wizard, QWizard):
        return set()
    taken: set[str] = set()
    for which in WIZARD_BUTTONS:
        text = wizard.buttonText(which)
        if isinstance(root, QWizard) and (given := with_mnemonic(text, taken)) != text:
            wizard.setButtonText(which, given)
        taken.add(mnemonic(wizard.buttonText(which)))
    finish = mnemonic(wizard.buttonText(QWizard.WizardButton.FinishButton))
    return taken - {"", finish}


def _finish(page: QWidget) -> set[str]:
    """The letter of Finish, on the last page (the only one it is shown on)."""
    wizard = page.wizard() if isinstance(page, QWizardPage) else None
    if wizard is None or not page.isFinalPage():  # type: ignore[attr-defined]
        return set()
    return {mnemonic(wizard.buttonText(QWizard.WizardButton.FinishButton))} - {""}


def give_mnemonics(root: QWidget) -> None:
    """Give every button, field label, tab under ``root`` an Alt-letter that no other shown
    with it has: those of the window itself (its tabs, its buttons, a wizard's own) first,
    then those of each of its pages (shown one at a time, they may share letters)."""
    pages = _pages(root)
    taken = _wizard_buttons(root) | _finish(root)
    on_pages = [t for t in mnemonic_texts(root) if not any(p.isAncestorOf(t.widget) for p in pages)]
    taken = _assign(on_pages, taken, root)
    for page in pages:
        _assign(mnemonic_texts(page), taken | _finish(page), page)


# -- the focus seen

#: a frame in the highlight colour round a list, a table or a chart with the keyboard focus:
#: the styles mark it on the current item only, and an empty list (or a chart) showed none;
#: a chart has no frame of its own, so its place is kept when it has not the focus
FOCUS_FRAME = (
    "QGraphicsView { border: 2px solid transparent; }"
    " QAbstractItemView:focus, QGraphicsView:focus { border: 2px solid palette(highlight); }"
)


def show_focus(window: QWidget) -> None:
    """Make the keyboard's focus seen on every control of ``window`` (see FOCUS_FRAME)."""
    if FOCUS_FRAME not in window.styleSheet():
        window.setStyleSheet(window.styleSheet() + FOCUS_FRAME)


def escape_closes(window: QWidget, event: QKeyEvent) -> bool:
    """Close ``window`` on a plain Esc, as a dialog closes; True when it did (the caller's
    ``keyPressEvent`` passes any other key on)."""
    if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
        window.close()
        return True
    return False


# -- colour that reads: text at least 4.5:1 against the window (WCAG 2 AA), light or dark

ERROR = "#d1242f"  # an error label, the "Not saved" banner
OK = "#1a7f37"  # "Connected", a sent test message
LEAST_CONTRAST = 4.5


def _rgb(colour: QColor) -> tuple[float, float, float]:
    return colour.redF(), colour.greenF(), colour.blueF()


def luminance(colour: QColor) -> float:
    """WCAG 2's relative luminance of ``colour``."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(x) for x in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2's contrast ratio of two colours, from 1 to 21."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable(colour: QColor, background: QColor) -> QColor:
    """``colour``, moved towards black on a light background (white on a dark one) just
    enough to reach 4.5:1 against it: red stays red, on a light theme and a dark one."""
    end = QColor("#000000") if luminance(background) > 0.18 else QColor("#ffffff")
    for step in range(11):
        t = step / 10
        mixed = QColor.fromRgbF(
            *(c + (e - c) * t for c, e in zip(_rgb(colour), _rgb(end), strict=True))
        )
        if contrast(mixed, background) >= LEAST_CONTRAST:
            return mixed
    return end


def readable_info_rows(widget: QWidget) -> None:
    """Make the greyed-out rows of a menu (its headlines, "3 waiting, 1 overdue") read at 4.5:1:
    a menu's information rows are disabled actions, and the styles' disabled grey is about
    2.5:1 on white. Propagates to the menu's submenus, which are windows of their own."""
    palette = widget.palette()
    backgrounds = [palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Window)]
    disabled = QPalette.ColorGroup.Disabled
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        ink = palette.color(disabled, role)
        for background in backgrounds:
            ink = readable(ink, background)
        palette.setColor(disabled, role, ink)
    widget.setPalette(palette)
    widget.setAttribute(Qt.WidgetAttribute.WA_WindowPropagation)


def text_style(colour: str | None = None, palette: QPalette | None = None) -> str:
    """A label's style sheet: text in ``colour`` (None: a hint's muted colour, the palette's
    placeholder text over the window) that reads against the window of ``palette`` (the
    application's)."""
    palette = palette if palette is not None else QGuiApplication.palette()
    window = palette.color(QPalette.ColorRole.Window)
    if colour is None:
        hint = palette.color(QPalette.ColorRole.PlaceholderText)
        alpha = hint.alphaF()
        mixed = (h * alpha + w * (1 - alpha) for h, w in zip(_rgb(hint), _rgb(window), strict=True))
        ink = QColor.fromRgbF(*mixed)
    else:
        ink = QColor(colour)
    return f"color: {readable(ink, window).name()}"
