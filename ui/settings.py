"""The settings window and the first-run wizard.

Both edit the TOML document (a dict) and validate it with the agent's own ``config.save``: a
:class:`~agent.config.ConfigError` is shown next to the field its key names. A source's fields
are generated from its kind's ``required``/``optional`` options; its token goes to the keyring
(``agent.secrets.set``), never to the file. So does an escalation channel URL that carries a
password or token (``agent.escalation.carries_secret``): the file gets ``keyring:NAME`` and the
window shows the URL masked. "Test connection" and "Send test" run on a Python thread and
report back by signal.
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
import threading
import zoneinfo
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from PySide6.QtCore import QObject, Qt, QTime, QTimeZone, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from agent import autostart
from agent import config as config_module
from agent import escalation as channels
from agent import secrets as secret_store
from agent.config import WEEKDAYS, Config, ConfigError
from agent.sources import KINDS, source_class
from agent.sources.base import Option, SourceError

log = logging.getLogger(__name__)

DEMO = "demo"
ERROR_STYLE = "color: #d1242f"
OK_STYLE = "color: #1a7f37"
COMMON_LABELS = {"name": "Name", "interval": "Check every", "kind": "Helpdesk"}
PRIORITIES = ("", "low", "normal", "high", "urgent")


def set_start_at_login(on: bool) -> None:
    """Start at login on or off. The OS-specific part lives in ``agent.autostart`` (XDG
    autostart file on Linux, HKCU Run on Windows, a LaunchAgent on macOS)."""
    autostart.set_enabled(on)


def _plain_label(text: str = "", error: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if error:
        label.setStyleSheet(ERROR_STYLE)
        label.setVisible(bool(text))
    return label


def _hint(text: str) -> QLabel:
    label = _plain_label(text)
    label.setStyleSheet("color: palette(placeholder-text)")
    return label


def _with_error(widget: QWidget | QHBoxLayout, hint: str = "") -> tuple[QWidget, QLabel]:
    """``widget`` with an optional hint and an error label (hidden until needed) below it."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    if isinstance(widget, QHBoxLayout):
        lay.addLayout(widget)
    else:
        lay.addWidget(widget)
    if hint:
        lay.addWidget(_hint(hint))
    error = _plain_label(error=True)
    lay.addWidget(error)
    return box, error


def _show(label: QLabel, text: str, ok: bool | None = None) -> None:
    label.setText(text)
    if ok is not None:
        label.setStyleSheet(OK_STYLE if ok else ERROR_STYLE)
    label.setVisible(bool(text))


