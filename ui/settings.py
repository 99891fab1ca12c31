"""The settings window and the first-run wizard.

Both edit the TOML document (a dict) and validate it with the agent's own ``config.save``: a
:class:`~agent.config.ConfigError` is shown next to the field its key names. A source's fields
are generated from its kind's ``required``/``optional`` options; its token goes to the keyring
(``agent.secrets.set``), never to the file. "Test connection" runs one ``fetch`` on a Python
thread and reports back by signal.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from agent import autostart
from agent import config as config_module
from agent import secrets as secret_store
from agent.config import Config, ConfigError
from agent.sources import KINDS, source_class
from agent.sources.base import Option, SourceError

log = logging.getLogger(__name__)

DEMO = "demo"


def set_start_at_login(on: bool) -> None:
    """Start at login on or off. The OS-specific part lives in ``agent.autostart`` (XDG
    autostart file on Linux, HKCU Run on Windows, a LaunchAgent on macOS)."""
    autostart.set_enabled(on)


def _plain_label(text: str = "", error: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if error:
        label.setStyleSheet("color: #d1242f")
        label.setVisible(bool(text))
    return label


class _Tester(QObject):
    """Runs one fetch (and list_categories) off the main thread; reports by signal."""

    done = Signal(str, object)  # message for a person, categories or None

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
                    self.done.emit(f"enter the {cls.secret_label.lower()} first", None)
                    return
            source = cls(cfg, secret)
            try:
                snapshot = source.fetch(None)
                categories = source.list_categories()
            finally:
                source.close()
        except ConfigError as exc:
            self.done.emit(f"cannot test yet: {exc.key}: {exc.message}", None)
        except SourceError as exc:
            self.done.emit(f"failed: {exc}", None)
        except Exception as exc:
            log.exception("connection test failed")
            self.done.emit(f"failed: {exc.__class__.__name__}", None)
        else:
            n = len(snapshot.tickets)
            self.done.emit(f"connected: {n} ticket{'s' if n != 1 else ''} waiting", categories)


class SourceForm(QWidget):
    """One source: kind, name, the kind's own fields, token, categories, test."""

    def __init__(self, table: dict[str, Any] | None = None, kinds: list[str] | None = None):
        super().__init__()
        self.layout_ = QVBoxLayout(self)
        self.form = QFormLayout()
        self.layout_.addLayout(self.form)
        self.kind = QComboBox()
        for kind in kinds or list(KINDS):
            self.kind.addItem(f"{kind} — {source_class(kind).description}", kind)
        self.name = QLineEdit()
        self.interval = QLineEdit()
        self.interval.setPlaceholderText("e.g. 2m")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.errors: dict[str, QLabel] = {}
        self.fields: dict[str, QWidget] = {}
        self.extra_rows: list[QWidget] = []
        self.categories = QListWidget()
        self.test_button = QPushButton("Test connection")
        self.test_result = _plain_label()
        self.tester = _Tester()
        self.tester.done.connect(self._tested)
        self.test_button.clicked.connect(self.test)
        self._row("kind", "Helpdesk", self.kind)
        self._row("name", "Name", self.name)
        self._row("interval", "Check every", self.interval)
        self.token_row = self._row("token", "Token", self.token)
        self.layout_.addWidget(QLabel("My categories (none ticked: all)"))
        self.layout_.addWidget(self.categories)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_result, 1)
        self.layout_.addLayout(row)
        self.kind.currentIndexChanged.connect(lambda: self._kind_changed({}))
        self.load(table or {"kind": self.kind.currentData()})

    def _row(self, key: str, label: str, widget: QWidget, help_: str = "") -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(widget)
        if help_:
            lay.addWidget(_plain_label(help_))
        error = _plain_label(error=True)
        lay.addWidget(error)
        self.errors[key] = error
        self.fields[key] = widget
        self.form.addRow(label, box)
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
            else:
                widget = QLineEdit()
                if isinstance(value, (list, tuple)):
                    value = ", ".join(str(v) for v in value)
                widget.setText("" if value is None else str(value))
            label = opt.label + ("" if required else " (optional)")
            self.extra_rows.append(self._row(opt.key, label, widget, opt.help))
        self.token_row.setVisible(cls.needs_secret)
        self.form.labelForField(self.token_row).setText(cls.secret_label)
        self.form.labelForField(self.token_row).setVisible(cls.needs_secret)
        self.set_categories(
            [str(c) for c in table.get("categories", [])],
            [str(c) for c in table.get("categories", [])],
        )

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
        label.setText(message)
        label.setVisible(True)
        return True

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.clear()
            label.setVisible(False)

    def test(self) -> None:
        self.test_result.setText("testing…")
        self.test_button.setEnabled(False)
        self.tester.run(self.table(), self.token.text())

    def _tested(self, message: str, categories: object) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(message)
        if isinstance(categories, list):
            self.set_categories([str(c) for c in categories], self.ticked())

    def store_token(self) -> None:
        """Put a typed token in the keyring under the source's name (never in the file)."""
        if self.token.text() and source_class(self.kind.currentData()).needs_secret:
            secret_store.set(self.name.text().strip(), self.token.text())
            self.token.clear()


