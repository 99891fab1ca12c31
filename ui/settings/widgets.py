"""What the settings pages share: labels that show an error or a hint, Tab in reading order,
an error routed to its field by the key it carries, the question before a risky import, and
work run off the main thread with its answer back by signal."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from agent import config as config_module
from agent.config import Config, ConfigError
from agent.config.shapes import key_text
from agent.i18n import _
from ui.access import ERROR, HINT, OK, name_controls, text_style

DEMO = "demo"


def plain_label(text: str = "", error: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if error:
        label.setStyleSheet(text_style(ERROR))
        label.setVisible(bool(text))
    return label


def kind_text(kind: str) -> str:
    """A helpdesk kind in the words a person picks it by (its description, not its code)."""
    from agent.sources import source_class

    text = _(source_class(kind).description)
    return text[:1].upper() + text[1:]


def hint(text: str) -> QLabel:
    label = plain_label(text)
    label.setStyleSheet(text_style())
    label.setProperty(HINT, True)
    return label


def with_error(widget: QWidget | QHBoxLayout, hint_text: str = "") -> tuple[QWidget, QLabel]:
    """``widget`` with an optional hint and an error label (hidden until needed) below it."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    if isinstance(widget, QHBoxLayout):
        lay.addLayout(widget)
    else:
        lay.addWidget(widget)
    if hint_text:
        lay.addWidget(hint(hint_text))
    error = plain_label(error=True)
    lay.addWidget(error)
    return box, error


def show(label: QLabel, text: str, ok: bool | None = None) -> None:
    label.setText(text)
    if ok is not None:
        label.setStyleSheet(text_style(OK if ok else ERROR))
    label.setVisible(bool(text))


def clear(*labels: QLabel) -> None:
    """Hide these error labels (their text goes)."""
    for label in labels:
        show(label, "")


def append_row(
    rows: list[Any], layout: QVBoxLayout, row: Any, after_removal: Callable[[], None] | None = None
) -> None:
    """Put a removable row (a rule, a target, a level) at the end of its list and layout; its
    ``removed`` signal (its Remove button) takes it out again, then calls ``after_removal``."""
    rows.append(row)
    layout.addWidget(row)

    def remove(_: object) -> None:
        remove_row(rows, row)
        if after_removal is not None:
            after_removal()

    row.removed.connect(remove)


def remove_row(rows: list[Any], row: QWidget) -> None:
    """Take a removable row (a rule, a target, a level) out of its list and off the window."""
    rows.remove(row)
    row.setParent(None)
    row.deleteLater()


def row_list(
    outer: QVBoxLayout, add_text: str, add: Callable[[], object]
) -> tuple[QVBoxLayout, QLabel]:
    """A list of removable rows (rules, levels) at the end of ``outer``: the layout the rows go
    in (see :func:`append_row`), an error label for the list as a whole, and a button
    ``add_text`` at the left that calls ``add``."""
    rows = QVBoxLayout()
    outer.addLayout(rows)
    error = plain_label(error=True)
    outer.addWidget(error)
    button = QPushButton(add_text)
    button.clicked.connect(add)
    row = QHBoxLayout()
    row.addWidget(button)
    row.addStretch(1)
    outer.addLayout(row)
    return rows, error


def show_error_in(
    index: dict[str, QLabel], exc: ConfigError, names: dict[str, str] | None = None
) -> bool:
    """Show ``exc`` under the field of its key, or else of the nearest enclosing key in
    ``index`` (keyed ``"windows.rules[0]"``), naming the inner key (``names`` gives it words)."""
    for n in range(len(exc.parts), 0, -1):
        label = index.get(key_text(exc.parts[:n]))
        if label is not None:
            inner = str(exc.parts[n]) if n < len(exc.parts) else ""
            named = (names or {}).get(inner, inner)
            show(label, f"{named}: {exc.message}" if named else exc.message)
            return True
    return False


def read_provisioning(parent: QWidget, path: Path, say: Callable[[str], None]) -> Config | None:
    """The provisioning file at ``path``, once the person accepts its risky settings; None when
    it cannot be read (``say`` tells why) or they say No."""
    try:
        config = config_module.read_provisioning(path)
    except ConfigError as exc:
        say(str(exc))
        return None
    return config if accept_risky(parent, path, config) else None


def accept_risky(parent: QWidget, path: Path, config: Config) -> bool:
    """Whether to import a provisioning file that turns TLS checks off, sets a proxy or sends
    escalations from here (``config.risky_settings``): shown, and taken only on "Yes"."""
    risky = config_module.risky_settings(config)
    if not risky:
        return True
    asks = _("{file} asks for these settings:").format(file=path.name)
    text = "\n".join([asks, *(f"• {r}" for r in risky)])
    return warn_yes_no(parent, _("Import a provisioning file"), text, _("Import it with them?"))


def accept_token_file(parent: QWidget, advice: str) -> bool:
    """Whether to keep a token in the private file, this computer having no keyring: the
    warning (``agent.secrets.no_keyring_advice``) is shown, and the file used only on "Yes"."""
    title = _("No keyring on this computer")
    return warn_yes_no(parent, title, advice, _("Keep the token in that file?"))