def accept_risky(parent: QWidget, path: Path, config: Config) -> bool:
    """Whether to import a provisioning file that turns TLS checks off, sets a proxy or sends
    escalations from here (``config.risky_settings``): shown, and taken only on "Yes"."""
    risky = config_module.risky_settings(config)
    if not risky:
        return True
    text = "\n".join([f"{path.name} asks for these settings:", *(f"• {r}" for r in risky)])
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.warning(
        parent,
        "Import a provisioning file",
        text + "\n\nImport it with them?",
        buttons,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def _reading_order(root: QWidget) -> list[QWidget]:
    """The focusable widgets under ``root`` in the order a person reads them: the order of
    their layouts (form rows top to bottom, boxes left to right), not their creation order."""
    out: list[QWidget] = []

    def walk_layout(layout: QLayout) -> None:
        if isinstance(layout, QFormLayout):
            roles = (
                QFormLayout.ItemRole.LabelRole,
                QFormLayout.ItemRole.FieldRole,
                QFormLayout.ItemRole.SpanningRole,
            )
            items = [layout.itemAt(r, role) for r in range(layout.rowCount()) for role in roles]
        else:
            items = [layout.itemAt(i) for i in range(layout.count())]
        for item in items:
            if item is None:
                continue
            if item.widget() is not None:
                walk_widget(item.widget())
            elif item.layout() is not None:
                walk_layout(item.layout())

    def walk_widget(widget: QWidget) -> None:
        if isinstance(widget, QTabWidget):
            for i in range(widget.count()):
                walk_widget(widget.widget(i))
            return
        if isinstance(widget, QScrollArea):
            if widget.widget() is not None:
                walk_widget(widget.widget())
            return
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
            out.append(widget)
        if widget.layout() is not None:
            walk_layout(widget.layout())

    walk_widget(root)
    return out


def _retab(widget: QWidget) -> None:
    """Make Tab follow the reading order of the window (or wizard page) ``widget`` is in;
    called whenever rows are added or removed."""
    root = widget
    while root.parentWidget() is not None and not isinstance(root, (QWizardPage, QDialog)):
        root = root.parentWidget()
    chain = _reading_order(root)
    for a, b in itertools.pairwise(chain):
        QWidget.setTabOrder(a, b)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _source_label(kind: str, key: str) -> str:
    """The label a source field carries in the form, for messages about that key."""
    if key in COMMON_LABELS:
        return COMMON_LABELS[key]
    try:
        cls = source_class(kind)
    except (KeyError, ValueError):
        return key
    return next((o.label for o in cls.required + cls.optional if o.key == key), key)


class _Tester(QObject):
    """Runs one fetch (and list_categories) off the main thread; reports by signal."""

    done = Signal(bool, str, object)  # connected?, message for a person, categories or None

    def run(self, table: dict[str, Any], token: str) -> None:
        threading.Thread(target=self._work, args=(table, token), daemon=True).start()

    def _work(self, table: dict[str, Any], token: str) -> None:
        try:
            cfg = config_module.from_dict({"sources": [table]}).sources[0]
            cls = source_class(cfg.kind)
            secret = token or None
            if cls.needs_secret and not secret:
                try:
                    secret = secret_store.get(cfg.name, cfg.secret_env)
                except secret_store.SecretUnavailable:
                    what = str(table.get("auth", "")).lower() == "oauth"
                    first = "Press Sign in…" if what else f"Enter the {cls.secret_label.lower()}"
                    self.done.emit(False, f"{first} first.", None)
                    return
            source = cls(cfg, secret)
            try:
                snapshot = source.fetch(None)
                categories = source.list_categories()
            finally:
                source.close()
        except ConfigError as exc:
            field = _source_label(str(table.get("kind", "")), exc.key.rsplit(".", 1)[-1])
            self.done.emit(False, _sentence(f"Cannot test yet: {field}: {exc.message}"), None)
        except SourceError as exc:
            self.done.emit(False, _sentence(f"Not connected: {exc}"), None)
        except Exception as exc:
            log.exception("connection test failed")
            self.done.emit(False, f"Not connected: {exc.__class__.__name__}.", None)
        else:
            n = len(snapshot.tickets)
            waiting = f"{n} ticket{'s' if n != 1 else ''} waiting"
            self.done.emit(True, f"Connected: {waiting}.", categories)


class KeyValueEditor(QWidget):
    """A table option (``dict``, e.g. the json kind's ``fields``) as rows of key and value.

    An empty row is always at the end to type a new pair into; rows with an empty key are
    dropped when the table is read back.
    """

    def __init__(self, value: object = None, headers: tuple[str, str] = ("Key", "Value")) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.grid = QTableWidget(0, 2)
        self.grid.setHorizontalHeaderLabels(list(headers))
        self.grid.horizontalHeader().setStretchLastSection(True)
        self.grid.verticalHeader().setVisible(False)
        self.grid.setMinimumHeight(120)
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


class SignInRow(QWidget):
    """**Sign in…** for an ``auth = "oauth"`` source: runs ``agent.signin.sign_in`` off the
    main thread, shows the device code or opens the browser, and says what to do."""

    said = Signal(str)
    done = Signal(bool, str)

    def __init__(self, table: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self.table = table
        self.cancel: threading.Event | None = None
        self.button = QPushButton("Sign in…")
        self.button.clicked.connect(self.sign_in)
        self.text = _plain_label()
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.text, 1)
        self.said.connect(lambda text: _show(self.text, text, True))
        self.done.connect(self._done)

    def sign_in(self) -> None:
        from agent import signin

        if self.cancel is not None:  # the button says "Cancel" while a sign-in runs
            self.cancel.set()
            return
        table = self.table()
        if str(table.get("auth", "")).lower() != "oauth":
            _show(self.text, 'Set "Sign-in" to oauth first, then press Sign in… again.', False)
            return
        try:
            source = config_module.from_dict({"sources": [table]}).sources[0]
        except ConfigError as exc:
            _show(self.text, _sentence(f"Cannot sign in yet: {exc.message}"), False)
            return
        self.cancel = threading.Event()
        self.button.setText("Cancel")
        _show(self.text, "Asking the sign-in server…", True)

        def work(cancel: threading.Event) -> None:
            try:
                self.done.emit(True, signin.sign_in(source, self.said.emit, cancel=cancel))
            except (signin.SignInFailed, SourceError) as exc:
                self.done.emit(False, _sentence(f"Not signed in: {exc}"))
            except Exception as exc:
                log.exception("sign-in failed")
                self.done.emit(False, f"Not signed in: {exc.__class__.__name__}.")

        threading.Thread(target=work, args=(self.cancel,), daemon=True).start()

    def _done(self, ok: bool, message: str) -> None:
        self.cancel = None
        self.button.setText("Sign in…")
        _show(self.text, message, ok)


class SourceForm(QWidget):
    """One source: kind, name, the kind's own fields, token, categories, test."""

    def __init__(
        self,
        table: dict[str, Any] | None = None,
        kinds: list[str] | None = None,
        with_categories: bool = True,
    ):
        super().__init__()
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.form = QFormLayout()
        self.layout_.addLayout(self.form)
        self.kind = QComboBox()
        for kind in kinds or list(KINDS):
            self.kind.addItem(f"{kind} — {source_class(kind).description}", kind)
        self.name = QLineEdit()
        self.interval = QLineEdit()
        self.interval.setPlaceholderText("e.g. 2m (empty: every 2 minutes)")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.errors: dict[str, QLabel] = {}
        self.fields: dict[str, QWidget] = {}
        self.extra_rows: list[QWidget] = []
        self.categories_label = QLabel("My categories (none ticked: all of them)")
        self.categories = QListWidget()
        self.categories.setMinimumHeight(80)
        self.test_button = QPushButton("Test connection")
        self.test_result = _plain_label()
        self.tester = _Tester()
        self.tester.done.connect(self._tested)
        self.test_button.clicked.connect(self.test)
        self._row("kind", "Helpdesk", self.kind)
        self._row("name", "Name", self.name)
        self.token_row = self._row("token", "Token", self.token)
        self._row("interval", "Check every", self.interval)
        if with_categories:
            self.layout_.addWidget(self.categories_label)
            self.layout_.addWidget(self.categories, 1)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_result, 1)
        self.layout_.addLayout(row)
        self.test_row = row
        self.sign_in = SignInRow(self.table)
        self.layout_.addWidget(self.sign_in)
        self.kind.currentIndexChanged.connect(lambda: self._kind_changed({}))
        self.load(table or {"kind": self.kind.currentData()})

    def _row(self, key: str, label: str, widget: QWidget, help_: str = "", at: int = -1) -> QWidget:
        box, error = _with_error(widget, help_)
        self.errors[key] = error
        self.fields[key] = widget
        self.form.insertRow(at, label, box)
        return box

    def load(self, table: dict[str, Any]) -> None:
        kind = table.get("kind", DEMO)
        index = self.kind.findData(kind)
        self.kind.blockSignals(True)
        self.kind.setCurrentIndex(max(0, index))
        self.kind.blockSignals(False)
        self.name.setText(str(table.get("name", "")))
        self.interval.setText(str(table.get("interval", "")))
        self._kind_changed(table)

    def _kind_changed(self, table: dict[str, Any]) -> None:
        for box in self.extra_rows:
            self.form.removeRow(box)
        self.extra_rows = []
        for key in [k for k in self.fields if k not in ("kind", "name", "interval", "token")]:
            self.fields.pop(key)
            self.errors.pop(key, None)
        cls = source_class(self.kind.currentData())
        if not self.name.text():
            self.name.setText("Demo helpdesk" if cls.kind == DEMO else cls.kind.title())
        options: list[tuple[Option, bool]] = [(o, True) for o in cls.required]
        options += [(o, False) for o in cls.optional if not (cls.kind == DEMO and o.key == "url")]
        for opt, required in options:
            value = table.get(opt.key, opt.default)
            if opt.type is bool:
                widget: QWidget = QCheckBox()
                widget.setChecked(bool(value))
            elif opt.type is dict:
                widget = KeyValueEditor(value)
            else:
                widget = QLineEdit()
                if isinstance(value, (list, tuple)):
                    value = ", ".join(str(v) for v in value)
                widget.setText("" if value is None else str(value))
            label = opt.label + ("" if required else " (optional)")
            at = 2 + len(self.extra_rows)  # after kind and name, before token and interval
            self.extra_rows.append(self._row(opt.key, label, widget, opt.help, at))
        self.sign_in.setVisible(any(o.key == "auth" for o in cls.optional))
        self.token_row.setVisible(cls.needs_secret)
        self.form.labelForField(self.token_row).setText(cls.secret_label)
        self.form.labelForField(self.token_row).setVisible(cls.needs_secret)
        self.set_categories(
            [str(c) for c in table.get("categories", [])],
            [str(c) for c in table.get("categories", [])],
        )
        _show(self.test_result, "")
        _retab(self)

    def set_categories(self, known: list[str], ticked: list[str]) -> None:
        self.categories.clear()
        for name in dict.fromkeys([*known, *ticked]):
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in ticked else Qt.CheckState.Unchecked)
            self.categories.addItem(item)

    def ticked(self) -> list[str]:
        items = (self.categories.item(i) for i in range(self.categories.count()))
        return [i.text() for i in items if i.checkState() == Qt.CheckState.Checked]

    def table(self) -> dict[str, Any]:
        cls = source_class(self.kind.currentData())
        table: dict[str, Any] = {"name": self.name.text().strip(), "kind": cls.kind}
        if self.interval.text().strip():
            table["interval"] = self.interval.text().strip()
        for opt in cls.required + cls.optional:
            widget = self.fields.get(opt.key)
            if isinstance(widget, QCheckBox):
                if widget.isChecked() != bool(opt.default):
                    table[opt.key] = widget.isChecked()
            elif isinstance(widget, KeyValueEditor):
                if widget.value():
                    table[opt.key] = widget.value()
            elif isinstance(widget, QLineEdit):
                text = widget.text().strip()
                if not text or text == str(opt.default or ""):
                    continue
                if opt.type is list:
                    table[opt.key] = [p.strip() for p in text.split(",") if p.strip()]
                elif opt.type is int:
                    table[opt.key] = int(text) if text.lstrip("-").isdigit() else text
                else:
                    table[opt.key] = text
        if self.ticked():
            table["categories"] = self.ticked()
        return table

    def show_error(self, key: str, message: str) -> bool:
        label = self.errors.get(key)
        if label is None:
            return False
        _show(label, message)
        return True

    def clear_errors(self) -> None:
        for label in self.errors.values():
            _show(label, "")

    def test(self) -> None:
        _show(self.test_result, "Testing the connection…", ok=True)
        self.test_result.setStyleSheet("")
        self.test_button.setEnabled(False)
        self.tester.run(self.table(), self.token.text())

    def _tested(self, ok: bool, message: str, categories: object) -> None:
        self.test_button.setEnabled(True)
        _show(self.test_result, message, ok)
        if isinstance(categories, list):
            self.set_categories([str(c) for c in categories], self.ticked())

    def store_token(self) -> None:
        """Put a typed token in the keyring under the source's name (never in the file)."""
        if self.token.text() and source_class(self.kind.currentData()).needs_secret:
            secret_store.set(self.name.text().strip(), self.token.text())
            self.token.clear()