def _error_key(exc: ConfigError) -> tuple[int | None, str]:
    """(source index or None, the key inside it): where to show a ConfigError."""
    match = re.match(r"sources\[(\d+)\]\.?([\w]*)", exc.key)
    if match:
        return int(match.group(1)), match.group(2) or "name"
    return None, exc.key


class SettingsDialog(QDialog):
    """Sources, role, response window, alerts, escalation, start at login, import/export."""

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
        tabs = QTabWidget()
        layout.addWidget(tabs)
        self.errors: dict[str, QLabel] = {}
        self.fields: dict[str, QWidget] = {}

        # sources
        page = QWidget()
        lay = QHBoxLayout(page)
        left = QVBoxLayout()
        self.source_list = QListWidget()
        left.addWidget(self.source_list)
        add = QPushButton("Add")
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
        tabs.addTab(page, "Helpdesks")

        # general
        general = QWidget()
        form = QFormLayout(general)
        self.role = QComboBox()
        self.role.addItems(config_module.ROLES)
        self.role.setCurrentText(str(self.data.get("role", "assistant")))
        self._field(form, "role", "Role", self.role)
        windows = self.data.get("windows", {})
        self.window_default = QLineEdit(str(windows.get("default", "")))
        self.window_default.setPlaceholderText("2h")
        self._field(form, "windows.default", "Reply within", self.window_default)
        hours = self.data.get("business_hours", {})
        self.bh_zone = QLineEdit(str(hours.get("timezone", "")))
        self.bh_zone.setPlaceholderText("Europe/London (empty: the clock always runs)")
        self.bh_days = QLineEdit(str(hours.get("days", "")))
        self.bh_days.setPlaceholderText("Mon-Fri")
        self.bh_hours = QLineEdit(str(hours.get("hours", "")))
        self.bh_hours.setPlaceholderText("09:00-17:30")
        self._field(form, "business_hours.timezone", "Business hours: time zone", self.bh_zone)
        self._field(form, "business_hours.days", "Business days", self.bh_days)
        self._field(form, "business_hours.hours", "Business hours", self.bh_hours)
        self.autostart = QCheckBox("Start Ticketbell when I log in")
        self.autostart.setChecked(autostart.enabled())
        form.addRow("", self.autostart)
        tabs.addTab(general, "General")

        # alerts
        alerts_page = QWidget()
        form = QFormLayout(alerts_page)
        alerts = self.data.get("alerts", {})
        self.sound = QLineEdit(str(alerts.get("sound", "chime")))
        self._field(form, "alerts.sound", 'Sound ("chime", "off" or a .wav file)', self.sound)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(round(float(alerts.get("volume", 0.8)) * 100))
        self._field(form, "alerts.volume", "Volume", self.volume)
        test = QPushButton("Test sound")
        test.clicked.connect(self.test_sound.emit)
        form.addRow("", test)
        self.sound_problem = _plain_label(sound_problem, error=True)
        form.addRow("", self.sound_problem)
        self.quiet = QLineEdit(str(alerts.get("quiet_hours", "")))
        self.quiet.setPlaceholderText("22:00-07:00")
        self._field(form, "alerts.quiet_hours", "Quiet hours", self.quiet)
        self.remind = QLineEdit(str(alerts.get("remind_every", "")))
        self.remind.setPlaceholderText("15m")
        self._field(form, "alerts.remind_every", "Remind every", self.remind)
        tabs.addTab(alerts_page, "Alerts")

        # escalation
        esc_page = QWidget()
        form = QFormLayout(esc_page)
        levels = self.data.get("escalation", {}).get("levels", [])
        first = levels[0].get("notify", []) if levels else []
        self.targets = QLineEdit(", ".join(first))
        self.targets.setPlaceholderText("owner-desktop, mailto://owner@example.com")
        self._field(form, "escalation.levels", "When overdue, tell", self.targets)
        tabs.addTab(esc_page, "Escalation")

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        imp = buttons.addButton("Import…", QDialogButtonBox.ButtonRole.ActionRole)
        exp = buttons.addButton("Export…", QDialogButtonBox.ButtonRole.ActionRole)
        imp.clicked.connect(self._import)
        exp.clicked.connect(self._export)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if error is not None:
            self.show_error(error)

    def _field(self, form: QFormLayout, key: str, label: str, widget: QWidget) -> None:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(widget)
        error = _plain_label(error=True)
        lay.addWidget(error)
        self.errors[key] = error
        self.fields[key] = widget
        form.addRow(label, box)

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
        data["role"] = self.role.currentText()
        _set(data, "windows", "default", self.window_default.text())
        for key, widget in (
            ("timezone", self.bh_zone),
            ("days", self.bh_days),
            ("hours", self.bh_hours),
        ):
            _set(data, "business_hours", key, widget.text())
        _set(data, "alerts", "sound", self.sound.text())
        _set(data, "alerts", "quiet_hours", self.quiet.text())
        _set(data, "alerts", "remind_every", self.remind.text())
        data.setdefault("alerts", {})["volume"] = self.volume.value() / 100
        targets = [t.strip() for t in self.targets.text().split(",") if t.strip()]
        esc = data.setdefault("escalation", {})
        levels = esc.get("levels", [])
        if targets:
            levels = [
                {**(levels[0] if levels else {"after": "0m"}), "notify": targets},
                *levels[1:],
            ]
        else:
            levels = levels[1:]
        esc["levels"] = levels
        return {k: v for k, v in data.items() if v not in ({}, None)}

    def save(self) -> Config | None:
        for label in self.errors.values():
            label.setVisible(False)
        self.source_form.clear_errors()
        self.banner.setVisible(False)
        data = self.collect()
        try:
            config = config_module.from_dict(data, self.path)
            self.source_form.store_token()
            if not self.demo:
                config = config_module.save(data, self.path)
            if self.autostart.isChecked() != autostart.enabled():
                set_start_at_login(self.autostart.isChecked())
        except ConfigError as exc:
            self.show_error(exc)
            return None
        except (OSError, secret_store.SecretUnavailable) as exc:
            self.banner.setText(f"Not saved: {exc}")
            self.banner.setVisible(True)
            return None
        self.saved.emit(config)
        self.accept()
        return config

    def show_error(self, exc: ConfigError) -> None:
        index, key = _error_key(exc)
        shown = False
        if index is not None and index < len(self.sources):
            self.source_list.setCurrentRow(index)
            shown = self.source_form.show_error(key, exc.message)
        elif key in self.errors:
            self.errors[key].setText(exc.message)
            self.errors[key].setVisible(True)
            shown = True
        else:
            prefix = next((k for k in self.errors if key.startswith(k)), None)
            if prefix:
                self.errors[prefix].setText(f"{key}: {exc.message}")
                self.errors[prefix].setVisible(True)
                shown = True
        self.banner.setText("Please fix the field marked below." if shown else f"Not saved: {exc}")
        self.banner.setVisible(True)

    # -- provisioning

    def _import(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import a provisioning file", "", "*.toml")
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        try:
            config = config_module.read_provisioning(path)
        except ConfigError as exc:
            self.banner.setText(str(exc))
            self.banner.setVisible(True)
            return False
        self.data = copy.deepcopy(config.raw)
        self.sources = [dict(s) for s in self.data.get("sources", [])]
        self.source_list.clear()
        for s in self.sources:
            self.source_list.addItem(str(s.get("name", "?")))
        self.current = -1
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
            self.banner.setText(f"Not exported: {exc}")
            self.banner.setVisible(True)
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
        return config_module._read_toml(path)
    except ConfigError:
        return {}


# --------------------------------------------------------------------------- first run


class FirstRunWizard(QWizard):
    """Pick a helpdesk or the demo (or import a provisioning file), connect, categories, done."""

    finished_with = Signal(object)  # the saved Config, or None when cancelled

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.setWindowTitle("Welcome to Ticketbell")
        self.config: Config | None = None
        self.imported: Config | None = None

        start = QWizardPage()
        start.setTitle("Which helpdesk do you answer?")
        lay = QVBoxLayout(start)
        self.kind = QComboBox()
        self.kind.addItem("Try the demo (no account needed)", DEMO)
        for kind in KINDS:
            if kind != DEMO:
                self.kind.addItem(f"{kind} — {source_class(kind).description}", kind)
        lay.addWidget(self.kind)
        imp = QPushButton("Import a provisioning file from your team…")
        imp.clicked.connect(self._pick_file)
        lay.addWidget(imp)
        self.import_note = _plain_label()
        lay.addWidget(self.import_note)
        self.addPage(start)

        connect = QWizardPage()
        connect.setTitle("Connect")
        connect.setSubTitle("Fill in the address and token, then Test connection.")
        lay = QVBoxLayout(connect)
        self.form = SourceForm()
        lay.addWidget(self.form)
        self.addPage(connect)

        done = QWizardPage()
        done.setTitle("Done")
        lay = QVBoxLayout(done)
        self.result = _plain_label()
        lay.addWidget(self.result)
        self.addPage(done)
        self.currentIdChanged.connect(self._page_changed)
        self.finished.connect(self._finished)

    def _pick_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Provisioning file", "", "*.toml")
        if name:
            self.import_file(Path(name))

    def import_file(self, path: Path) -> bool:
        try:
            self.imported = config_module.read_provisioning(path)
        except ConfigError as exc:
            self.import_note.setText(str(exc))
            return False
        self.form.load(dict(self.imported.raw.get("sources", [{}])[0]))
        self.import_note.setText(f"Imported {path.name}: add your token on the next page.")
        return True

    def _page_changed(self, page: int) -> None:
        if page == 1 and self.imported is None:
            self.form.load({"kind": self.kind.currentData()})
        if page == 2:
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
            return f"Not saved yet — go Back and fix: {exc.key}: {exc.message}"
        except (OSError, secret_store.SecretUnavailable) as exc:
            self.config = None
            return f"Not saved: {exc}"
        return f"Saved to {self.path}. Ticketbell now sits in your system tray."

    def _finished(self, result: int) -> None:
        ok = result == QDialog.DialogCode.Accepted and self.config is not None
        self.finished_with.emit(self.config if ok else None)