def warn_yes_no(parent: QWidget, title: str, text: str, question: str) -> bool:
    """A warning that asks: True only on "Yes" (No is the default button)."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    no = QMessageBox.StandardButton.No
    answer = QMessageBox.warning(parent, title, text + "\n\n" + question, buttons, no)
    return answer == QMessageBox.StandardButton.Yes


def _layout_parts(layout: QLayout) -> list[QWidget | QLayout]:
    """The widgets and inner layouts of ``layout`` in its order. Each QLayoutItem is asked at
    once and dropped: a kept wrapper of one outlives it, and PySide's wrapper map may hand that
    stale wrapper back for a new object at the same address (a QAction in the tray's menu)."""
    if isinstance(layout, QFormLayout):
        roles = (
            QFormLayout.ItemRole.LabelRole,
            QFormLayout.ItemRole.FieldRole,
            QFormLayout.ItemRole.SpanningRole,
        )
        places = [(r, role) for r in range(layout.rowCount()) for role in roles]
        return [p for r, role in places if (p := _part(layout.itemAt(r, role))) is not None]
    return [p for i in range(layout.count()) if (p := _part(layout.itemAt(i))) is not None]


def _part(item: QLayoutItem | None) -> QWidget | QLayout | None:
    if item is None:
        return None
    widget = item.widget()
    return widget if widget is not None else item.layout()


def _walk_layout(layout: QLayout, out: list[QWidget]) -> None:
    for part in _layout_parts(layout):
        if isinstance(part, QWidget):
            _walk(part, out)
        else:
            _walk_layout(part, out)


def _walk(widget: QWidget, out: list[QWidget]) -> None:
    if isinstance(widget, QTabWidget):
        for i in range(widget.count()):
            if (page := widget.widget(i)) is not None:
                _walk(page, out)
        return
    if isinstance(widget, QScrollArea):
        if (inside := widget.widget()) is not None:
            _walk(inside, out)
        return
    if widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
        out.append(widget)
    if (layout := widget.layout()) is not None:
        _walk_layout(layout, out)


def reading_order(root: QWidget) -> list[QWidget]:
    """The focusable widgets under ``root`` in the order a person reads them: the order of
    their layouts (form rows top to bottom, boxes left to right), not their creation order."""
    out: list[QWidget] = []
    _walk(root, out)
    return out


def retab(widget: QWidget) -> None:
    """Make Tab follow the reading order of the window (or wizard page) ``widget`` is in;
    called whenever rows are added or removed."""
    root = widget
    while (
        not isinstance(root, (QWizardPage, QDialog)) and (parent := root.parentWidget()) is not None
    ):
        root = parent
    for a, b in itertools.pairwise(reading_order(root)):
        QWidget.setTabOrder(a, b)
    name_controls(root)


def fit_screen(window: QWidget, width: int, height: int, screen: QSize | None = None) -> None:
    """Size ``window`` at ``width`` × ``height``, or less on a smaller screen (its available
    part, less a title bar): its pages scroll rather than run off the screen."""
    if screen is None:
        here = window.screen() or QGuiApplication.primaryScreen()
        screen = here.availableGeometry().size()
    window.resize(min(width, screen.width() - 20), min(height, screen.height() - 40))


def scrolling(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to its fields, which it scrolls to
    return area


class KeyValueEditor(QWidget):
    """A table option (``dict``, e.g. the json kind's ``fields``) as rows of key and value.

    An empty row is always at the end to type a new pair into; rows with an empty key are
    dropped when the table is read back.
    """

    def __init__(self, value: object = None, headers: tuple[str, str] = ("", "")) -> None:
        super().__init__()
        headers = (headers[0] or _("Key"), headers[1] or _("Value"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.grid = QTableWidget(0, 2)
        self.grid.setHorizontalHeaderLabels(list(headers))
        self.grid.horizontalHeader().setStretchLastSection(True)
        self.grid.verticalHeader().setVisible(False)
        self.grid.setMinimumHeight(120)
        self.grid.setTabKeyNavigation(False)  # the arrows go from cell to cell; Tab leaves it
        layout.addWidget(self.grid)
        self.set_value(value)
        self.grid.itemChanged.connect(self._keep_an_empty_row)

    def set_value(self, value: object) -> None:
        pairs = value.items() if isinstance(value, dict) else ()
        self.grid.blockSignals(True)
        self.grid.setRowCount(0)
        for key, item in [*pairs, ("", "")]:
            row = self.grid.rowCount()
            self.grid.insertRow(row)
            self.grid.setItem(row, 0, QTableWidgetItem(str(key)))
            self.grid.setItem(row, 1, QTableWidgetItem("" if item is None else str(item)))
        self.grid.blockSignals(False)

    def value(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for row in range(self.grid.rowCount()):
            key, item = self.grid.item(row, 0), self.grid.item(row, 1)
            name = key.text().strip() if key else ""
            if name:
                pairs[name] = item.text().strip() if item else ""
        return pairs

    def _keep_an_empty_row(self) -> None:
        last = self.grid.rowCount() - 1
        key = self.grid.item(last, 0) if last >= 0 else None
        if last < 0 or (key is not None and key.text().strip()):
            self.set_value(self.value())


class Worker(QObject):
    """Runs one blocking call of the agent (a connection test, a test message, a sign-in) on a
    Python thread and hands its result back by the ``done`` signal, and what it says on the
    way (``said.emit``, given to the call) by ``said``, on the main thread. The call answers
    every failure with a result (``try_connection`` does): it must not raise.

    The thread holds the worker, and the worker belongs to no widget: a window deleted while
    the call runs is simply not told (Qt drops a deleted receiver's connections).
    """

    done = Signal(object)
    said = Signal(str)

    def run(self, work: Callable[[], object], name: str = "ticketbell-settings") -> None:
        threading.Thread(target=lambda: self.done.emit(work()), name=name, daemon=True).start()