# --------------------------------------------------------------------------- escalation targets


class _Sender(QObject):
    """Sends one test message through the real delivery path, off the main thread."""

    done = Signal(object)  # None (sent) or why not, in plain words

    def run(self, target: str) -> None:
        threading.Thread(target=self._work, args=(target,), daemon=True).start()

    def _work(self, target: str) -> None:
        try:
            error = channels.send_test(target)
        except Exception as exc:  # the window must hear back in any case
            log.exception("test message failed")
            error = secret_store.redact(f"{type(exc).__name__}: {exc}")
        self.done.emit(error)


class TargetRow(QWidget):
    """One place an escalation goes: "owner-desktop", a channel URL, or ``keyring:NAME``.

    A URL with a password or token in it is never shown again once typed: the field shows the
    masked form (``describe_target``) and becomes read-only, and on saving the URL goes to the
    keyring and the config gets ``keyring:NAME``. "Replace…" lets the person type a new one.
    """

    removed = Signal(object)

    def __init__(self, target: str = "") -> None:
        super().__init__()
        self.value = target  # what the config says while the field is not edited
        self.secret_url = ""  # a typed URL that carries a secret, until saved to the keyring
        self.old_name = ""  # the keyring entry this row used (reused when it is replaced)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("owner-desktop, mailto://owner@example.com, ntfy://topic …")
        self.edit.setToolTip(
            '"owner-desktop" (the owner\'s own Ticketbell), or a channel address: '
            "mailto://, Slack, Teams, Discord, ntfy, a JSON webhook…"
        )
        self.edit.editingFinished.connect(self.absorb)
        self.replace_button = QPushButton("Replace…")
        self.replace_button.clicked.connect(self._replace)
        self.test_button = QPushButton("Send test")
        self.test_button.clicked.connect(self.send_test)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: self.removed.emit(self))
        row.addWidget(self.edit, 1)
        row.addWidget(self.replace_button)
        row.addWidget(self.test_button)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        self.note = _hint("")
        self.note.setVisible(False)
        self.result = _plain_label(error=True)
        self.error = _plain_label(error=True)
        lay.addWidget(self.note)
        lay.addWidget(self.result)
        lay.addWidget(self.error)
        self.sender_ = _Sender()
        self.sender_.done.connect(self._sent)
        if target.startswith(channels.KEYRING_PREFIX):
            self.shown = self._display(target)
            self.edit.setText(self.shown)
            self._update()
        else:  # a URL with a secret in it (from a hand-written file) is masked at once
            self.value = self.shown = ""
            self.edit.setText(target)
            self.absorb()

    def _display(self, target: str) -> str:
        if not target.startswith(channels.KEYRING_PREFIX):
            return target
        name = target[len(channels.KEYRING_PREFIX) :].strip()
        self.old_name = name
        try:
            shown = unquote(channels.describe_target(channels.resolve_target(target)))
        except channels.DeliveryError:
            self._note(f"Kept in the keyring as {name!r}, but the keyring has no such entry.")
            return target
        self._note(f"Kept in the keyring as {name!r} (the settings file only names it).")
        return shown

    def _note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _kept(self) -> bool:
        """Whether the field shows a secret URL (masked) rather than what was typed."""
        return bool(self.secret_url) or self.value.startswith(channels.KEYRING_PREFIX)

    def _update(self) -> None:
        kept = self._kept() and self.edit.text() == self.shown
        self.edit.setReadOnly(kept)
        self.replace_button.setVisible(kept)
        self.test_button.setEnabled(bool(self.edit.text().strip()))
        if self.value == channels.OWNER_DESKTOP and not self.secret_url:
            self.test_button.setEnabled(False)
            self.test_button.setToolTip("The owner's own Ticketbell shows these itself.")
        else:
            self.test_button.setToolTip("Send a short test message there now.")

    def _replace(self) -> None:
        self.secret_url, self.value, self.shown = "", "", ""
        self.edit.clear()
        self.edit.setPlaceholderText("Type the whole address again, with its password or token")
        self._note("")
        self._update()
        self.edit.setFocus()

    def absorb(self) -> None:
        """Take what was typed: a URL carrying a secret is masked and kept for the keyring."""
        text = self.edit.text().strip()
        if text == self.shown:
            self._update()
            return
        _show(self.result, "")
        if channels.carries_secret(text):
            self.secret_url, self.value = text, ""
            self.shown = unquote(channels.describe_target(text))
            self.edit.setText(self.shown)
            self._note(
                "The password or token in it will be kept in the keyring when you save, "
                "not in the settings file."
            )
        else:
            self.secret_url, self.value, self.shown = "", text, text
            self._note("")
        self._update()

    def target(self) -> str:
        """What a test message is sent to (a typed secret URL before it is saved)."""
        self.absorb()
        return self.secret_url or self.value

    def is_empty(self) -> bool:
        return not self.target()

    def config_value(self, place: str, taken: set[str]) -> tuple[str, tuple[str, str] | None]:
        """The config's value for this target and, for a typed secret URL, (keyring name, URL)
        to store on saving. ``taken`` holds the keyring names used elsewhere; it is updated."""
        self.absorb()
        if not self.secret_url:
            return self.value, None
        name = self.old_name
        if not name or name.casefold() in {t.casefold() for t in taken}:
            name = channels.keyring_name(self.secret_url, place, taken)
        taken.add(name)
        return channels.KEYRING_PREFIX + name, (name, self.secret_url)

    def stored(self, value: str) -> None:
        """The row's secret was saved to the keyring as ``value`` (``keyring:NAME``)."""
        self.value, self.secret_url = value, ""
        self.old_name = value[len(channels.KEYRING_PREFIX) :]
        self._note(f"Kept in the keyring as {self.old_name!r} (the settings file only names it).")
        self._update()

    def send_test(self) -> None:
        target = self.target()
        if not target:
            return
        self.test_button.setEnabled(False)
        _show(self.result, "Sending a test message…", ok=True)
        self.result.setStyleSheet("")
        self.sender_.run(target)

    def _sent(self, error: object) -> None:
        self._update()
        if error is None:
            _show(self.result, "Test message sent. Check that it arrived.", ok=True)
        else:
            _show(self.result, f"Not sent: {error}", ok=False)


class TargetList(QWidget):
    """A list of targets with "Add a place"."""

    def __init__(self, targets: list[str], add_text: str = "Add a place to tell") -> None:
        super().__init__()
        self.rows: list[TargetRow] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.rows_box = QVBoxLayout()
        lay.addLayout(self.rows_box)
        bottom = QHBoxLayout()
        self.add_button = QPushButton(add_text)
        self.add_button.clicked.connect(lambda: self.add("").edit.setFocus())
        bottom.addWidget(self.add_button)
        bottom.addStretch(1)
        lay.addLayout(bottom)
        self.error = _plain_label(error=True)
        lay.addWidget(self.error)
        for target in targets:
            self.add(target)

    def add(self, target: str) -> TargetRow:
        row = TargetRow(target)
        row.removed.connect(self._remove)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        _retab(self)
        return row

    def _remove(self, row: TargetRow) -> None:
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()

    def clear_errors(self) -> None:
        _show(self.error, "")
        for row in self.rows:
            _show(row.error, "")


class LevelBox(QGroupBox):
    """One escalation level: how long after the breach, and whom it tells."""

    removed = Signal(object)

    def __init__(self, level: dict[str, Any]) -> None:
        super().__init__()
        form = QFormLayout(self)
        self.after = QLineEdit(str(level.get("after", "")))
        self.after.setPlaceholderText("e.g. 0m (at once), 30m, 2h")
        box, self.after_error = _with_error(self.after)
        form.addRow("When overdue by", box)
        self.targets = TargetList([str(t) for t in level.get("notify", [])])
        form.addRow("Tell", self.targets)
        self.remove_button = QPushButton("Remove this level")
        self.remove_button.clicked.connect(lambda: self.removed.emit(self))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.remove_button)
        form.addRow(row)

    def set_number(self, n: int) -> None:
        self.setTitle(f"Level {n}")


class EscalationPage(QWidget):
    """Levels (after + targets), repeats, who sends, the daily digest; with "Send test"."""

    def __init__(self, esc: dict[str, Any]) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        intro = _hint(
            "When a ticket waits past its response window, Ticketbell tells the owner: on "
            "their own Ticketbell (owner-desktop), by email (mailto://…) or in a chat channel. "
            "Use Send test to check each one."
        )
        outer.addWidget(intro)
        self.levels: list[LevelBox] = []
        self.levels_box = QVBoxLayout()
        outer.addLayout(self.levels_box)
        self.levels_error = _plain_label(error=True)
        outer.addWidget(self.levels_error)
        add = QPushButton("Add a level")
        add.clicked.connect(lambda: self.add_level({"after": "", "notify": []}))
        row = QHBoxLayout()
        row.addWidget(add)
        row.addStretch(1)
        outer.addLayout(row)

        form = QFormLayout()
        outer.addLayout(form)
        self.repeat = QLineEdit(str(esc.get("repeat_every", "")))
        self.repeat.setPlaceholderText("e.g. 1h (empty: tell once per level)")
        box, self.repeat_error = _with_error(self.repeat)
        form.addRow("Repeat the last level every", box)
        self.sent_by = QComboBox()
        self.sent_by.addItem("The owner's Ticketbell (recommended)", "owner")
        self.sent_by.addItem("Every assistant's Ticketbell", "assistant")
        self.sent_by.setCurrentIndex(max(0, self.sent_by.findData(esc.get("sent_by", "owner"))))
        box, self.sent_by_error = _with_error(
            self.sent_by,
            "Only that Ticketbell sends emails and chat messages, so the owner "
            "does not get one from every computer.",
        )
        form.addRow("Who sends", box)
        digest = QGroupBox("Daily digest")
        dform = QFormLayout(digest)
        self.digest_at = QLineEdit(str(esc.get("digest_at", "")))
        self.digest_at.setPlaceholderText("e.g. 18:00 (empty: no digest)")
        box, self.digest_at_error = _with_error(self.digest_at)
        dform.addRow("Send at", box)
        self.digest_to = TargetList([str(t) for t in esc.get("digest_to", [])])
        dform.addRow("Send to", self.digest_to)
        dform.addRow("", _hint("Nobody listed: every email and chat channel of the levels."))
        outer.addWidget(digest)
        outer.addStretch(1)
        for level in esc.get("levels", []):
            if isinstance(level, dict):
                self.add_level(level)
        self.collected: list[tuple[TargetRow, str, tuple[str, str] | None]] = []
        self.index: dict[str, QLabel] = {}

    def add_level(self, level: dict[str, Any]) -> LevelBox:
        box = LevelBox(level)
        box.removed.connect(self._remove_level)
        self.levels.append(box)
        self.levels_box.addWidget(box)
        self._renumber()
        _retab(self)
        return box

    def _remove_level(self, box: LevelBox) -> None:
        self.levels.remove(box)
        box.setParent(None)
        box.deleteLater()
        self._renumber()

    def _renumber(self) -> None:
        for n, box in enumerate(self.levels, 1):
            box.set_number(n)

    def collect(self, esc: dict[str, Any], taken: set[str]) -> dict[str, Any]:
        """Write the page into ``esc`` (a copy of the config's [escalation] table). Typed secret
        URLs become ``keyring:NAME``; :attr:`collected` keeps what to store on saving."""
        rows = [r for b in self.levels for r in b.targets.rows] + self.digest_to.rows
        taken |= {
            r.value[len(channels.KEYRING_PREFIX) :]
            for r in rows
            if r.value.startswith(channels.KEYRING_PREFIX) and not r.secret_url
        }
        self.collected = []
        self.index = {"escalation.levels": self.levels_error}
        levels = []
        for i, box in enumerate(self.levels):
            key = f"escalation.levels[{i}]"
            self.index[key] = box.targets.error
            self.index[f"{key}.after"] = box.after_error
            self.index[f"{key}.notify"] = box.targets.error
            notify = []
            for row in (r for r in box.targets.rows if not r.is_empty()):
                value, secret = row.config_value(f"level{i + 1}", taken)
                self.index[f"{key}.notify[{len(notify)}]"] = row.error
                self.collected.append((row, value, secret))
                notify.append(value)
            level: dict[str, Any] = {"after": box.after.text().strip() or "0m", "notify": notify}
            levels.append(level)
        digest_to = []
        for row in (r for r in self.digest_to.rows if not r.is_empty()):
            value, secret = row.config_value("digest", taken)
            self.index[f"escalation.digest_to[{len(digest_to)}]"] = row.error
            self.collected.append((row, value, secret))
            digest_to.append(value)
        self.index["escalation.digest_to"] = self.digest_to.error
        self.index["escalation.repeat_every"] = self.repeat_error
        self.index["escalation.sent_by"] = self.sent_by_error
        self.index["escalation.digest_at"] = self.digest_at_error
        esc["levels"] = levels
        for key, text in (
            ("repeat_every", self.repeat.text()),
            ("digest_at", self.digest_at.text()),
        ):
            if text.strip():
                esc[key] = text.strip()
            else:
                esc.pop(key, None)
        if digest_to:
            esc["digest_to"] = digest_to
        else:
            esc.pop("digest_to", None)
        esc["sent_by"] = self.sent_by.currentData()
        return esc

    def store_secrets(self) -> None:
        """Put the typed secret URLs in the keyring (after validation, before writing)."""
        for _row, _value, secret in self.collected:
            if secret is not None:
                secret_store.set(*secret)
        for row, value, secret in self.collected:
            if secret is not None:
                row.stored(value)

    def show_error(self, key: str, message: str) -> bool:
        label = self.index.get(key)
        if label is None:
            return False
        _show(label, message)
        return True

    def clear_errors(self) -> None:
        for label in (
            self.levels_error,
            self.repeat_error,
            self.sent_by_error,
            self.digest_at_error,
        ):
            _show(label, "")
        for box in self.levels:
            _show(box.after_error, "")
            box.targets.clear_errors()
        self.digest_to.clear_errors()


# --------------------------------------------------------------------------- response times


class RuleRow(QWidget):
    """One response-window rule: which tickets (helpdesk, category, priority) and the window."""

    removed = Signal(object)

    def __init__(self, rule: dict[str, Any]) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.source = QLineEdit(str(rule.get("source", "")))
        self.source.setPlaceholderText("any helpdesk")
        self.category = QLineEdit(str(rule.get("category", "")))
        self.category.setPlaceholderText("any category")
        self.priority = QComboBox()
        for p in PRIORITIES:
            self.priority.addItem(p or "any priority", p)
        self.priority.setCurrentIndex(max(0, self.priority.findData(rule.get("priority", ""))))
        self.window = QLineEdit(str(rule.get("window", "")))
        self.window.setPlaceholderText("e.g. 30m")
        self.window.setMaximumWidth(90)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: self.removed.emit(self))
        for widget, label in (
            (self.source, "Helpdesk"),
            (self.category, "Category"),
            (self.priority, "Priority"),
        ):
            widget.setAccessibleName(label)
            row.addWidget(widget, 1)
        row.addWidget(QLabel("reply within"))
        row.addWidget(self.window)
        row.addWidget(remove)
        lay.addLayout(row)
        self.error = _plain_label(error=True)
        lay.addWidget(self.error)

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {}
        for key, text in (
            ("source", self.source.text()),
            ("category", self.category.text()),
            ("priority", self.priority.currentData()),
            ("window", self.window.text()),
        ):
            if text and text.strip():
                rule[key] = text.strip()
        return rule


def _days_text(days: list[int]) -> str:
    """Ticked weekdays (0 = Monday) as the config writes them: "Mon-Fri", "Mon,Wed,Fri"."""
    names = [WEEKDAYS[d].title() for d in range(7)]
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = [
        f"{names[r[0]]}-{names[r[-1]]}" if len(r) > 2 else ",".join(names[d] for d in r)
        for r in runs
    ]
    return ",".join(parts)


class ResponsePage(QWidget):
    """Response windows (default and rules) and business hours."""

    def __init__(self, windows: dict[str, Any], hours: dict[str, Any]) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        form = QFormLayout()
        outer.addLayout(form)
        self.window_default = QLineEdit(str(windows.get("default", "")))
        self.window_default.setPlaceholderText("e.g. 2h (empty: 2 hours)")
        box, self.default_error = _with_error(self.window_default)
        form.addRow("Reply within", box)
        self.use_due = QCheckBox("Use the helpdesk's own due time when a ticket has one")
        self.use_due.setChecked(bool(windows.get("use_helpdesk_due", True)))
        form.addRow("", self.use_due)

        rules_box = QGroupBox("Other times for some tickets (the most specific rule wins)")
        rules_lay = QVBoxLayout(rules_box)
        self.rules: list[RuleRow] = []
        self.rules_lay = QVBoxLayout()
        rules_lay.addLayout(self.rules_lay)
        self.rules_error = _plain_label(error=True)
        rules_lay.addWidget(self.rules_error)
        add = QPushButton("Add a rule")
        add.clicked.connect(lambda: self.add_rule({}).category.setFocus())
        row = QHBoxLayout()
        row.addWidget(add)
        row.addStretch(1)
        rules_lay.addLayout(row)
        outer.addWidget(rules_box)
        for rule in windows.get("rules", []):
            if isinstance(rule, dict):
                self.add_rule(rule)

        self.hours_box = QGroupBox("Count only business hours (the clock stops outside them)")
        self.hours_box.setCheckable(True)
        self.hours_box.setChecked(bool(hours))
        hform = QFormLayout(self.hours_box)
        self.bh_zone = QComboBox()
        self.bh_zone.setEditable(True)
        self.bh_zone.addItems(sorted(zoneinfo.available_timezones()))
        self.bh_zone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        completer = self.bh_zone.completer()
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        zone = str(hours.get("timezone", "")) or QTimeZone.systemTimeZoneId().data().decode()
        self.bh_zone.setCurrentText(zone)
        box, self.zone_error = _with_error(self.bh_zone)
        hform.addRow("Time zone", box)
        days_row = QHBoxLayout()
        self.bh_days: list[QCheckBox] = []
        ticked = self._parse_days(str(hours.get("days", "Mon-Fri")))
        for d, name in enumerate(WEEKDAYS):
            check = QCheckBox(name.title())
            check.setChecked(d in ticked)
            self.bh_days.append(check)
            days_row.addWidget(check)
        days_row.addStretch(1)
        box, self.days_error = _with_error(days_row)
        if ticked is None:
            _show(self.days_error, f"{hours.get('days')!r} could not be read; tick the days")
        hform.addRow("Days", box)
        hours_row = QHBoxLayout()
        self.bh_start = QTimeEdit()
        self.bh_end = QTimeEdit()
        for edit in (self.bh_start, self.bh_end):
            edit.setDisplayFormat("HH:mm")
        start, end = self._parse_hours(str(hours.get("hours", "09:00-17:00")))
        self.bh_start.setTime(start)
        self.bh_end.setTime(end)
        self.bh_start.setAccessibleName("Opens at")
        self.bh_end.setAccessibleName("Closes at")
        hours_row.addWidget(QLabel("from"))
        hours_row.addWidget(self.bh_start)
        hours_row.addWidget(QLabel("to"))
        hours_row.addWidget(self.bh_end)
        hours_row.addStretch(1)
        box, self.hours_error = _with_error(hours_row, "To 00:00 means until midnight.")
        hform.addRow("Hours", box)
        self.bh_holidays = QLineEdit(str(hours.get("holidays", "")))
        self.bh_holidays.setPlaceholderText("country code, e.g. GB, US-CA, DE-BY (empty: none)")
        import holidays

        codes = sorted(c for c in holidays.list_supported_countries() if len(c) == 2)
        self.bh_holidays.setCompleter(QCompleter(codes, self.bh_holidays))
        box, self.holidays_error = _with_error(self.bh_holidays)
        hform.addRow("Public holidays of", box)
        outer.addWidget(self.hours_box)
        outer.addStretch(1)
        self.index: dict[str, QLabel] = {}

    @staticmethod
    def _parse_days(text: str) -> set[int] | None:
        try:
            return set(config_module.parse_days(text))
        except ValueError:
            return None

    @staticmethod
    def _parse_hours(text: str) -> tuple[QTime, QTime]:
        try:
            start, end = config_module.parse_time_range(text)
        except ValueError:
            return QTime(9, 0), QTime(17, 0)
        ends = QTime(0, 0) if end == time.max else QTime(end.hour, end.minute)
        return QTime(start.hour, start.minute), ends

    def add_rule(self, rule: dict[str, Any]) -> RuleRow:
        row = RuleRow(rule)
        row.removed.connect(self._remove_rule)
        self.rules.append(row)
        self.rules_lay.addWidget(row)
        _retab(self)
        return row

    def _remove_rule(self, row: RuleRow) -> None:
        self.rules.remove(row)
        row.setParent(None)
        row.deleteLater()

    def collect(self, data: dict[str, Any]) -> None:
        windows = dict(data.get("windows", {}))
        text = self.window_default.text().strip()
        if text:
            windows["default"] = text
        else:
            windows.pop("default", None)
        if self.use_due.isChecked():
            windows.pop("use_helpdesk_due", None)
        else:
            windows["use_helpdesk_due"] = False
        self.index = {
            "windows.default": self.default_error,
            "windows.rules": self.rules_error,
            "business_hours.timezone": self.zone_error,
            "business_hours.days": self.days_error,
            "business_hours.hours": self.hours_error,
            "business_hours.holidays": self.holidays_error,
            "business_hours": self.zone_error,
        }
        rules = []
        for row in self.rules:
            rule = row.rule()
            if rule:
                self.index[f"windows.rules[{len(rules)}]"] = row.error
                rules.append(rule)
        if rules:
            windows["rules"] = rules
        else:
            windows.pop("rules", None)
        if windows:
            data["windows"] = windows
        else:
            data.pop("windows", None)
        if not self.hours_box.isChecked():
            data.pop("business_hours", None)
            return
        days = [d for d, check in enumerate(self.bh_days) if check.isChecked()]
        start, end = (t.time().toString("HH:mm") for t in (self.bh_start, self.bh_end))
        hours = {
            "timezone": self.bh_zone.currentText().strip(),
            "days": _days_text(days),
            "hours": f"{start}-{'24:00' if end == '00:00' else end}",
        }
        if self.bh_holidays.text().strip():
            hours["holidays"] = self.bh_holidays.text().strip().upper()
        data["business_hours"] = hours

    def show_error(self, key: str, message: str) -> bool:
        label = self.index.get(key)
        if label is None:
            match = re.match(r"(windows\.rules\[\d+\])\.(\w+)", key)
            if match and match.group(1) in self.index:
                label = self.index[match.group(1)]
                field = {"window": "reply within"}.get(match.group(2), match.group(2))
                message = f"{field}: {message}"
        if label is None:
            return False
        _show(label, message)
        return True

    def clear_errors(self) -> None:
        for label in (
            self.default_error,
            self.rules_error,
            self.zone_error,
            self.days_error,
            self.hours_error,
            self.holidays_error,
        ):
            _show(label, "")
        for row in self.rules:
            _show(row.error, "")


# --------------------------------------------------------------------------- the window


def _error_key(exc: ConfigError) -> tuple[int | None, str]:
    """(source index or None, the key inside it): where to show a ConfigError."""
    match = re.match(r"sources\[(\d+)\]\.?([\w]*)", exc.key)
    if match:
        return int(match.group(1)), match.group(2) or "name"
    return None, exc.key


def _scrolling(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class SettingsDialog(QDialog):
    """Helpdesks, response times, alerts, escalation, general; import/export."""

    saved = Signal(object)  # the validated Config
    test_sound = Signal()

    def __init__(
        self,
        path: Path,
        config: Config | None,
        *,
        error: ConfigError | None = None,
        sound_problem: str = "",
        demo: bool = False,
        raw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Ticketbell settings")
        self.path = path
        if raw is None:
            raw = config.raw if config is not None else _read_raw(path)
        self.data: dict[str, Any] = copy.deepcopy(raw)
        self.demo = demo
        layout = QVBoxLayout(self)
        self.banner = _plain_label(error=True)
        layout.addWidget(self.banner)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)
        self.errors: dict[str, QLabel] = {}
        self.fields: dict[str, QWidget] = {}
        self.pages: dict[str, QWidget] = {}

        # helpdesks
        page = QWidget()
        lay = QHBoxLayout(page)
        left = QVBoxLayout()
        self.source_list = QListWidget()
        self.source_list.setMaximumWidth(180)
        left.addWidget(self.source_list)
        add = QPushButton("Add a helpdesk")
        remove = QPushButton("Remove")
        left.addWidget(add)
        left.addWidget(remove)
        lay.addLayout(left)
        self.sources: list[dict[str, Any]] = [dict(s) for s in self.data.get("sources", [])]
        self.source_form = SourceForm(self.sources[0] if self.sources else None)
        lay.addWidget(self.source_form, 1)
        self.current = 0 if self.sources else -1
        for s in self.sources:
            self.source_list.addItem(str(s.get("name", "?")))
        self.source_list.setCurrentRow(self.current)
        self.source_list.currentRowChanged.connect(self._select)
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove)
        self._tab(page, "Helpdesks", scroll=False)

        # response times
        self.response = ResponsePage(
            dict(self.data.get("windows", {})), dict(self.data.get("business_hours", {}))
        )
        self.window_default = self.response.window_default
        self.bh_zone = self.response.bh_zone
        self._tab(self.response, "Response times")

        # alerts
        alerts_page = QWidget()
        form = QFormLayout(alerts_page)
        alerts = self.data.get("alerts", {})
        self.sound = QLineEdit(str(alerts.get("sound", "chime")))
        browse = QPushButton("Choose a .wav file…")
        browse.clicked.connect(self._choose_sound)
        sound_row = QHBoxLayout()
        sound_row.addWidget(self.sound, 1)
        sound_row.addWidget(browse)
        self._field(
            form,
            "alerts.sound",
            "Sound",
            self.sound,
            sound_row,
            hint='"chime" (built in), "off", or a .wav file of your own',
        )
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(round(float(alerts.get("volume", 0.8)) * 100))
        self._field(form, "alerts.volume", "Volume", self.volume)
        test = QPushButton("Play the sound")
        test.clicked.connect(self.test_sound.emit)
        test_row = QHBoxLayout()
        test_row.addWidget(test)
        test_row.addStretch(1)
        form.addRow("", test_row)
        self.sound_problem = _plain_label(sound_problem, error=True)
        form.addRow("", self.sound_problem)
        self.quiet = QLineEdit(str(alerts.get("quiet_hours", "")))
        self.quiet.setPlaceholderText("e.g. 22:00-07:00 (empty: never quiet)")
        self._field(
            form,
            "alerts.quiet_hours",
            "Quiet hours",
            self.quiet,
            hint="No sound then; the badge and escalations go on.",
        )
        self.remind = QLineEdit(str(alerts.get("remind_every", "")))
        self.remind.setPlaceholderText('e.g. 15m ("off": no reminders)')
        self._field(
            form,
            "alerts.remind_every",
            "Remind every",
            self.remind,
            hint="A reminder chime while tickets are still waiting.",
        )
        self._tab(alerts_page, "Alerts")

        # escalation
        self.escalation = EscalationPage(dict(self.data.get("escalation", {})))
        self._tab(self.escalation, "Escalation")

        # general
        general = QWidget()
        form = QFormLayout(general)
        self.role = QComboBox()
        self.role.addItem("Assistant: my categories, checked every 2 minutes", "assistant")
        self.role.addItem("Owner: every category, checked every 15 minutes", "owner")
        self.role.setCurrentIndex(max(0, self.role.findData(self.data.get("role", "assistant"))))
        self._field(form, "role", "I am the", self.role)
        self.autostart = QCheckBox("Start Ticketbell when I log in")
        self.autostart.setChecked(autostart.enabled())
        form.addRow("", self.autostart)
        self._tab(general, "General")

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        imp = buttons.addButton("Import…", QDialogButtonBox.ButtonRole.ActionRole)
        exp = buttons.addButton("Export…", QDialogButtonBox.ButtonRole.ActionRole)
        imp.setToolTip("Read a provisioning file your team owner gave you")
        exp.setToolTip("Write these settings, without any token or password, for your team")
        imp.clicked.connect(self._import)
        exp.clicked.connect(self._export)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(760, 620)
        _retab(self)
        if error is not None:
            self.show_error(error)
            # Opened because the file could not be used at start: nothing was being saved yet.
            _show(self.banner, f"Ticketbell cannot start with this configuration. {error}")

    def _tab(self, page: QWidget, title: str, scroll: bool = True) -> None:
        self.pages[title] = page
        self.tabs.addTab(_scrolling(page) if scroll else page, title)

    def _field(
        self,
        form: QFormLayout,
        key: str,
        label: str,
        widget: QWidget,
        layout: QHBoxLayout | None = None,
        hint: str = "",
    ) -> None:
        box, error = _with_error(layout or widget, hint)
        self.errors[key] = error
        self.fields[key] = widget
        form.addRow(label, box)

    def _choose_sound(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Choose a sound", "", "Sounds (*.wav)")
        if name:
            self.sound.setText(name)

    # -- sources list

    def _store_current(self) -> None:
        if 0 <= self.current < len(self.sources):
            self.sources[self.current] = self.source_form.table()
            self.source_list.item(self.current).setText(self.sources[self.current]["name"])

    def _select(self, row: int) -> None:
        self._store_current()
        self.current = row
        if 0 <= row < len(self.sources):
            self.source_form.load(self.sources[row])

    def _add(self) -> None:
        self._store_current()
        self.sources.append({"kind": DEMO, "name": f"Helpdesk {len(self.sources) + 1}"})
        self.source_list.addItem(self.sources[-1]["name"])
        self.current = -1
        self.source_list.setCurrentRow(len(self.sources) - 1)

    def _remove(self) -> None:
        if 0 <= self.current < len(self.sources):
            del self.sources[self.current]
            self.source_list.takeItem(self.current)
            self.current = self.source_list.currentRow()
            if self.current >= 0:
                self.source_form.load(self.sources[self.current])

    # -- saving

    def collect(self) -> dict[str, Any]:
        self._store_current()
        data = copy.deepcopy(self.data)
        data["sources"] = self.sources
        data["role"] = self.role.currentData()
        self.response.collect(data)
        _set(data, "alerts", "sound", self.sound.text())
        _set(data, "alerts", "quiet_hours", self.quiet.text())
        _set(data, "alerts", "remind_every", self.remind.text())
        data.setdefault("alerts", {})["volume"] = self.volume.value() / 100
        taken = {str(s.get("name", "")) for s in self.sources}
        esc = self.escalation.collect(dict(data.get("escalation", {})), taken)
        if esc.get("levels") or esc.get("digest_at") or esc.get("digest_to"):
            data["escalation"] = esc
        else:
            data.pop("escalation", None)
        return {k: v for k, v in data.items() if v not in ({}, None)}

    def save(self) -> Config | None:
        for label in self.errors.values():
            _show(label, "")
        self.source_form.clear_errors()
        self.response.clear_errors()
        self.escalation.clear_errors()
        _show(self.banner, "")
        data = self.collect()
        try:
            config = config_module.from_dict(data, self.path)
            self.source_form.store_token()
            self.escalation.store_secrets()
            if not self.demo:
                config = config_module.save(data, self.path)
            if self.autostart.isChecked() != autostart.enabled():
                set_start_at_login(self.autostart.isChecked())
        except ConfigError as exc:
            self.show_error(exc)
            return None
        except (OSError, secret_store.SecretUnavailable) as exc:
            _show(self.banner, f"Not saved: {exc}")
            return None
        self.data = copy.deepcopy(data)
        self.saved.emit(config)
        self.accept()
        return config

    def show_error(self, exc: ConfigError) -> None:
        index, key = _error_key(exc)
        shown = False
        page = ""
        if index is not None and index < len(self.sources):
            self.source_list.setCurrentRow(index)
            shown = self.source_form.show_error(key, exc.message)
            page = "Helpdesks"
        elif key.startswith("escalation"):
            if not self.escalation.index:
                self.escalation.collect(dict(self.data.get("escalation", {})), set())
            shown = self.escalation.show_error(key, exc.message) or self.escalation.show_error(
                re.sub(r"\.\w+$", "", key), exc.message
            )
            page = "Escalation"
        elif key.startswith(("windows", "business_hours")):
            if not self.response.index:
                self.response.collect(copy.deepcopy(self.data))
            shown = self.response.show_error(key, exc.message)
            page = "Response times"
        elif key in self.errors:
            _show(self.errors[key], exc.message)
            shown = True
        else:
            prefix = next((k for k in self.errors if key.startswith(k)), None)
            if prefix:
                _show(self.errors[prefix], f"{key}: {exc.message}")
                shown = True
        if shown and not page:
            page = next(
                (t for t, p in self.pages.items() if p.isAncestorOf(self.errors[key]))
                if key in self.errors
                else iter(()),
                "",
            )
        if page:
            widget = self.pages[page]
            for i in range(self.tabs.count()):
                tab = self.tabs.widget(i)
                if tab is widget or tab.isAncestorOf(widget):
                    self.tabs.setCurrentIndex(i)
        _show(
            self.banner,
            f"Not saved: please fix the field marked in red on the {page or 'this'} page."
            if shown
            else f"Not saved: {exc}",
        )

    # -- provisioning

    def _import(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import a provisioning file", "", "*.toml")
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        try:
            config = config_module.read_provisioning(path)
        except ConfigError as exc:
            _show(self.banner, str(exc))
            return False
        if not accept_risky(self, path, config):
            return False
        self.data = copy.deepcopy(config.raw)
        self.sources = [dict(s) for s in self.data.get("sources", [])]
        self.current = -1  # before clear(): its row change would store the old form over them
        self.source_list.clear()
        for s in self.sources:
            self.source_list.addItem(str(s.get("name", "?")))
        self.source_list.setCurrentRow(0 if self.sources else -1)
        return True

    def _export(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Export a provisioning file", "ticketbell-provisioning.toml", "*.toml"
        )
        if name:
            self.export_file(Path(name))

    def export_file(self, path: Path) -> bool:
        try:
            config = config_module.from_dict(self.collect(), None)
            path.write_text(config_module.export_provisioning(config), encoding="utf-8")
        except (ConfigError, OSError) as exc:
            _show(self.banner, f"Not exported: {exc}")
            return False
        return True


def _set(data: dict[str, Any], table: str, key: str, text: str) -> None:
    section = data.setdefault(table, {})
    if text.strip():
        section[key] = text.strip()
    else:
        section.pop(key, None)
    if not section:
        data.pop(table)


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        return config_module.read_toml(path)
    except ConfigError:
        return {}


# --------------------------------------------------------------------------- first run


class _ConnectPage(QWizardPage):
    """URL and token. "Next" runs the live test first; on success the wizard moves on by
    itself, on failure the person fixes it or ticks "continue anyway"."""

    def __init__(self, form: SourceForm) -> None:
        super().__init__()
        self.setTitle("Connect to your helpdesk")
        self.setSubTitle(
            "Fill in the address and your token. Next tests the connection before going on."
        )
        self.form = form
        self.passed: dict[str, Any] | None = None  # the values the last good test used
        self.advance = False
        lay = QVBoxLayout(self)
        lay.addWidget(form)
        self.anyway = QCheckBox("Continue anyway (fix the connection later in Settings)")
        self.anyway.setVisible(False)
        lay.addWidget(self.anyway)
        lay.addStretch(1)
        form.tester.done.connect(self._tested)

    def _values(self) -> dict[str, Any]:
        return {"table": self.form.table(), "token": self.form.token.text()}

    def initializePage(self) -> None:
        self.passed = None
        self.anyway.setChecked(False)
        self.anyway.setVisible(False)

    def validatePage(self) -> bool:
        if self.passed == self._values() or (self.anyway.isVisible() and self.anyway.isChecked()):
            return True
        if self.form.test_button.isEnabled():
            self.advance = True
            self.form.test()
        return False

    def _tested(self, ok: bool, message: str, categories: object) -> None:
        advance, self.advance = self.advance, False
        if ok:
            self.passed = self._values()
            self.anyway.setVisible(False)
            if advance and self.wizard() is not None and self.isVisible():
                self.wizard().next()
        else:
            self.passed = None
            self.anyway.setVisible(True)


class FirstRunWizard(QWizard):
    """Pick a helpdesk or the demo (or import a provisioning file), connect, categories, done."""

    finished_with = Signal(object)  # the saved Config, or None when cancelled

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.setWindowTitle("Welcome to Ticketbell")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.config: Config | None = None
        self.imported: Config | None = None

        start = QWizardPage()
        start.setTitle("Welcome to Ticketbell")
        start.setSubTitle("Ticketbell sits in your system tray and rings when a customer waits.")
        lay = QVBoxLayout(start)
        self.demo_button = QPushButton("Try the demo now (no account needed)")
        self.demo_button.clicked.connect(self.try_demo)
        lay.addWidget(self.demo_button)
        lay.addSpacing(12)
        lay.addWidget(QLabel("Or connect to the helpdesk you answer:"))
        self.kind = QComboBox()
        self.kind.addItem("The demo helpdesk (no account needed)", DEMO)
        for kind in KINDS:
            if kind != DEMO:
                self.kind.addItem(f"{kind} — {source_class(kind).description}", kind)
        lay.addWidget(self.kind)
        lay.addSpacing(12)
        lay.addWidget(QLabel("Did your team owner give you a settings file?"))
        imp = QPushButton("Import a provisioning file…")
        imp.clicked.connect(self._pick_file)
        row = QHBoxLayout()
        row.addWidget(imp)
        row.addStretch(1)
        lay.addLayout(row)
        self.import_note = _plain_label()
        lay.addWidget(self.import_note)
        lay.addStretch(1)
        self.addPage(start)

        self.form = SourceForm(with_categories=False)
        self.connect_page = _ConnectPage(self.form)
        self.addPage(self.connect_page)

        cats = QWizardPage()
        cats.setTitle("Your categories")
        cats.setSubTitle("Tick the categories you answer. None ticked: all of them.")
        lay = QVBoxLayout(cats)
        self.no_categories = _hint(
            "Ticketbell could not list this helpdesk's categories yet, so it will show you "
            "every waiting ticket. You can choose categories later in Settings."
        )
        lay.addWidget(self.no_categories)
        lay.addWidget(self.form.categories)
        self.addPage(cats)

        done = QWizardPage()
        done.setTitle("Done")
        lay = QVBoxLayout(done)
        self.result = _plain_label()
        lay.addWidget(self.result)
        lay.addStretch(1)
        self.addPage(done)
        self.resize(640, 560)
        self.currentIdChanged.connect(self._page_changed)
        self.finished.connect(self._finished)

    def try_demo(self) -> None:
        """One click: save the demo configuration and finish."""
        self.imported = None
        self.kind.setCurrentIndex(0)
        self.form.load({"kind": DEMO})
        message = self._save()
        if self.config is None:
            self.import_note.setText(message)
            return
        self.accept()

    def _pick_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Provisioning file", "", "*.toml")
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        try:
            imported = config_module.read_provisioning(path)
        except ConfigError as exc:
            self.import_note.setText(str(exc))
            return False
        if not accept_risky(self, path, imported):
            return False
        self.imported = imported
        self.form.load(dict(self.imported.raw.get("sources", [{}])[0]))
        self.import_note.setText(f"Imported {path.name}: add your token on the next page.")
        return True

    def _page_changed(self, page: int) -> None:
        kind = self.kind.currentData()
        if page == 1 and self.imported is None and self.form.kind.currentData() != kind:
            self.form.load({"kind": kind})
        if page == 2:
            self.no_categories.setVisible(self.form.categories.count() == 0)
        if page == 3:
            self.result.setText(self._save())

    def _save(self) -> str:
        base = copy.deepcopy(self.imported.raw) if self.imported else {}
        if not base and self.kind.currentData() == DEMO:
            base = copy.deepcopy(config_module.DEMO_CONFIG)
        sources = base.get("sources") or [{}]
        sources[0] = self.form.table()
        base["sources"] = sources
        try:
            self.form.store_token()
            self.config = config_module.save(base, self.path)
        except ConfigError as exc:
            self.config = None
            _, key = _error_key(exc)
            self.form.show_error(key, exc.message)
            return f"Not saved yet. Go Back and fix: {exc.message}"
        except (OSError, secret_store.SecretUnavailable) as exc:
            self.config = None
            return f"Not saved: {exc}"
        return (
            "All set. Ticketbell now sits in your system tray: the number on its icon is how "
            "many customers wait for a reply. Click it to see them.\n\n"
            f"Your settings are saved in {self.path}."
        )

    def _finished(self, result: int) -> None:
        ok = result == QDialog.DialogCode.Accepted and self.config is not None
        self.finished_with.emit(self.config if ok else None)
